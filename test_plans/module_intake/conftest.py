"""Plan-local fixtures of the module intake: shared results, gating, attachments, module facts.

Why: the ten steps are separate tests (each journalled with its clause), but grading and the
passport need every earlier result, and a module rejected at a gate (history, visual, cell
floor, insulation) must not be cycled. `intake` carries results across steps (one state object
per run, owned by a session fixture); `record` is `measure()` plus remembering the value and
its grade band for the rule table, or why it cannot be graded; `gate` skips an electrical step
once the module has been rejected, so grade and passport still run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pint
import pytest

from bench.units import Q_
from bench.verdict import Verdict
from test_plans.module_intake.state import IntakeState, ModuleSpec


@pytest.fixture(scope="session")
def intake() -> IntakeState:
    """The run's shared intake state, created fresh for every run (session)."""
    return IntakeState()


def _q(value: Any) -> pint.Quantity | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, pint.Quantity) else Q_(str(value))


@pytest.fixture(scope="session")
def module(bench_session: Any) -> ModuleSpec:
    """Module facts; a DUT without chemistry or rated capacity cannot be graded (UL 1974 S0 quarantine)."""
    dut = bench_session.dut_info
    limits = bench_session.limits
    chem = str(dut.get("chemistry", "")).upper()
    want = str(limits.sets[0].meta.get("chemistry", "")).upper()
    if not chem or not dut.get("rated_capacity"):
        raise pytest.UsageError("DUT info needs chemistry and rated_capacity (passport file or station [dut])")
    if want and chem != want:
        raise pytest.UsageError(f"DUT chemistry {chem} does not match limit set {limits.sets[0].id} ({want})")
    n = int(dut.get("n_series", 0))
    if n <= 0:
        n = len(
            bench_session.bindings.require(
                "bms", station=bench_session.station.name, source=str(bench_session.station.path)
            ).cell_voltages()
        )
    rated = _q(dut["rated_capacity"])
    if rated is None or rated.dimensionality != Q_(1, "A*h").dimensionality or rated.magnitude <= 0:
        raise pytest.UsageError(f"DUT rated_capacity {dut['rated_capacity']!r}: expected a charge such as '100 A*h'")
    nominal = _q(dut.get("nominal_voltage")) or n * limits.param("cell.nominal_voltage")
    return ModuleSpec(str(dut.get("serial", "")), chem, n, rated, nominal.to("V"), _q(dut.get("bol_resistance")))


@pytest.fixture
def record(measure: Any, intake: IntakeState) -> Any:
    """measure() that also keeps the value and grade band for grading and the passport.

    A result whose verdict is INDETERMINATE (implausible, no limit, expired calibration, an
    uncertainty straddling a bound) is kept out of grading with its reason: the rule table
    then gives its `indeterminate_grade` (quarantine), never a grade from a doubtful value.
    """

    def _record(name: str, value: pint.Quantity, **kwargs: Any) -> Any:
        m = measure(name, value, **kwargs)
        if m.verdict == Verdict.INDETERMINATE:
            intake.leave_unresolved(name, m.reason)
        else:
            intake.keep(name, value, m.grade)
        return m

    return _record


@pytest.fixture
def station_stimulus(bench_session: Any) -> Any:
    """The station's stimulus capability (HIL device, simulated HIL or operator), or None when the
    station declares none: the protective-function step then ramps the module with the instruments."""
    return bench_session.bindings.get("stimulus")


@pytest.fixture
def gate(intake: IntakeState) -> None:
    """Skip an electrical step once the module is rejected: a rejected module is not cycled."""
    if intake.rejected_by is not None:
        pytest.skip(f"module rejected at {intake.rejected_by} ({intake.reject_reason}); step not run")


@pytest.fixture
def attach(bench_session: Any) -> Any:
    """Journal an attachment (passport.json, plots) for this run; it lands in the report folder."""

    def _attach(name: str, content: bytes, kind: str) -> None:
        bench_session.journal.add_attachment(
            bench_session.run_id, name, content, kind=kind, step=bench_session.recorder.step.nodeid
        )

    return _attach


@pytest.fixture
def run_info(bench_session: Any) -> dict[str, Any]:
    """Run identity for the passport."""
    s = bench_session.limits.sets[0]
    return {
        "run_id": bench_session.run_id,
        "batch_id": bench_session.batch_id,
        "plan": bench_session.plan,
        "plan_version": bench_session.plan_version,
        "station": bench_session.station.name,
        "site": bench_session.station.site,
        "simulated": bench_session.station.simulated,
        "date": dt.date.today().isoformat(),
        "limit_set": {"id": s.id, "version": s.version, "sha256": s.sha256},
    }
