"""Simulated insulation-resistance tester (Kikusui TOS9213S command style) over SCPI.

Backed by the plant's tester model (`plant.irt`, instruments/sim/plant/insulation.py): the test
voltage is applied between the shorted pack terminals and chassis, against the DUT isolation
`plant.pack.dut_isolation_ohm` (lowered by the `low_insulation` fault); the test runs in the
plant's virtual time, so a 60 s dwell completes when the bench clock has advanced 60 s.

Documented TOS9213S settings: `IR:TESTV`, `IR:LOWER <ohm>,ON|OFF`, `IR:UPPER`, `IR:TIMER <s>,ON|OFF`,
`IR:RISETIME`, with their short forms (`I:TES`, `I:LOW` ...), `ERR?`, `PROT?`, `*IDN?`.
Our assumptions (no public manual text found), mirrored in the driver:
* `ERR?` answers `+0,"No error"` / `-222,"Data out of range"` (SCPI style; `SYST:ERR?` too).
* `STARt` starts a test (-200 "Execution error" while one runs), `STOP` aborts it.
* `STATus?` answers `READY` (output off), `TEST` (output on) or `DONE` (finished, output off).
* `MEASure:RESistance?` answers a Hioki 3174-style tuple `<V>,<R MΩ>,<elapsed s>,<judgement>,0`:
  `9999` MΩ = over-range, `0.0` = under-range; judgement PASS|LFAIL|UFAIL|ULFAIL|OFF (OFF while
  running or after STOP). After the test, <V> is the voltage applied at the judgement.
* `IR:TIMER <s>,OFF` runs until STOP (modelled as the 999 s maximum).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from instruments.insulation_tester import KikusuiTOS9213S as D
from instruments.sim.scpi_server import (
    EXECUTION_ERROR,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
    parse_bool,
    serve_instrument,
)

OVER_RANGE_MOHM = "9999"
UNDER_RANGE_MOHM = "0.0"


def _nr3(value: float) -> str:
    return f"{value:.2E}"


class SimInsulationTester(ScpiInstrument):
    """The settings are the driver's declarations (`KikusuiTOS9213S.TEST_VOLTAGE`, ...), served
    with their bounds evaluated against the simulated tester's ratings; a value beyond them is
    -222, a setting while the output is on -200 (settings are locked during a test)."""

    error_query_patterns = ("SYSTem:ERRor[:NEXT]?", "ERRor?")

    def __init__(
        self,
        irt: Any,
        *,
        serial: str = "0",
        model: str = "TOS9213S",
        firmware: str = "1.00",
        lock: Any = None,
        faults: list[Any] | None = None,
    ) -> None:
        super().__init__(lock, faults)
        t = self.t = irt
        self.idn = f"KIKUSUI ELECTRONICS CORP.,{model},{serial},{firmware}"
        self.timer_on = True
        self.timer_s = irt.dwell_s
        c = self.command

        def unlocked(fn: Callable[..., None]) -> Callable[..., None]:
            def apply(*args: Any) -> None:
                if t.state == "TEST":
                    raise ScpiError(*EXECUTION_ERROR)  # settings are locked while the output is on
                fn(*args)

            return apply

        def on_off(rest: tuple[str, ...]) -> bool:
            return parse_bool(rest[0]) if rest else True

        self.setting(D.TEST_VOLTAGE, unlocked(t.set_test_voltage), lambda: t.test_voltage_V, reply=_nr3)
        self.setting(
            D.LOWER_LIMIT,
            unlocked(lambda v, *rest: t.set_lower_limit(v, on_off(rest))),
            lambda: (t.lower_limit_ohm, t.lower_enabled),
            reply=lambda p: f"{_nr3(p[0])},{int(p[1])}",
            more_args=1,
        )
        self.setting(
            D.UPPER_LIMIT,
            unlocked(lambda v, *rest: t.set_upper_limit(v, on_off(rest))),
            lambda: (t.upper_limit_ohm, t.upper_enabled),
            reply=lambda p: f"{_nr3(p[0])},{int(p[1])}",
            more_args=1,
        )
        self.setting(
            D.DWELL,
            unlocked(lambda v, *rest: self._timer(v, on_off(rest))),
            lambda: (self.timer_s, self.timer_on),
            reply=lambda p: f"{_nr3(p[0])},{int(p[1])}",
            more_args=1,
        )
        self.setting(D.RISE_TIME, unlocked(t.set_rise_time), lambda: t.rise_time_s, reply=_nr3)
        c("PROTection?", lambda a: "0")
        c("STARt", lambda a: self._start())
        c("STOP", lambda a: self._stop())
        c("STATus?", lambda a: self._state())
        c("MEASure:RESistance?", lambda a: self._result())

    def ratings(self) -> Mapping[str, float]:
        return {
            "min_test_voltage": self.t.v_min_V,
            "max_test_voltage": self.t.v_max_V,
            "max_resistance": self.t.r_max_ohm,
        }

    def _timer(self, seconds: float, on: bool) -> None:
        self.t.set_dwell(seconds)  # range check, even when the timer is switched off
        self.t.set_dwell(seconds if on else 999.0)
        self.timer_s, self.timer_on = seconds, on

    def _start(self) -> None:
        if self.t.state == "TEST":
            raise ScpiError(*EXECUTION_ERROR)
        self.t.start()

    def _stop(self) -> None:
        self.t.stop()

    def _state(self) -> str:
        return str(self.t.state)

    def _result(self) -> str:
        v, r, elapsed, judgement = self.t.result()
        if self.t.state == "DONE":
            # the plant model zeroes its output at the judgement; the voltage applied then follows
            # from its compliance limit (full test voltage unless the leakage exceeds the limit)
            v = min(self.t.test_voltage_V, self.t.i_limit_A * r)
        if self.t.over_range:
            r_text = OVER_RANGE_MOHM
        elif self.t.under_range:
            r_text = UNDER_RANGE_MOHM
        else:
            r_text = f"{r / 1e6:.4g}"
        return f"{v:.0f},{r_text},{elapsed:.1f},{judgement},0"

    def reset(self) -> None:
        self.t.stop()


def serve(plant: Any, role: Any, clock: Any) -> ScpiTcpServer:
    """Start the simulated tester for a station role; returns the running server (has .resource)."""
    return serve_instrument(
        SimInsulationTester, plant.irt, plant, role, clock, serial="0", model="TOS9213S", firmware="1.00"
    )
