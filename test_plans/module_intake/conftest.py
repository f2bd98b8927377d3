"""Plan-local fixtures of the module intake: shared results, gating, attachments, module facts.

Why: the ten steps are separate tests (each journalled with its clause), but grading and the
passport need every earlier result, and a module rejected at a gate (history, visual, cell
floor, insulation) must not be cycled. `intake` carries results across steps; `record` is
`measure()` plus remembering the value and its grade band for the rule table; `gate` skips an
electrical step once the module has been rejected, so grade and passport still run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pint
import pytest

from bench.units import Q_


@dataclass
class IntakeState:
    """Everything the later steps need from the earlier ones."""

    results: dict[str, pint.Quantity | str] = field(default_factory=dict)
    bands: dict[str, str | None] = field(default_factory=dict)
    rejected_by: str | None = None
    reject_reason: str = ""
    history: dict[str, Any] = field(default_factory=dict)
    capacity_ah: pint.Quantity | None = None
    soc: pint.Quantity | None = None  # present SOC estimate from Ah counting (fraction of measured capacity)
    grade: dict[str, Any] | None = None

    def reject(self, step: str, reason: str) -> None:
        if self.rejected_by is None:
            self.rejected_by, self.reject_reason = step, reason


@dataclass(frozen=True)
class ModuleSpec:
    """Facts about the module under test, from its DUT info (passport/OEM label) and the limit set."""

    serial: str
    chemistry: str
    n_series: int
    rated_capacity: pint.Quantity
    nominal_voltage: pint.Quantity
    bol_resistance: pint.Quantity | None

    def current(self, rate: pint.Quantity) -> pint.Quantity:
        """C-rate ('0.2 / h') times rated capacity -> amperes."""
        return (rate * self.rated_capacity).to("A")


_STATE = IntakeState()


@pytest.fixture(scope="session")
def intake() -> IntakeState:
    return _STATE


def _q(value: Any, default: str | None = None) -> pint.Quantity | None:
    if value is None or value == "":
        return Q_(default) if default else None
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
        n = len(bench_session.instruments[_bms_role(bench_session)].cell_voltages())
    rated = _q(dut["rated_capacity"])
    nominal = _q(dut.get("nominal_voltage")) or n * Q_(3.2 if chem == "LFP" else 3.65, "V")
    return ModuleSpec(str(dut.get("serial", "")), chem, n, rated, nominal, _q(dut.get("bol_resistance")))


def _bms_role(bench_session: Any) -> str:
    for role in ("bms_can", "bms_modbus", "bms"):
        if role in bench_session.instruments:
            return role
    raise pytest.UsageError("the intake plan needs a BMS role (bms_can or bms_modbus)")


@pytest.fixture
def record(measure: Any, intake: IntakeState) -> Any:
    """measure() that also keeps the value and grade band for grading and the passport."""

    def _record(name: str, value: pint.Quantity, **kwargs: Any) -> Any:
        m = measure(name, value, **kwargs)
        intake.results[name] = value
        intake.bands[name] = m.grade
        return m

    return _record


@pytest.fixture
def gate(intake: IntakeState) -> None:
    """Skip an electrical step once the module is rejected: a rejected module is not cycled."""
    if intake.rejected_by is not None:
        pytest.skip(f"module rejected at {intake.rejected_by} ({intake.reject_reason}); step not run")


@pytest.fixture
def attach(bench_session: Any) -> Any:
    """Journal an attachment (passport.json, plots) for this run; it lands in the report folder."""

    def _attach(name: str, content: bytes, kind: str) -> None:
        bench_session.journal.add_attachment(bench_session.run_id, name, content, kind=kind,
                                             step=bench_session.recorder.step.nodeid)

    return _attach


@pytest.fixture
def run_info(bench_session: Any) -> dict[str, Any]:
    """Run identity for the passport."""
    import datetime as dt

    s = bench_session.limits.sets[0]
    return {"run_id": bench_session.run_id, "batch_id": bench_session.batch_id, "plan": bench_session.plan,
            "plan_version": bench_session.plan_version, "station": bench_session.station.name,
            "site": bench_session.station.site, "simulated": bench_session.station.simulated,
            "date": dt.date.today().isoformat(), "limit_set": {"id": s.id, "version": s.version, "sha256": s.sha256}}
