"""Chroma 63200A-series high-power DC electronic load over SCPI.

Command tree as in the public Chroma 632xx/636xx drivers: `MODE CCH` (mode + current range
L/M/H), static levels `CURR:STAT:L1`, `VOLT:STAT:L1`, `POW:STAT:L1`, `RES:STAT:L1`, the CV current
limit `VOLT:STAT:ILIM`, `LOAD ON|OFF`, `LOAD:SHOR`, `MEAS:VOLT?/CURR?/POW?`, `STAT:CHAN:COND?`
and `LOAD:PROT:CLE`. `CV` as a mode letter is not in the public driver [unverified], and the
error queue is read with `SYST:ERR?` in the Keysight format; both are assumptions to confirm
against the unit's manual.

Every setting is declared once below, with bounds from the ratings given in the station file
(mode, range, rated voltage/current/power, CR span); the driver checks a value before anything
is sent, so an out-of-rating value never reaches the instrument, and follows every setting with
an error-queue read, so a refusal raises at once with the instrument's own error text. The
simulator (instruments/sim/scpi_chroma63200a.py) serves the same declarations.
"""

from __future__ import annotations

import pint

from bench.units import Q_
from instruments.capabilities import ElectronicLoad
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.scpi_driver import Choice, Rating, ScpiDriver, ScpiPowerReadings, Setting, Switch, rating

# STAT:CHAN:COND? bits (63600 manual layout; the simulated plant uses the same).
COND_BITS = {
    1: "OTP",
    2: "OVP",
    4: "OCP",
    8: "OPP",
    16: "REV",
    32: "SYNC",
    64: "MAX_LIMIT",
    128: "FAN",
    256: "REMOTE_INHIBIT",
}
RANGES = ("L", "M", "H")
_SRC = "[SOURce:]"


class Chroma63200A(ScpiDriver, ScpiPowerReadings, ElectronicLoad):
    """One channel of a Chroma 63200A load (e.g. 63206A-80-240: 80 V, 240 A, 6 kW)."""

    SIMULATOR = "instruments.sim.scpi_chroma63200a:serve"

    # -- the settings, declared once (the simulator serves the same) -------------------------
    MODE = Choice("MODE", "mode", tuple(m + r for m in ElectronicLoad.MODES for r in RANGES))
    INPUT = Switch("LOAD[:STATe]", "input")
    SHORT = Switch("LOAD:SHORt[:STATe]", "short")
    CC_LEVEL = Setting(f"{_SRC}CURRent:STATic:L1", "A", "CC level", low=0, high=Rating("range_current"))
    CV_LEVEL = Setting(f"{_SRC}VOLTage:STATic:L1", "V", "CV level", low=0, high=Rating("voltage"))
    CP_LEVEL = Setting(f"{_SRC}POWer:STATic:L1", "W", "CP level", low=0, high=Rating("power"))
    CR_LEVEL = Setting(f"{_SRC}RESistance:STATic:L1", "ohm", "CR level", low=Rating("cr_min"), high=Rating("cr_max"))
    CV_CURRENT_LIMIT = Setting(f"{_SRC}VOLTage:STATic:ILIMit", "A", "CV current limit", low=0, high=Rating("current"))
    LEVEL = {"CC": CC_LEVEL, "CV": CV_LEVEL, "CP": CP_LEVEL, "CR": CR_LEVEL}  # static level L1 of each mode

    def __init__(
        self,
        resource: str,
        *,
        name: str = "load",
        timeout: pint.Quantity = Q_(2, "s"),
        rated_voltage: str = "80 V",
        rated_current: str = "240 A",
        rated_power: str = "6 kW",
        range_low: str = "2.4 A",
        range_mid: str = "24 A",
        range_high: str | None = None,
        cr_min: str = "2 mohm",
        cr_max: str = "10 kohm",
        visa_library: str = "@py",
    ) -> None:
        super().__init__(name)
        self.rated_voltage = Q_(rated_voltage)
        self.rated_current = Q_(rated_current)
        self.rated_power = Q_(rated_power)
        self.ranges = {
            "L": Q_(range_low),
            "M": Q_(range_mid),
            "H": Q_(range_high) if range_high else self.rated_current,
        }
        self.cr_span = (Q_(cr_min), Q_(cr_max))
        self._ranges_A = {k: rating(v, "A", f"range {k}", name) for k, v in self.ranges.items()}
        self.ratings = {
            "voltage": rating(rated_voltage, "V", "rated_voltage", name),
            "current": rating(rated_current, "A", "rated_current", name),
            "power": rating(rated_power, "W", "rated_power", name),
            "cr_min": rating(cr_min, "ohm", "cr_min", name),
            "cr_max": rating(cr_max, "ohm", "cr_max", name),
        }
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
        self.write_choice(self.MODE, m + r)
        self._mode = (m, r)

    def mode(self) -> tuple[str, str]:
        """(mode, range) as the load reports it, e.g. ('CC', 'H')."""
        word = self.read_choice(self.MODE)
        self._mode = (word[:2], word[2])
        return self._mode

    def range_limit(self, range: str | None = None) -> pint.Quantity:
        """Maximum current of a range (of the present one when None)."""
        r = range or (self._mode or self.mode())[1]
        return self.ranges[r]

    def set_level(self, value: pint.Quantity) -> None:
        """Static level L1 of the present mode: A for CC, V for CV, W for CP, Ω for CR."""
        mode, rng = self._mode or self.mode()
        self.write_setting(
            self.LEVEL[mode],
            value,
            what=f"CC level (range {rng})" if mode == "CC" else None,
            ratings={**self.ratings, "range_current": self._ranges_A[rng]},
        )

    def level(self, mode: str | None = None) -> pint.Quantity:
        """Static level L1 of a mode (of the present one when None) as the load holds it."""
        m = (mode or (self._mode or self.mode())[0]).upper()
        if m not in self.LEVEL:
            raise InstrumentRangeError(self.name, f"mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        return self.read_setting(self.LEVEL[m])

    set_cv_current_limit = CV_CURRENT_LIMIT.setter(
        "Current the load may draw in CV to hold its voltage (`VOLT:STAT:ILIM`, 0 .. rated current)."
    )
    set_input = INPUT.setter("`LOAD ON|OFF`; the load refuses ON (error queue) while a protection is latched.")
    input = INPUT.getter("Whether the input is on (`LOAD?`).")
    set_short = SHORT.setter("Short the input (draws the range maximum); only meaningful with the input on.")
    short = SHORT.getter("Whether the input is shorted (`LOAD:SHOR?`).")

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
