"""`measure()` and `require()`: check a quantity against its limit and journal it at once.

`measure` never stops the plan; `require` raises RequirementFailed when the verdict is FAIL or
INDETERMINATE so the plan stops (and the session drives the bench to its safe state).
Each record carries the step, the instrument (role, model, serial, calibration) and both the
virtual/run time and the wall-clock time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pint

from bench.calibration import EXPIRED, calibration_status
from bench.errors import RequirementFailed
from bench.journal import Journal
from bench.limits import Limits
from bench.station import Station
from bench.units import Q_, fmt, is_finite
from bench.verdict import Decision, Plausible, Verdict, decide


@dataclass
class Measurement:
    name: str
    value: pint.Quantity
    verdict: Verdict
    reason: str
    grade: str | None
    limit: dict[str, Any] | None
    instrument: str | None
    step: str | None
    clause: str = ""
    uncertainty: pint.Quantity | None = None
    required: bool = False

    @property
    def passed(self) -> bool:
        return self.verdict in (Verdict.PASS, Verdict.MARGINAL)

    def __str__(self) -> str:
        return f"{self.name} = {fmt(self.value)} -> {self.verdict} ({self.reason})"


@dataclass
class StepContext:
    """What the recorder knows about the step in progress (set by the pytest plugin)."""

    nodeid: str | None = None
    clauses: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)


class Recorder:
    def __init__(
        self,
        journal: Journal,
        run_id: str,
        limits: Limits,
        station: Station,
        now_s: Callable[[], float],
        today: dt.date | None = None,
        role_of: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.journal = journal
        self.run_id = run_id
        self.limits = limits
        self.station = station
        self.now_s = now_s
        self.today = today or dt.date.today()
        self.step = StepContext()
        self.all: list[Measurement] = []
        self._role_of = role_of or (lambda obj: None)

    def _instrument(self, instrument: Any) -> tuple[str | None, dict[str, Any] | None, bool]:
        role = instrument if isinstance(instrument, str) or instrument is None else self._role_of(instrument)
        if role is None:
            return None, None, False
        cfg = self.station.roles.get(role)
        if cfg is None:
            return role, {"role": role, "note": "not a station role"}, False
        due = cfg.calibration.due if cfg.calibration is not None else None
        expired = calibration_status(due, self.today) == EXPIRED
        return role, cfg.identity(), expired

    def measure(
        self,
        name: str,
        value: pint.Quantity,
        *,
        instrument: Any = None,
        uncertainty: pint.Quantity | None = None,
        clause: str | None = None,
        note: str = "",
        plausible: Plausible | None = None,
        series: str | None = None,
        aggregate: str | None = None,
        _required: bool = False,
    ) -> Measurement:
        """Decide and journal one result. `plausible` (low, high) overrides the declared plausible range,
        for ranges that depend on the DUT (e.g. capacity above 150 % of its rating)."""
        if not isinstance(value, pint.Quantity):
            raise TypeError(f"measure({name!r}) needs a pint quantity with its unit, got {value!r}")
        role, info, expired = self._instrument(instrument)
        limit = self.limits.get(name)
        decl = self.limits.declarations
        spec = decl.measurement(name)
        if plausible is None and spec is not None:
            plausible = spec.plausible
        decision: Decision = decide(
            name,
            value,
            limit,
            uncertainty=uncertainty,
            calibration_expired=expired,
            instrument=role or "",
            plausible=plausible,
        )
        if spec is None and decl.declared and decision.verdict is not Verdict.FAIL:
            decision = Decision(
                Verdict.INDETERMINATE,
                f"measurement {name!r} is not declared by plan {decl.plan!r}{decl.suggest(name, 'measurements')}",
            )
        unit = limit.display_unit if limit is not None and limit.display_unit else value.units
        shown = value.to(unit)
        magnitude = float(shown.magnitude) if is_finite(shown) else None
        clause_text = (
            clause or (", ".join(self.step.clauses) if self.step.clauses else "") or (limit.clause if limit else "")
        )
        m = Measurement(
            name=name,
            value=value,
            verdict=decision.verdict,
            reason=decision.reason,
            grade=decision.grade,
            limit=limit.to_record() if limit else None,
            instrument=role,
            step=self.step.nodeid,
            clause=clause_text,
            uncertainty=uncertainty,
            required=_required,
        )
        self.journal.add_measurement(
            self.run_id,
            step=self.step.nodeid,
            name=name,
            value=magnitude,
            unit=f"{shown.units:~P}",
            uncertainty=None if uncertainty is None else float(uncertainty.to(unit).magnitude),
            limit_json=m.limit,
            verdict=str(m.verdict),
            reason=m.reason,
            grade=m.grade,
            clause=clause_text,
            instrument=role,
            instrument_json=info,
            t=self.now_s(),
            required=int(_required),
            note=note,
            series=series,
            aggregate=aggregate,
        )
        self.step.measurements.append(m)
        self.all.append(m)
        return m

    def not_measured(self, name: str, unit: str, reason: str, **kwargs: Any) -> Measurement:
        """Journal a result the step could not obtain (precondition not met, point not implemented):
        INDETERMINATE with the reason, value NULL, never a number standing in for it."""
        return self.measure(name, Q_(float("nan"), unit), note=reason, **kwargs)

    def require(self, name: str, value: pint.Quantity, **kwargs: Any) -> Measurement:
        m = self.measure(name, value, _required=True, **kwargs)
        if m.verdict in (Verdict.FAIL, Verdict.INDETERMINATE):
            raise RequirementFailed(f"required {m}")
        return m
