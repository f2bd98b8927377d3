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

The settings are declared once below (header, unit, bounds from the station's ratings
`min_test_voltage`, `max_test_voltage`, `max_resistance`); the simulator
(instruments/sim/scpi_insulation.py) serves the same declarations.

`run_test(wait=...)` takes the waiting function from the plan: the plan passes
`lambda s: clock.sleep(Q_(s, "s"))`, which advances virtual time in simulation (the tester's
dwell runs in plant time) and sleeps on a real bench. Without `wait` the driver waits on the
clock the session attached (`attach_clock`), else in wall-clock time. The wait is bounded: the
dwell, then at most `POLLS` status polls; a tester still running after that is stopped and
reported as a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import ClockAware, InsulationResult, InsulationTester
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.scpi_driver import Rating, ScpiDriver, Setting, rating

JUDGEMENTS = ("PASS", "LFAIL", "UFAIL", "ULFAIL", "OFF")
OVER_RANGE_MOHM = 9999.0


class KikusuiTOS9213S(ScpiDriver, InsulationTester, ClockAware):
    SIMULATOR = "instruments.sim.scpi_insulation:serve"
    POLL_S = 0.25  # status poll interval after the dwell
    POLLS = 40  # polls after the dwell before giving up (10 s of margin)

    # -- the settings, declared once (the simulator serves the same) -------------------------
    TEST_VOLTAGE = Setting(
        "Ir:TEStv",
        "V",
        "test voltage",
        low=Rating("min_test_voltage"),
        high=Rating("max_test_voltage"),
        send="IR:TESTV",
    )
    LOWER_LIMIT = Setting(
        "Ir:LOWer", "ohm", "lower limit", low=0, high=Rating("max_resistance"), send="IR:LOWER", suffix=",ON"
    )
    UPPER_LIMIT = Setting(
        "Ir:UPPer", "ohm", "upper limit", low=0, high=Rating("max_resistance", 10), send="IR:UPPER", suffix=",ON"
    )
    DWELL = Setting("Ir:TIMer", "s", "dwell", low=0.5, high=999, send="IR:TIMER", suffix=",ON")
    RISE_TIME = Setting("Ir:RISetime", "s", "rise time", low=0, high=99, send="IR:RISETIME")

    def __init__(
        self,
        resource: str,
        *,
        name: str = "irt",
        timeout: pint.Quantity = Q_(3, "s"),
        max_test_voltage: str = "1020 V",
        min_test_voltage: str = "10 V",
        max_resistance: str = "10 Gohm",
        visa_library: str = "@py",
    ) -> None:
        """`max_test_voltage` is 1020 V on the TOS9213S, 1530 V on the AS."""
        super().__init__(name)
        self.ratings = {
            "min_test_voltage": rating(min_test_voltage, "V", "min_test_voltage", name),
            "max_test_voltage": rating(max_test_voltage, "V", "max_test_voltage", name),
            "max_resistance": rating(max_resistance, "ohm", "max_resistance", name),
        }
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library, error_query="ERR?")
        self._dwell_s: float | None = None
        self._wait: Callable[[float], None] = time.sleep

    def attach_clock(self, clock: Any) -> None:
        """Let time pass on the bench clock when `run_test` is given no `wait` (virtual time in simulation)."""
        self._wait = lambda s: clock.sleep(Q_(s, "s"))

    # -- identity / lifecycle ----------------------------------------------------------------
    def safe_state(self) -> str:
        """Stop any test (output off, DUT discharged), confirmed by `STAT?` not reporting TEST."""
        self.conn.write("STOP")
        state = self.status()
        if state == "TEST":
            raise InstrumentError(self.name, "still testing after STOP", command="STAT?", reply=state)
        return f"test stopped, output off (confirmed STAT? = {state})"

    # -- settings ----------------------------------------------------------------------------
    def configure(
        self,
        test_voltage: pint.Quantity,
        lower_limit: pint.Quantity,
        dwell: pint.Quantity,
        upper_limit: pint.Quantity | None = None,
    ) -> None:
        """Test voltage, lower judgement limit (on), timer (on) and optional upper limit (off if None).
        Every value is checked before anything is sent."""
        self.check_setting(self.TEST_VOLTAGE, test_voltage)
        lo = self.check_setting(self.LOWER_LIMIT, lower_limit)
        t = self.check_setting(self.DWELL, dwell)
        if upper_limit is not None:
            hi = self.check_setting(self.UPPER_LIMIT, upper_limit)
            if hi < lo:
                raise InstrumentRangeError(self.name, f"upper limit {hi:g} ohm below the lower limit {lo:g} ohm")
        self.write_setting(self.TEST_VOLTAGE, test_voltage)
        self.write_setting(self.LOWER_LIMIT, lower_limit)
        if upper_limit is not None:
            self.write_setting(self.UPPER_LIMIT, upper_limit)
        else:
            self.write_setting(self.UPPER_LIMIT, Q_(self.ratings["max_resistance"], "ohm"), suffix=",OFF")
        self._dwell_s = None
        self.write_setting(self.DWELL, dwell)
        self._dwell_s = t

    test_voltage = TEST_VOLTAGE.getter("The test voltage as the tester holds it (`IR:TESTV?`).")
    dwell = DWELL.getter("The timer setting as the tester holds it (`IR:TIMER?` -> `6.00E+01,1`).")
    set_rise_time = RISE_TIME.setter("Ramp time of the test voltage (`IR:RISETIME`, 0 .. 99 s).")

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

        `wait(seconds)` is how time passes (the plan's clock); default: the attached clock, else
        wall-clock sleep.
        """
        pause = wait or self._wait
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
                raise InstrumentTimeout(
                    self.name,
                    f"test not finished {self.POLLS * self.POLL_S:g} s after its {dwell:g} s dwell; stopped",
                    command="STAT?",
                    reply=state,
                )
            if state != "DONE":
                raise InstrumentError(self.name, "test ended without a result (stopped?)", command="STAT?", reply=state)
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
            raise InstrumentReplyError(
                self.name, "expected '<V>,<MΩ>,<s>,<judgement>,...'", command="MEAS:RES?", reply=reply
            ) from None
        if judgement not in JUDGEMENTS:
            raise InstrumentReplyError(self.name, f"unknown judgement {judgement!r}", command="MEAS:RES?", reply=reply)
        return InsulationResult(
            voltage=Q_(volts, "V"), resistance=Q_(mohm, "megaohm"), elapsed=Q_(elapsed, "s"), judgement=judgement
        )
