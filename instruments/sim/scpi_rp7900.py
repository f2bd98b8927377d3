"""Simulated Keysight RP7900 over SCPI: the command tree of the real supply, backed by the plant.

The settings are the driver's own declarations (`KeysightRP7900.VOLTAGE`, ...), served with the
bounds evaluated against the simulated model's ratings: a value beyond them queues -222 "Data
out of range" and is not applied, as on the instrument. Replies use NR3 formatting like the
real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instruments.keysight_rp7900 import KeysightRP7900 as D
from instruments.sim.scpi_server import ScpiInstrument, nr3, serve_instrument


class SimRP7900(ScpiInstrument):
    def __init__(
        self,
        supply: Any,
        *,
        serial: str = "MY00000001",
        model: str = "RP7952A",
        firmware: str = "B.01.07",
        lock: Any = None,
        faults: list[Any] | None = None,
    ) -> None:
        super().__init__(lock, faults)
        s = self.s = supply
        self.idn = f"Keysight Technologies,{model},{serial},{firmware}"
        c = self.command

        self.switch(D.OUTPUT, s.set_output, s.get_output)
        c("OUTPut:PROTection:CLEar", lambda a: s.clear_protection())
        self.choice(D.PRIORITY, s.set_priority, s.get_priority)
        self.setting(D.VOLTAGE, s.set_voltage, s.get_voltage)
        self.setting(D.CURRENT, s.set_current, s.get_current)
        self.setting(D.CURRENT_LIMIT, s.set_current_limit_pos, s.get_current_limit_pos)
        self.setting(D.CURRENT_LIMIT_NEG, s.set_current_limit_neg, s.get_current_limit_neg)
        self.setting(D.VOLTAGE_LIMIT, s.set_voltage_limit_pos, s.get_voltage_limit_pos)
        self.setting(D.VOLTAGE_LIMIT_LOW, s.set_voltage_limit_low, s.get_voltage_limit_low)
        self.setting(D.OVP, s.set_ovp, s.get_ovp)
        self.setting(D.UVP_LEVEL, lambda v: self._uvp(level=v), lambda: s.get_uvp()[0])
        self.setting(D.UVP_DELAY, lambda v: self._uvp(delay=v), lambda: s.get_uvp()[1])
        self.switch(D.UVP_STATE, lambda on: self._uvp(enabled=on), lambda: s.get_uvp()[2])
        self.setting(D.OCP_DELAY, s.set_ocp_delay, lambda: s.ocp_delay_s)
        self.switch(D.OCP_STATE, s.set_ocp_enabled, s.get_ocp_enabled)
        self.setting(D.POWER_LIMIT, s.set_power_limit, s.get_power_limit)
        for verb in ("MEASure", "FETCh"):
            c(f"{verb}[:SCALar]:VOLTage[:DC]?", lambda a: nr3(s.measure_voltage_V()))
            c(f"{verb}[:SCALar]:CURRent[:DC]?", lambda a: nr3(s.measure_current_A()))
            c(f"{verb}[:SCALar]:POWer[:DC]?", lambda a: nr3(s.measure_power_W()))
        c("STATus:OPERation:CONDition?", lambda a: str(s.status_operation()))
        c("STATus:QUEStionable[:EVENt]?", lambda a: str(s.status_questionable()))
        c("STATus:QUEStionable:CONDition?", lambda a: str(s.status_questionable()))
        c("STATus:QUEStionable2:CONDition?", lambda a: str(s.status_questionable2()))

    def ratings(self) -> Mapping[str, float]:
        return {"voltage": self.s.rated_voltage_V, "current": self.s.rated_current_A, "power": self.s.rated_power_W}

    def _uvp(self, level: float | None = None, delay: float | None = None, enabled: bool | None = None) -> None:
        cur_level, cur_delay, cur_enabled = self.s.get_uvp()
        self.s.set_uvp(
            cur_level if level is None else level,
            cur_delay if delay is None else delay,
            cur_enabled if enabled is None else enabled,
        )

    def reset(self) -> None:
        self.s.set_output(False)


def serve(plant: Any, role: Any, clock: Any) -> Any:
    """Start the simulated RP7900 for a station role; returns the running server (has .resource)."""
    return serve_instrument(
        SimRP7900, plant.supply, plant, role, clock, serial="MY00000001", model="RP7952A", firmware="B.01.07"
    )
