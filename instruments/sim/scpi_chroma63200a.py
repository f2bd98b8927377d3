"""Simulated Chroma 63200A electronic load over SCPI, backed by the plant's load model.

The load sits on the plant's DC bus (pack behind its contactor, supply alongside), so what it
draws moves the bus and pack voltages. The settings are the driver's own declarations
(`Chroma63200A.CC_LEVEL`, ...), served with their bounds evaluated against the simulated
model's ratings and present range: levels beyond them queue -222 "Data out of range" and are
not applied, as on the instrument. `LOAD ON` while a protection is latched queues -221
"Settings conflict" and leaves the input off (the real unit refuses too; the error code is our
choice). Queries answer plain floats and `MODE?` answers e.g. `CCH`. The L2 levels (used by
dynamic mode, not simulated) are stored with the same bounds as L1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from instruments.chroma_63200a import Chroma63200A as D
from instruments.sim.scpi_server import (
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
    serve_instrument,
)


def _f(value: float) -> str:
    return f"{value:.6g}"


class SimChroma63200A(ScpiInstrument):
    def __init__(
        self,
        load: Any,
        *,
        serial: str = "632060000001",
        model: str = "63206A-80-240",
        firmware: str = "1.20",
        lock: Any = None,
        faults: list[Any] | None = None,
    ) -> None:
        super().__init__(lock, faults)
        ld = self.ld = load
        self.idn = f"CHROMA,{model},{serial},{firmware}"
        self.level2 = {"CC": 0.0, "CV": 0.0, "CP": 0.0, "CR": 0.0}  # L2 levels: stored, not used statically
        c = self.command

        self.choice(D.MODE, lambda w: ld.set_mode(w[:2], w[2]), lambda: "".join(ld.get_mode()))
        self.switch(D.INPUT, self._load, ld.get_input)
        self.switch(D.SHORT, ld.set_short, ld.get_short)
        c("LOAD:PROTection:CLEar", lambda a: ld.clear_protection())
        for mode, decl in D.LEVEL.items():
            self.setting(
                decl,
                (lambda m: lambda v: ld.set_level(m, v))(mode),
                (lambda m: lambda: ld.get_level(m))(mode),
                reply=_f,
            )
            l2 = dataclasses.replace(decl, header=decl.header.replace(":L1", ":L2"))
            self.setting(
                l2,
                (lambda m: lambda v: self.level2.__setitem__(m, v))(mode),
                (lambda m: lambda: self.level2[m])(mode),
                reply=_f,
            )
        self.setting(D.CV_CURRENT_LIMIT, ld.set_cv_current_limit, ld.get_cv_current_limit, reply=_f)
        for verb in ("MEASure", "FETCh"):
            c(f"{verb}:VOLTage?", lambda a: _f(ld.measure_voltage_V()))
            c(f"{verb}:CURRent?", lambda a: _f(ld.measure_current_A()))
            c(f"{verb}:POWer?", lambda a: _f(ld.measure_power_W()))
        c("STATus:CHANnel:CONDition?", lambda a: str(ld.protection_status()))

    def ratings(self) -> Mapping[str, float]:
        ld = self.ld
        return {
            "voltage": ld.rated_voltage_V,
            "current": ld.rated_current_A,
            "power": ld.rated_power_W,
            "cr_min": ld.cr_min_ohm,
            "cr_max": ld.cr_max_ohm,
            "range_current": ld.ranges_A[ld.range],
        }

    def _load(self, on: bool) -> None:
        if on and self.ld.protection_status():
            raise ScpiError(*SETTINGS_CONFLICT)
        self.ld.set_input(on)

    def reset(self) -> None:
        self.ld.reset()


def serve(plant: Any, role: Any, clock: Any) -> ScpiTcpServer:
    """Start the simulated 63200A for a station role; returns the running server (has .resource)."""
    return serve_instrument(
        SimChroma63200A, plant.load, plant, role, clock, serial="632060000001", model="63206A-80-240", firmware="1.20"
    )
