"""Keysight RP7900-series regenerative (bidirectional) DC power supply over SCPI.

Command tree shared with the N6900/N7900 APS family (RP7900 Operating and Service Guide).
Every setting is declared once below (header, unit, bounds from the model's ratings); the
driver checks a value against its bounds before anything is sent, follows every setting with
an error-queue read (a refused value raises at once with the instrument's own error text), and
reads the OVP level back. The simulator (instruments/sim/scpi_rp7900.py) serves the same
declarations. Nothing is written that was not asked for. The negative current limit
(`CURR:LIM:NEG`) is always a negative number, as the instrument requires.

Ratings (station options, defaults for the RP7952A): `rated_voltage`, `rated_current`,
`rated_power`.
"""

from __future__ import annotations

import pint

from bench.units import Q_
from instruments.capabilities import PowerSupply, SupplyPriority
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.scpi_driver import Choice, Rating, ScpiDriver, ScpiPowerReadings, Setting, Switch, rating

QUES_BITS = {
    1: "OV",
    2: "OC",
    4: "PF",
    8: "CP+",
    16: "OT",
    32: "CP-",
    64: "OV-",
    128: "LIM+",
    256: "LIM-",
    512: "INH",
    1024: "UNR",
    2048: "PROT",
    4096: "EDP",
}
OPER_BITS = {1: "CV", 2: "CC", 4: "OFF"}
_SRC = "[SOURce:]"
_LEVEL = "[:IMMediate][:AMPLitude]"


