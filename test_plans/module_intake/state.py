"""What the intake steps share: the module's facts, the results so far, and why a result is missing.

Why a separate module: the steps are separate pytest tests (each journalled with its clause), but
grading and the passport need every earlier result, and the procedures need the module's ratings.
The state object is created by a session-scoped fixture (conftest.py), one per run, so nothing
survives from one run to the next in the same process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pint

from bench.units import Q_


class NotMeasurable(Exception):
    """A precondition of a measurement cannot be met (a SOC not reachable within the cell limits,
    a current the module would not take, the BMS opening its contactor during a pulse, no
    capacity to set a SOC from). The step records why, leaves the results INDETERMINATE and the
    plan goes on; only a safety condition aborts a run.

    `tripped` says the BMS acted (contactor open or ERROR): it must be re-armed before the next
    electrical step.
    """

    def __init__(self, reason: str, *, tripped: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tripped = tripped


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
        """C-rate ('0.2 / h') times rated capacity -> amperes (the method standards' It)."""
        return (rate * self.rated_capacity).to("A")

    def module_voltage(self, cell: pint.Quantity) -> pint.Quantity:
        """A per-cell voltage times the cells in series."""
        return (self.n_series * cell).to("V")


@dataclass
class SocBasis:
    """The capacity a state of charge is counted against, and where it came from."""

    capacity: pint.Quantity
    source: str


@dataclass
class IntakeState:
    """Everything the later steps need from the earlier ones (one per run)."""

    results: dict[str, pint.Quantity | str] = field(default_factory=dict)
    bands: dict[str, str | None] = field(default_factory=dict)
    unresolved: dict[str, str] = field(default_factory=dict)  # result -> why it cannot be graded
    incomplete: list[str] = field(default_factory=list)  # "step: reason" for every unmet precondition
    rejected_by: str | None = None
    reject_reason: str = ""
    history: dict[str, Any] = field(default_factory=dict)
    capacity_ah: pint.Quantity | None = None  # measured in step 5 (plausible), else None
    basis: SocBasis | None = None
    soc: pint.Quantity | None = None  # present SOC estimate (fraction of basis.capacity); None = unknown
    bms_armed: bool = True
    grade: dict[str, Any] | None = None

    def reject(self, step: str, reason: str) -> None:
        if self.rejected_by is None:
            self.rejected_by, self.reject_reason = step, reason

    def keep(self, name: str, value: pint.Quantity | str, band: str | None) -> None:
        """A gradable result (its verdict was not INDETERMINATE)."""
        self.results[name] = value
        self.bands[name] = band
        self.unresolved.pop(name, None)

    def leave_unresolved(self, name: str, reason: str) -> None:
        """A result that was measured but cannot be graded (implausible, no limit, calibration)."""
        self.results.pop(name, None)
        self.bands.pop(name, None)
        self.unresolved[name] = reason

    def not_measured(self, step: str, names: list[str], reason: str) -> None:
        """A precondition failed: these results stay INDETERMINATE for `reason` (quarantine)."""
        for name in names:
            if name not in self.results:
                self.unresolved[name] = f"not measured: {reason}"
        self.incomplete.append(f"{step}: {reason}")

    def soc_text(self) -> str:
        return "unknown" if self.soc is None else f"{self.soc.to('percent').magnitude:.1f} %"


def fraction(q: pint.Quantity) -> float:
    """A dimensionless quantity ('50 %') as a plain fraction (0.5)."""
    return float(Q_(q).to("").magnitude)
