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

from typing import Any

from instruments.sim.scpi_server import (
    DATA_OUT_OF_RANGE,
    EXECUTION_ERROR,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
    parse_bool,
    parse_number,
    serve_instrument,
)

OVER_RANGE_MOHM = "9999"
UNDER_RANGE_MOHM = "0.0"


def _nr3(value: float) -> str:
    return f"{value:.2E}"


class SimInsulationTester(ScpiInstrument):
    error_query_patterns = ("SYSTem:ERRor[:NEXT]?", "ERRor?")

    def __init__(self, irt: Any, *, serial: str = "0", model: str = "TOS9213S", firmware: str = "1.00",
                 lock: Any = None, faults: list[Any] | None = None) -> None:
        super().__init__(lock, faults)
        self.t = irt
        self.idn = f"KIKUSUI ELECTRONICS CORP.,{model},{serial},{firmware}"
        self.timer_on = True
        self.timer_s = irt.dwell_s
        c = self.command

        def arg(a: list[str], n: int = 0) -> str:
            if len(a) <= n:
                raise ScpiError(*MISSING_PARAMETER)
            return a[n]

        def apply(fn: Any, *args: Any) -> None:
            if self.t.state == "TEST":
                raise ScpiError(*EXECUTION_ERROR)  # settings are locked while the output is on
            try:
                fn(*args)
            except ValueError:
                raise ScpiError(*DATA_OUT_OF_RANGE) from None

        def on_off(a: list[str]) -> bool:
            return parse_bool(a[1]) if len(a) > 1 else True

        c("Ir:TEStv", lambda a: apply(self.t.set_test_voltage, parse_number(arg(a))))
        c("Ir:TEStv?", lambda a: _nr3(self.t.test_voltage_V))
        c("Ir:LOWer", lambda a: apply(self.t.set_lower_limit, parse_number(arg(a)), on_off(a)))
        c("Ir:LOWer?", lambda a: f"{_nr3(self.t.lower_limit_ohm)},{int(self.t.lower_enabled)}")
        c("Ir:UPPer", lambda a: apply(self.t.set_upper_limit, parse_number(arg(a)), on_off(a)))
        c("Ir:UPPer?", lambda a: f"{_nr3(self.t.upper_limit_ohm)},{int(self.t.upper_enabled)}")
        c("Ir:TIMer", lambda a: apply(self._timer, parse_number(arg(a)), on_off(a)))
        c("Ir:TIMer?", lambda a: f"{_nr3(self.timer_s)},{int(self.timer_on)}")
        c("Ir:RISetime", lambda a: apply(self.t.set_rise_time, parse_number(arg(a))))
        c("Ir:RISetime?", lambda a: _nr3(self.t.rise_time_s))
        c("PROTection?", lambda a: "0")
        c("STARt", lambda a: self._start())
        c("STOP", lambda a: self._stop())
        c("STATus?", lambda a: self._state())
        c("MEASure:RESistance?", lambda a: self._result())

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
    return serve_instrument(SimInsulationTester, plant.irt, plant, role, clock, serial="0", model="TOS9213S",
                            firmware="1.00")
