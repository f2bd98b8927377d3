"""Keysight RP7900-series regenerative (bidirectional) DC power supply over SCPI.

Command tree shared with the N6900/N7900 APS family (RP7900 Operating and Service Guide).
Every setting is followed by an error-queue read, so a refused value raises at once with the
instrument's own error text. Setpoints are range-checked against the model's ratings before
they are sent; nothing is written that was not asked for. The negative current limit
(`CURR:LIM:NEG`) is always a negative number, as the instrument requires.
"""

from __future__ import annotations

import pint

from bench.units import Q_
from instruments.capabilities import PowerSupply
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.scpi_driver import ScpiDriver, ScpiPowerReadings, magnitude

QUES_BITS = {1: "OV", 2: "OC", 4: "PF", 8: "CP+", 16: "OT", 32: "CP-", 64: "OV-", 128: "LIM+", 256: "LIM-",
             512: "INH", 1024: "UNR", 2048: "PROT", 4096: "EDP"}
OPER_BITS = {1: "CV", 2: "CC", 4: "OFF"}



class KeysightRP7900(ScpiDriver, ScpiPowerReadings, PowerSupply):
    bidirectional = True
    SIMULATOR = "instruments.sim.scpi_rp7900:serve"

    def __init__(self, resource: str, *, name: str = "psu", timeout: pint.Quantity = Q_(2, "s"),
                 rated_voltage: str = "80 V", rated_current: str = "200 A", rated_power: str = "12 kW",
                 visa_library: str = "@py") -> None:
        super().__init__(name)
        self.rated_voltage = Q_(rated_voltage)
        self.rated_current = Q_(rated_current)
        self.rated_power = Q_(rated_power)
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library)

    # -- identity / lifecycle ----------------------------------------------------------------
    def safe_state(self) -> str:
        self.conn.write("OUTP OFF")
        if self.output():
            raise InstrumentError(self.name, "output still on after OUTP OFF", command="OUTP?", reply="1")
        return "output off (confirmed OUTP? = 0)"

    # -- settings ----------------------------------------------------------------------------
    def _check_range(self, value: float, low: float, high: float, what: str, unit: str) -> None:
        if not low <= value <= high:
            raise InstrumentRangeError(self.name, f"{what} {value:g} {unit} outside {low:g}..{high:g} {unit}")

    def set_output(self, on: bool) -> None:
        self.conn.write_checked(f"OUTP {'ON' if on else 'OFF'}")

    def output(self) -> bool:
        return self.conn.query_bool("OUTP?")

    def set_priority(self, mode: str) -> None:
        """'VOLT' (CV with current limits) or 'CURR' (CC with voltage limits)."""
        mode = mode.upper()
        if mode not in ("VOLT", "CURR"):
            raise InstrumentRangeError(self.name, f"priority must be VOLT or CURR, got {mode!r}")
        self.conn.write_checked(f"FUNC {mode}")

    def priority(self) -> str:
        return self.conn.query("FUNC?").upper()

    def set_voltage(self, v: pint.Quantity) -> None:
        x = magnitude(v, "V", "voltage", self.name)
        self._check_range(x, 0, self.rated_voltage.to("V").magnitude, "voltage", "V")
        self.conn.write_checked(f"VOLT {x:.6g}")

    def set_current(self, i: pint.Quantity) -> None:
        """Current setpoint in current priority; negative sinks."""
        x = magnitude(i, "A", "current", self.name)
        r = self.rated_current.to("A").magnitude
        self._check_range(x, -r, r, "current", "A")
        self.conn.write_checked(f"CURR {x:.6g}")

    def set_current_limit(self, positive: pint.Quantity, negative: pint.Quantity | None = None) -> None:
        r = self.rated_current.to("A").magnitude
        pos = magnitude(positive, "A", "positive current limit", self.name)
        self._check_range(pos, 0, r, "positive current limit", "A")
        self.conn.write_checked(f"CURR:LIM {pos:.6g}")
        if negative is not None:
            neg = magnitude(negative, "A", "negative current limit", self.name)
            if neg > 0:
                raise InstrumentRangeError(self.name, f"negative current limit must be <= 0 A, got {neg:g} A")
            self._check_range(neg, -r, 0, "negative current limit", "A")
            self.conn.write_checked(f"CURR:LIM:NEG {neg:.6g}")

    def set_voltage_limits(self, high: pint.Quantity, low: pint.Quantity | None = None) -> None:
        """Voltage limits in current priority."""
        hi = magnitude(high, "V", "voltage limit", self.name)
        self._check_range(hi, 0, self.rated_voltage.to("V").magnitude, "voltage limit", "V")
        self.conn.write_checked(f"VOLT:LIM {hi:.6g}")
        if low is not None:
            lo = magnitude(low, "V", "low voltage limit", self.name)
            self._check_range(lo, 0, hi, "low voltage limit", "V")
            self.conn.write_checked(f"VOLT:LIM:LOW {lo:.6g}")

    def set_ovp(self, v: pint.Quantity) -> None:
        x = magnitude(v, "V", "OVP level", self.name)
        self._check_range(x, 0, 1.1 * self.rated_voltage.to("V").magnitude, "OVP level", "V")
        self.conn.write_checked(f"VOLT:PROT {x:.6g}")

    def set_ocp(self, enabled: bool) -> None:
        self.conn.write_checked(f"CURR:PROT:STAT {'ON' if enabled else 'OFF'}")

    def set_uvp(self, v: pint.Quantity, delay: pint.Quantity, enabled: bool = True) -> None:
        x = magnitude(v, "V", "under-voltage level", self.name)
        d = magnitude(delay, "s", "under-voltage delay", self.name)
        self._check_range(d, 20.48e-6, 2611, "under-voltage delay", "s")
        self.conn.write_checked(f"VOLT:PROT:LOW {x:.6g}")
        self.conn.write_checked(f"VOLT:PROT:LOW:DEL {d:.6g}")
        self.conn.write_checked(f"VOLT:PROT:LOW:STAT {'ON' if enabled else 'OFF'}")

    def set_power_limit(self, p: pint.Quantity) -> None:
        x = magnitude(p, "W", "power limit", self.name)
        self._check_range(x, 0, self.rated_power.to("W").magnitude, "power limit", "W")
        self.conn.write_checked(f"POW:LIM {x:.6g}")

    def clear_protection(self) -> None:
        self.conn.write_checked("OUTP:PROT:CLE")

    # -- readings ----------------------------------------------------------------------------
    def voltage_setpoint(self) -> pint.Quantity:
        return Q_(self.conn.query_float("VOLT?"), "V")

    def operation_status(self) -> list[str]:
        bits = self.conn.query_int("STAT:OPER:COND?")
        return [name for bit, name in OPER_BITS.items() if bits & bit]

    def protection_tripped(self) -> list[str]:
        bits = self.conn.query_int("STAT:QUES:COND?")
        return [name for bit, name in QUES_BITS.items() if bits & bit]
