"""Chroma 63200A-series high-power DC electronic load over SCPI.

Command tree as in the public Chroma 632xx/636xx drivers: `MODE CCH` (mode + current range
L/M/H), static levels `CURR:STAT:L1`, `VOLT:STAT:L1`, `POW:STAT:L1`, `RES:STAT:L1`, the CV current
limit `VOLT:STAT:ILIM`, `LOAD ON|OFF`, `LOAD:SHOR`, `MEAS:VOLT?/CURR?/POW?`, `STAT:CHAN:COND?`
and `LOAD:PROT:CLE`. `CV` as a mode letter is not in the public driver [unverified], and the
error queue is read with `SYST:ERR?` in the Keysight format; both are assumptions to confirm
against the unit's manual.

Every setpoint is checked against the ratings given in the station file (mode, range, rated
voltage/current/power, CR span) before anything is sent, so an out-of-rating value never
reaches the instrument; every setting is followed by an error-queue read, so a refusal raises
at once with the instrument's own error text.
"""

from __future__ import annotations

from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import ElectronicLoad
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.scpi_driver import ScpiDriver, ScpiPowerReadings, magnitude

# STAT:CHAN:COND? bits (63600 manual layout; the simulated plant uses the same).
COND_BITS = {1: "OTP", 2: "OVP", 4: "OCP", 8: "OPP", 16: "REV", 32: "SYNC", 64: "MAX_LIMIT", 128: "FAN",
             256: "REMOTE_INHIBIT"}
RANGES = ("L", "M", "H")
_UNITS = {"CC": "A", "CV": "V", "CP": "W", "CR": "ohm"}
_LEVEL_CMD = {"CC": "CURR:STAT:L1", "CV": "VOLT:STAT:L1", "CP": "POW:STAT:L1", "CR": "RES:STAT:L1"}



