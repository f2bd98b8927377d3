"""Insulation-resistance tester in the Kikusui TOS9213S command style, over SCPI-like text.

Documented TOS9213S commands used: `IR:TESTV <V>`, `IR:LOWER <ohm>,ON|OFF`, `IR:UPPER <ohm>,ON|OFF`,
`IR:TIMER <s>,ON`, `*IDN?`. No public manual text gave the start/stop/result commands or the
exact error-queue reply, so these are OUR ASSUMPTIONS, to be confirmed against the manual of the
unit on the bench (and adapted here, in one place):
* ASSUMED `ERR?` replies `+0,"No error"` or `<code>,"<text>"` (SCPI style), read after every setting.
* ASSUMED `STAR` starts a test, `STOP` aborts it and switches the output off.
* ASSUMED `STAT?` replies `READY` (output off), `TEST` (output on) or `DONE` (finished, output off).
* ASSUMED `MEAS:RES?` replies a Hioki 3174-style tuple `<V>,<R MΩ>,<elapsed s>,<judgement>,<timer>`
  with judgement PASS|LFAIL|UFAIL|ULFAIL|OFF, `9999` MΩ = over-range, `0.0` = under-range.

Drivers do not know the bench clock, so `run_test(wait=...)` takes the waiting function from the
plan: the plan passes `lambda s: clock.sleep(Q_(s, "s"))`, which advances virtual time in
simulation (the tester's dwell runs in plant time) and sleeps on a real bench. Without `wait` the
driver sleeps in wall-clock time. The wait is bounded: the dwell, then at most `POLLS` status
polls; a tester still running after that is stopped and reported as a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import InsulationResult, InsulationTester
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.scpi_driver import ScpiDriver, magnitude

JUDGEMENTS = ("PASS", "LFAIL", "UFAIL", "ULFAIL", "OFF")
OVER_RANGE_MOHM = 9999.0



class KikusuiTOS9213S(ScpiDriver, InsulationTester):
    SIMULATOR = "instruments.sim.scpi_insulation:serve"
    POLL_S = 0.25  # status poll interval after the dwell
    POLLS = 40  # polls after the dwell before giving up (10 s of margin)

    def __init__(self, resource: str, *, name: str = "irt", timeout: pint.Quantity = Q_(3, "s"),
                 max_test_voltage: str = "1020 V", min_test_voltage: str = "10 V",
                 max_resistance: str = "10 Gohm", visa_library: str = "@py",
                 sim: dict[str, Any] | None = None) -> None:
        """`max_test_voltage` is 1020 V on the TOS9213S, 1530 V on the AS; `sim` is ignored here."""
        super().__init__(name)
        self._vspan = (magnitude(Q_(min_test_voltage), "V", "minimum test voltage", name),
                       magnitude(Q_(max_test_voltage), "V", "maximum test voltage", name))
        self._rmax = magnitude(Q_(max_resistance), "ohm", "maximum resistance", name)
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library, error_query="ERR?")
        self._dwell_s: float | None = None

    # -- identity / lifecycle ----------------------------------------------------------------
    def safe_state(self) -> str:
        """Stop any test (output off, DUT discharged), confirmed by `STAT?` not reporting TEST."""
        self.conn.write("STOP")
        state = self.status()
        if state == "TEST":
            raise InstrumentError(self.name, "still testing after STOP", command="STAT?", reply=state)
        return f"test stopped, output off (confirmed STAT? = {state})"

    # -- settings ----------------------------------------------------------------------------
    def _check(self, value: float, low: float, high: float, what: str, unit: str) -> None:
        if not low <= value <= high:
            raise InstrumentRangeError(self.name, f"{what} {value:g} {unit} outside {low:g}..{high:g} {unit}")

    def configure(self, test_voltage: pint.Quantity, lower_limit: pint.Quantity, dwell: pint.Quantity,
                  upper_limit: pint.Quantity | None = None) -> None:
        """Test voltage, lower judgement limit (on), timer (on) and optional upper limit (off if None)."""
        v = magnitude(test_voltage, "V", "test voltage", self.name)
        lo = magnitude(lower_limit, "ohm", "lower limit", self.name)
        t = magnitude(dwell, "s", "dwell", self.name)
        self._check(v, *self._vspan, "test voltage", "V")
        self._check(lo, 0, self._rmax, "lower limit", "ohm")
        self._check(t, 0.5, 999, "dwell", "s")
        hi = None
        if upper_limit is not None:
            hi = magnitude(upper_limit, "ohm", "upper limit", self.name)
            self._check(hi, lo, 10 * self._rmax, "upper limit", "ohm")
        self.conn.write_checked(f"IR:TESTV {v:.6g}")
        self.conn.write_checked(f"IR:LOWER {lo:.6g},ON")
        self.conn.write_checked(f"IR:UPPER {hi:.6g},ON" if hi is not None else f"IR:UPPER {self._rmax:.6g},OFF")
        self._dwell_s = None
        self.conn.write_checked(f"IR:TIMER {t:.6g},ON")
        self._dwell_s = t

    def test_voltage(self) -> pint.Quantity:
        return Q_(self.conn.query_float("IR:TESTV?"), "V")

    def dwell(self) -> pint.Quantity:
        """The timer setting as the tester holds it (`IR:TIMER?` -> `6.00E+01,1`)."""
        reply = self.conn.query("IR:TIMER?")
        try:
            return Q_(float(reply.split(",")[0]), "s")
        except ValueError:
            raise InstrumentReplyError(self.name, "expected '<seconds>,<0|1>'", command="IR:TIMER?",
                                       reply=reply) from None

    # -- test --------------------------------------------------------------------------------
    def status(self) -> str:
        """ASSUMED `STAT?`: READY, TEST or DONE."""
        reply = self.conn.query("STAT?").upper()
        if reply not in ("READY", "TEST", "DONE"):
            raise InstrumentReplyError(self.name, "expected READY, TEST or DONE", command="STAT?", reply=reply)
        return reply

    def start(self) -> None:
        self.conn.write_checked("STAR")

    def stop(self) -> None:
        self.conn.write_checked("STOP")

    def run_test(self, wait: Callable[[float], None] | None = None) -> InsulationResult:
        """Start, wait the dwell, poll until done (bounded), return the result; output is off after.

        `wait(seconds)` is how time passes (the plan's clock); default: wall-clock sleep.
        """
        pause = wait or time.sleep
        dwell = self._dwell_s if self._dwell_s is not None else float(self.dwell().to("s").magnitude)
        self.start()
        try:
            pause(dwell)
            state = self.status()
            for _ in range(self.POLLS):
                if state != "TEST":
                    break
                pause(self.POLL_S)
                state = self.status()
            if state == "TEST":
                raise InstrumentTimeout(self.name, f"test not finished {self.POLLS * self.POLL_S:g} s after its "
                                        f"{dwell:g} s dwell; stopped", command="STAT?", reply=state)
            if state != "DONE":
                raise InstrumentError(self.name, "test ended without a result (stopped?)", command="STAT?",
                                      reply=state)
        except BaseException:
            try:
                self.conn.write("STOP")  # never leave high voltage on after a failure or Ctrl-C
            except InstrumentError:
                pass
            raise
        return self.result()

    def result(self) -> InsulationResult:
        """ASSUMED `MEAS:RES?`: the last (or, while testing, the present) reading and judgement.

        An over-range reading (`9999`) is returned as 9999 MΩ, a lower bound of the true value.
        """
        reply = self.conn.query("MEAS:RES?")
        fields = [f.strip() for f in reply.split(",")]
        try:
            volts, mohm, elapsed = float(fields[0]), float(fields[1]), float(fields[2])
            judgement = fields[3].upper()
        except (ValueError, IndexError):
            raise InstrumentReplyError(self.name, "expected '<V>,<MΩ>,<s>,<judgement>,...'", command="MEAS:RES?",
                                       reply=reply) from None
        if judgement not in JUDGEMENTS:
            raise InstrumentReplyError(self.name, f"unknown judgement {judgement!r}", command="MEAS:RES?",
                                       reply=reply)
        return InsulationResult(voltage=Q_(volts, "V"), resistance=Q_(mohm, "megaohm"), elapsed=Q_(elapsed, "s"),
                                judgement=judgement)