class KeysightRP7900(ScpiDriver, ScpiPowerReadings, PowerSupply, SupplyPriority):
    bidirectional = True
    SIMULATOR = "instruments.sim.scpi_rp7900:serve"

    # -- the settings, declared once (the simulator serves the same) -------------------------
    OUTPUT = Switch("OUTPut[:STATe]", "output")
    PRIORITY = Choice(f"{_SRC}FUNCtion", "priority", ("VOLT", "CURR"), aliases={"VOLTAGE": "VOLT", "CURRENT": "CURR"})
    VOLTAGE = Setting(f"{_SRC}VOLTage[:LEVel]{_LEVEL}", "V", "voltage", low=0, high=Rating("voltage"))
    CURRENT = Setting(
        f"{_SRC}CURRent[:LEVel]{_LEVEL}", "A", "current", low=Rating("current", -1), high=Rating("current")
    )
    CURRENT_LIMIT = Setting(
        f"{_SRC}CURRent:LIMit[:POSitive]{_LEVEL}", "A", "positive current limit", low=0, high=Rating("current")
    )
    CURRENT_LIMIT_NEG = Setting(
        f"{_SRC}CURRent:LIMit:NEGative{_LEVEL}", "A", "negative current limit", low=Rating("current", -1), high=0
    )
    VOLTAGE_LIMIT = Setting(
        f"{_SRC}VOLTage:LIMit[:POSitive]{_LEVEL}", "V", "voltage limit", low=0, high=Rating("voltage")
    )
    VOLTAGE_LIMIT_LOW = Setting(
        f"{_SRC}VOLTage:LIMit:LOW{_LEVEL}", "V", "low voltage limit", low=0, high=Rating("voltage")
    )
    OVP = Setting(
        f"{_SRC}VOLTage:PROTection[:LEVel]", "V", "OVP level", low=0, high=Rating("voltage", 1.1), readback=True
    )
    UVP_LEVEL = Setting(
        f"{_SRC}VOLTage:PROTection:LOW[:LEVel]", "V", "under-voltage level", low=0, high=Rating("voltage")
    )
    UVP_DELAY = Setting(f"{_SRC}VOLTage:PROTection:LOW:DELay", "s", "under-voltage delay", low=20.48e-6, high=2611)
    UVP_STATE = Switch(f"{_SRC}VOLTage:PROTection:LOW:STATe", "under-voltage protection")
    OCP_STATE = Switch(f"{_SRC}CURRent:PROTection:STATe", "over-current protection")
    OCP_DELAY = Setting(f"{_SRC}CURRent:PROTection:DELay", "s", "over-current protection delay", low=0, high=2611)
    POWER_LIMIT = Setting(f"{_SRC}POWer:LIMit", "W", "power limit", low=0, high=Rating("power"))

    def __init__(
        self,
        resource: str,
        *,
        name: str = "psu",
        timeout: pint.Quantity = Q_(2, "s"),
        rated_voltage: str = "80 V",
        rated_current: str = "200 A",
        rated_power: str = "12 kW",
        visa_library: str = "@py",
    ) -> None:
        super().__init__(name)
        self.rated_voltage = Q_(rated_voltage)
        self.rated_current = Q_(rated_current)
        self.rated_power = Q_(rated_power)
        self.ratings = {
            "voltage": rating(rated_voltage, "V", "rated_voltage", name),
            "current": rating(rated_current, "A", "rated_current", name),
            "power": rating(rated_power, "W", "rated_power", name),
        }
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library)

    # -- identity / lifecycle ----------------------------------------------------------------
    def safe_state(self) -> str:
        self.conn.write("OUTP OFF")
        if self.output():
            raise InstrumentError(self.name, "output still on after OUTP OFF", command="OUTP?", reply="1")
        return "output off (confirmed OUTP? = 0)"

    # -- settings ----------------------------------------------------------------------------
    set_output = OUTPUT.setter("Output on or off (`OUTP ON|OFF`, error queue checked).")
    output = OUTPUT.getter("Whether the output is on (`OUTP?`).")
    set_voltage = VOLTAGE.setter("CV setpoint in voltage priority (0 .. rated voltage).")
    voltage_setpoint = VOLTAGE.getter("The CV setpoint as the supply holds it (`VOLT?`).")
    set_current = CURRENT.setter("Current setpoint in current priority; negative sinks (± rated current).")
    set_ovp = OVP.setter("Over-voltage protection level (0 .. 1.1 x rated voltage), confirmed by read-back.")
    set_power_limit = POWER_LIMIT.setter("Power limit for both directions (0 .. rated power).")
    set_ocp_delay = OCP_DELAY.setter("Time the output may sit in current limit before OCP trips (0 .. 2611 s).")

    set_priority = PRIORITY.setter("'VOLT' (CV with current limits) or 'CURR' (CC with voltage limits).")
    priority = PRIORITY.getter("'VOLT' or 'CURR' as the supply reports it (`FUNC?`).")

    def set_current_limit(self, positive: pint.Quantity, negative: pint.Quantity | None = None) -> None:
        """Current limits in voltage priority: `positive` (0 .. rated) and, if given, the sink limit
        `negative` (-rated .. 0). Both are checked before either is sent."""
        self.check_setting(self.CURRENT_LIMIT, positive)
        if negative is not None:
            self.check_setting(self.CURRENT_LIMIT_NEG, negative)
        self.write_setting(self.CURRENT_LIMIT, positive)
        if negative is not None:
            self.write_setting(self.CURRENT_LIMIT_NEG, negative)

    def set_voltage_limits(self, high: pint.Quantity, low: pint.Quantity | None = None) -> None:
        """Voltage limits in current priority: `high` (0 .. rated) and, if given, `low` (0 .. high)."""
        hi = self.check_setting(self.VOLTAGE_LIMIT, high)
        if low is not None:
            lo = self.check_setting(self.VOLTAGE_LIMIT_LOW, low)
            if lo > hi:
                raise InstrumentRangeError(self.name, f"low voltage limit {lo:g} V above the voltage limit {hi:g} V")
        self.write_setting(self.VOLTAGE_LIMIT, high)
        if low is not None:
            self.write_setting(self.VOLTAGE_LIMIT_LOW, low)

    def set_ocp(self, enabled: bool) -> None:
        """Over-current protection on/off (`CURR:PROT:STAT`)."""
        self.write_switch(self.OCP_STATE, enabled)

    def set_uvp(self, v: pint.Quantity, delay: pint.Quantity, enabled: bool = True) -> None:
        """Under-voltage protection: level (0 .. rated voltage), delay (20.48 µs .. 2611 s), on/off.
        Level and delay are both checked before anything is sent."""
        self.check_setting(self.UVP_LEVEL, v)
        self.check_setting(self.UVP_DELAY, delay)
        self.write_setting(self.UVP_LEVEL, v)
        self.write_setting(self.UVP_DELAY, delay)
        self.write_switch(self.UVP_STATE, enabled)

    def clear_protection(self) -> None:
        self.conn.write_checked("OUTP:PROT:CLE")

    # -- readings ----------------------------------------------------------------------------
    def operation_status(self) -> list[str]:
        bits = self.conn.query_int("STAT:OPER:COND?")
        return [name for bit, name in OPER_BITS.items() if bits & bit]

    def protection_tripped(self) -> list[str]:
        bits = self.conn.query_int("STAT:QUES:COND?")
        return [name for bit, name in QUES_BITS.items() if bits & bit]