class Chroma63200A(ScpiDriver, ScpiPowerReadings, ElectronicLoad):
    """One channel of a Chroma 63200A load (e.g. 63206A-80-240: 80 V, 240 A, 6 kW)."""

    SIMULATOR = "instruments.sim.scpi_chroma63200a:serve"

    def __init__(self, resource: str, *, name: str = "load", timeout: pint.Quantity = Q_(2, "s"),
                 rated_voltage: str = "80 V", rated_current: str = "240 A", rated_power: str = "6 kW",
                 range_low: str = "2.4 A", range_mid: str = "24 A", range_high: str | None = None,
                 cr_min: str = "2 mohm", cr_max: str = "10 kohm", visa_library: str = "@py",
                 sim: dict[str, Any] | None = None) -> None:
        """`sim` is a table of simulator settings; the driver ignores it."""
        super().__init__(name)
        self.rated_voltage = Q_(rated_voltage)
        self.rated_current = Q_(rated_current)
        self.rated_power = Q_(rated_power)
        self.ranges = {"L": Q_(range_low), "M": Q_(range_mid),
                       "H": Q_(range_high) if range_high else self.rated_current}
        self.cr_span = (Q_(cr_min), Q_(cr_max))
        self._ranges_A = {k: magnitude(v, "A", f"range {k}", name) for k, v in self.ranges.items()}
        self._vmax = magnitude(self.rated_voltage, "V", "rated voltage", name)
        self._imax = magnitude(self.rated_current, "A", "rated current", name)
        self._pmax = magnitude(self.rated_power, "W", "rated power", name)
        self._rspan = (magnitude(self.cr_span[0], "ohm", "CR minimum", name), magnitude(self.cr_span[1], "ohm", "CR maximum", name))
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library)
        self._mode: tuple[str, str] | None = None  # cached (mode, range); read from the load when unknown

    # -- identity / lifecycle ----------------------------------------------------------------
    def safe_state(self) -> str:
        """Input off (and short released), confirmed by `LOAD?` read-back."""
        self.conn.write("LOAD OFF")
        self.conn.write("LOAD:SHOR OFF")
        reply = self.conn.query("LOAD?")
        if reply.strip().upper() not in ("0", "OFF"):
            raise InstrumentError(self.name, "input still on after LOAD OFF", command="LOAD?", reply=reply)
        return "load input off, short released (confirmed LOAD? = 0)"

    # -- settings ----------------------------------------------------------------------------
    def _check(self, value: float, low: float, high: float, what: str, unit: str) -> None:
        if not low <= value <= high:
            raise InstrumentRangeError(self.name, f"{what} {value:g} {unit} outside {low:g}..{high:g} {unit}")

    def set_mode(self, mode: str, range: str | None = None) -> None:
        """Mode CC/CV/CP/CR and current range L/M/H (default H); 'CCH' style is accepted too."""
        m = mode.strip().upper()
        if len(m) == 3 and m[2] in RANGES and range is None:
            m, range = m[:2], m[2]
        r = (range or "H").strip().upper()
        if m not in self.MODES:
            raise InstrumentRangeError(self.name, f"mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        if r not in RANGES:
            raise InstrumentRangeError(self.name, f"range must be L, M or H, got {range!r}")
        self._mode = None
        self.conn.write_checked(f"MODE {m}{r}")
        self._mode = (m, r)

    def mode(self) -> tuple[str, str]:
        """(mode, range) as the load reports it, e.g. ('CC', 'H')."""
        reply = self.conn.query("MODE?").upper()
        m, r = reply[:2], reply[2:3]
        if m not in self.MODES or r not in RANGES:
            raise InstrumentError(self.name, "unexpected mode reply", command="MODE?", reply=reply)
        self._mode = (m, r)
        return self._mode

    def range_limit(self, range: str | None = None) -> pint.Quantity:
        """Maximum current of a range (of the present one when None)."""
        r = range or (self._mode or self.mode())[1]
        return self.ranges[r]

    def set_level(self, value: pint.Quantity) -> None:
        """Static level L1 of the present mode: A for CC, V for CV, W for CP, Ω for CR."""
        mode, rng = self._mode or self.mode()
        unit = _UNITS[mode]
        x = magnitude(value, unit, f"{mode} level", self.name)
        if mode == "CC":
            self._check(x, 0, self._ranges_A[rng], f"CC level (range {rng})", "A")
        elif mode == "CV":
            self._check(x, 0, self._vmax, "CV level", "V")
        elif mode == "CP":
            self._check(x, 0, self._pmax, "CP level", "W")
        else:
            self._check(x, self._rspan[0], self._rspan[1], "CR level", "ohm")
        self.conn.write_checked(f"{_LEVEL_CMD[mode]} {x:.6g}")

    def level(self, mode: str | None = None) -> pint.Quantity:
        """Static level L1 of a mode (of the present one when None) as the load holds it."""
        m = (mode or (self._mode or self.mode())[0]).upper()
        if m not in _LEVEL_CMD:
            raise InstrumentRangeError(self.name, f"mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        return Q_(self.conn.query_float(f"{_LEVEL_CMD[m]}?"), _UNITS[m])

    def set_cv_current_limit(self, current: pint.Quantity) -> None:
        """Current the load may draw in CV to hold its voltage (`VOLT:STAT:ILIM`)."""
        x = magnitude(current, "A", "CV current limit", self.name)
        self._check(x, 0, self._imax, "CV current limit", "A")
        self.conn.write_checked(f"VOLT:STAT:ILIM {x:.6g}")

    def set_input(self, on: bool) -> None:
        """`LOAD ON|OFF`; the load refuses ON (error queue) while a protection is latched."""
        self.conn.write_checked(f"LOAD {'ON' if on else 'OFF'}")

    def input(self) -> bool:
        return self.conn.query_bool("LOAD?")

    def set_short(self, on: bool) -> None:
        """Short the input (draws the range maximum); only meaningful with the input on."""
        self.conn.write_checked(f"LOAD:SHOR {'ON' if on else 'OFF'}")

    def short(self) -> bool:
        return self.conn.query_bool("LOAD:SHOR?")

    def clear_protection(self) -> None:
        """Clear latched protections; the input stays off until switched on again."""
        self.conn.write_checked("LOAD:PROT:CLE")

    # -- readings ----------------------------------------------------------------------------
    def protection_status(self) -> list[str]:
        """Latched protections decoded from `STAT:CHAN:COND?`, e.g. ['OPP']; [] when clear."""
        bits = self.conn.query_int("STAT:CHAN:COND?")
        names = [name for bit, name in COND_BITS.items() if bits & bit]
        unknown = bits & ~sum(COND_BITS)
        if unknown:
            names.append(f"BIT{unknown:#x}")
        return names
