"""Simulated Chroma 63200A electronic load over SCPI, backed by the plant's load model.

The load sits on the plant's DC bus (pack behind its contactor, supply alongside), so what it
draws moves the bus and pack voltages. Levels beyond the present range or the ratings queue -222
"Data out of range" and are not applied, as on the instrument. `LOAD ON` while a protection is
latched queues -221 "Settings conflict" and leaves the input off (the real unit refuses too; the
error code is our choice). Queries answer plain floats and `MODE?` answers e.g. `CCH`.
"""

from __future__ import annotations

from typing import Any

from instruments.sim.scpi_server import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
    parse_bool,
    parse_number,
    serve_instrument,
)

_MODES = ("CC", "CV", "CP", "CR")


def _f(value: float) -> str:
    return f"{value:.6g}"


class SimChroma63200A(ScpiInstrument):
    def __init__(self, load: Any, *, serial: str = "632060000001", model: str = "63206A-80-240",
                 firmware: str = "1.20", lock: Any = None, faults: list[Any] | None = None) -> None:
        super().__init__(lock, faults)
        self.ld = load
        self.idn = f"CHROMA,{model},{serial},{firmware}"
        self.level2 = {"CC": 0.0, "CV": 0.0, "CP": 0.0, "CR": 0.0}  # L2 levels: stored, not used statically
        c = self.command

        def arg(a: list[str]) -> str:
            if not a:
                raise ScpiError(*MISSING_PARAMETER)
            return a[0]

        def apply(fn: Any, *args: Any) -> None:
            try:
                fn(*args)
            except ValueError:  # SimRangeError and friends from the plant
                raise ScpiError(*DATA_OUT_OF_RANGE) from None

        def level(mode: str) -> Any:
            return lambda a: apply(self.ld.set_level, mode, parse_number(arg(a)))

        def level2(mode: str) -> Any:
            def h(a: list[str]) -> None:
                self.level2[mode] = parse_number(arg(a), minimum=0.0)
            return h

        c("MODE", lambda a: self._mode(arg(a)))
        c("MODE?", lambda a: "".join(self.ld.get_mode()))
        c("LOAD[:STATe]", lambda a: self._load(parse_bool(arg(a))))
        c("LOAD[:STATe]?", lambda a: "1" if self.ld.get_input() else "0")
        c("LOAD:SHORt[:STATe]", lambda a: self.ld.set_short(parse_bool(arg(a))))
        c("LOAD:SHORt[:STATe]?", lambda a: "1" if self.ld.get_short() else "0")
        c("LOAD:PROTection:CLEar", lambda a: self.ld.clear_protection())
        for mode, node in (("CC", "CURRent"), ("CV", "VOLTage"), ("CP", "POWer"), ("CR", "RESistance")):
            c(f"[SOURce:]{node}:STATic:L1", level(mode))
            c(f"[SOURce:]{node}:STATic:L1?", (lambda m: lambda a: _f(self.ld.get_level(m)))(mode))
            c(f"[SOURce:]{node}:STATic:L2", level2(mode))
            c(f"[SOURce:]{node}:STATic:L2?", (lambda m: lambda a: _f(self.level2[m]))(mode))
        c("[SOURce:]VOLTage:STATic:ILIMit", lambda a: apply(self.ld.set_cv_current_limit, parse_number(arg(a))))
        c("[SOURce:]VOLTage:STATic:ILIMit?", lambda a: _f(self.ld.get_cv_current_limit()))
        for verb in ("MEASure", "FETCh"):
            c(f"{verb}:VOLTage?", lambda a: _f(self.ld.measure_voltage_V()))
            c(f"{verb}:CURRent?", lambda a: _f(self.ld.measure_current_A()))
            c(f"{verb}:POWer?", lambda a: _f(self.ld.measure_power_W()))
        c("STATus:CHANnel:CONDition?", lambda a: str(self.ld.protection_status()))

    def _mode(self, word: str) -> None:
        w = word.strip().upper()
        if len(w) != 3 or w[:2] not in _MODES or w[2] not in "LMH":
            raise ScpiError(*ILLEGAL_PARAMETER)
        try:
            self.ld.set_mode(w[:2], w[2])
        except ValueError:
            raise ScpiError(*ILLEGAL_PARAMETER) from None

    def _load(self, on: bool) -> None:
        if on and self.ld.protection_status():
            raise ScpiError(*SETTINGS_CONFLICT)
        self.ld.set_input(on)

    def reset(self) -> None:
        self.ld.reset()


def serve(plant: Any, role: Any, clock: Any) -> ScpiTcpServer:
    """Start the simulated 63200A for a station role; returns the running server (has .resource)."""
    return serve_instrument(SimChroma63200A, plant.load, plant, role, clock, serial="632060000001",
                            model="63206A-80-240", firmware="1.20")
