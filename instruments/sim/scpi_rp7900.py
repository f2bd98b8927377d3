"""Simulated Keysight RP7900 over SCPI: the command tree of the real supply, backed by the plant.

Settings beyond the model's ratings queue -222 "Data out of range" and are not applied, as on
the instrument. Replies use NR3 formatting like the real one.
"""

from __future__ import annotations

from typing import Any

from instruments.sim.scpi_server import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
    nr3,
    parse_bool,
    parse_number,
    serve_instrument,
)


class SimRP7900(ScpiInstrument):
    def __init__(self, supply: Any, *, serial: str = "MY00000001", model: str = "RP7952A",
                 firmware: str = "B.01.07", lock: Any = None, faults: list[Any] | None = None) -> None:
        super().__init__(lock, faults)
        self.s = supply
        self.idn = f"Keysight Technologies,{model},{serial},{firmware}"
        vmax, imax, pmax = supply.rated_voltage_V, supply.rated_current_A, supply.rated_power_W
        c = self.command

        def arg(a: list[str]) -> str:
            if not a:
                raise ScpiError(*MISSING_PARAMETER)
            return a[0]

        def setter(fn: Any, lo: float, hi: float) -> Any:
            def h(a: list[str]) -> None:
                value = parse_number(arg(a), minimum=lo, maximum=hi)
                try:
                    fn(value)
                except ValueError:
                    raise ScpiError(*DATA_OUT_OF_RANGE) from None
            return h

        c("OUTPut[:STATe]", lambda a: self.s.set_output(parse_bool(arg(a))))
        c("OUTPut[:STATe]?", lambda a: "1" if self.s.get_output() else "0")
        c("OUTPut:PROTection:CLEar", lambda a: self.s.clear_protection())
        c("[SOURce:]FUNCtion", lambda a: self._priority(arg(a)))
        c("[SOURce:]FUNCtion?", lambda a: self.s.get_priority())
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", setter(self.s.set_voltage, 0, vmax))
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", lambda a: nr3(self.s.get_voltage()))
        c("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", setter(self.s.set_current, -imax, imax))
        c("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?", lambda a: nr3(self.s.get_current()))
        c("[SOURce:]CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]", setter(self.s.set_current_limit_pos, 0, imax))
        c("[SOURce:]CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]?", lambda a: nr3(self.s.get_current_limit_pos()))
        c("[SOURce:]CURRent:LIMit:NEGative[:IMMediate][:AMPLitude]", setter(self.s.set_current_limit_neg, -imax, 0))
        c("[SOURce:]CURRent:LIMit:NEGative[:IMMediate][:AMPLitude]?", lambda a: nr3(self.s.get_current_limit_neg()))
        c("[SOURce:]VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]", setter(self.s.set_voltage_limit_pos, 0, vmax))
        c("[SOURce:]VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]?", lambda a: nr3(self.s.get_voltage_limit_pos()))
        c("[SOURce:]VOLTage:LIMit:LOW[:IMMediate][:AMPLitude]", setter(self.s.set_voltage_limit_low, 0, vmax))
        c("[SOURce:]VOLTage:LIMit:LOW[:IMMediate][:AMPLitude]?", lambda a: nr3(self.s.get_voltage_limit_low()))
        c("[SOURce:]VOLTage:PROTection[:LEVel]", setter(self.s.set_ovp, 0, 1.1 * vmax))
        c("[SOURce:]VOLTage:PROTection[:LEVel]?", lambda a: nr3(self.s.get_ovp()))
        c("[SOURce:]VOLTage:PROTection:LOW[:LEVel]", setter(lambda v: self._uvp(level=v), 0, vmax))
        c("[SOURce:]VOLTage:PROTection:LOW:DELay", setter(lambda v: self._uvp(delay=v), 20.48e-6, 2611))
        c("[SOURce:]VOLTage:PROTection:LOW:STATe", lambda a: self._uvp(enabled=parse_bool(arg(a))))
        c("[SOURce:]VOLTage:PROTection:LOW[:LEVel]?", lambda a: nr3(self.s.get_uvp()[0]))
        c("[SOURce:]CURRent:PROTection:DELay", setter(self.s.set_ocp_delay, 0, 2611))
        c("[SOURce:]CURRent:PROTection:STATe", lambda a: self.s.set_ocp_enabled(parse_bool(arg(a))))
        c("[SOURce:]CURRent:PROTection:STATe?", lambda a: "1" if self.s.get_ocp_enabled() else "0")
        c("[SOURce:]POWer:LIMit", setter(self.s.set_power_limit, 0, pmax))
        c("[SOURce:]POWer:LIMit?", lambda a: nr3(self.s.get_power_limit()))
        for verb in ("MEASure", "FETCh"):
            c(f"{verb}[:SCALar]:VOLTage[:DC]?", lambda a: nr3(self.s.measure_voltage_V()))
            c(f"{verb}[:SCALar]:CURRent[:DC]?", lambda a: nr3(self.s.measure_current_A()))
            c(f"{verb}[:SCALar]:POWer[:DC]?", lambda a: nr3(self.s.measure_power_W()))
        c("STATus:OPERation:CONDition?", lambda a: str(self.s.status_operation()))
        c("STATus:QUEStionable[:EVENt]?", lambda a: str(self.s.status_questionable()))
        c("STATus:QUEStionable:CONDition?", lambda a: str(self.s.status_questionable()))
        c("STATus:QUEStionable2:CONDition?", lambda a: str(self.s.status_questionable2()))

    def _priority(self, word: str) -> None:
        w = word.upper()
        if w in ("VOLT", "VOLTAGE"):
            self.s.set_priority("VOLT")
        elif w in ("CURR", "CURRENT"):
            self.s.set_priority("CURR")
        else:
            raise ScpiError(*ILLEGAL_PARAMETER)

    def _uvp(self, level: float | None = None, delay: float | None = None, enabled: bool | None = None) -> None:
        cur_level, cur_delay, cur_enabled = self.s.get_uvp()
        self.s.set_uvp(cur_level if level is None else level, cur_delay if delay is None else delay,
                       cur_enabled if enabled is None else enabled)

    def reset(self) -> None:
        self.s.set_output(False)


def serve(plant: Any, role: Any, clock: Any) -> Any:
    """Start the simulated RP7900 for a station role; returns the running server (has .resource)."""
    return serve_instrument(SimRP7900, plant.supply, plant, role, clock, serial="MY00000001", model="RP7952A",
                            firmware="B.01.07")
