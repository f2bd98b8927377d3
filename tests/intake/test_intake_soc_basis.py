"""The capacity a state of charge is counted against: measured, else BMS state of health, else passport."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.declarations import load_plan_file
from bench.limits import Limits, load_limit_set
from bench.units import Q_
from test_plans.module_intake.soc import capacity_basis
from test_plans.module_intake.state import IntakeState, ModuleSpec, NotMeasurable

ROOT = Path(__file__).resolve().parents[2]
MODULE = ModuleSpec("M-1", "LFP", 16, Q_(100, "A*h"), Q_(51.2, "V"), Q_(4.95, "mohm"))


@dataclass
class _Status:
    soh: object


class _Bms:
    """What capacity_basis reads of a BMS: its status' state of health (a BMS may report none)."""

    def __init__(self, soh: object) -> None:
        self.soh = soh

    def status(self) -> _Status:
        return _Status(self.soh)


@pytest.fixture(scope="module")
def limits() -> Limits:
    _, decl = load_plan_file(ROOT / "test_plans" / "module_intake" / "plan.toml")
    return Limits([load_limit_set(ROOT / "limits" / "module_intake_lfp.toml", decl)], declarations=decl)


def test_the_measured_capacity_comes_first(limits: Limits) -> None:
    b = capacity_basis(IntakeState(capacity_ah=Q_(64.6, "A*h")), MODULE, _Bms(Q_(100, "%")), {}, limits)
    assert b.capacity == Q_(64.6, "A*h") and "measured" in b.source


def test_without_a_capacity_the_bms_state_of_health_times_rated(limits: Limits) -> None:
    b = capacity_basis(IntakeState(), MODULE, _Bms(Q_(72, "%")), {}, limits)
    assert b.capacity.to("A*h").magnitude == pytest.approx(72.0) and "BMS-reported" in b.source


def test_an_implausible_bms_figure_falls_to_the_passport(limits: Limits) -> None:
    dut = {"history": {"remaining_capacity": "68 A*h"}}
    b = capacity_basis(IntakeState(), MODULE, _Bms(Q_(3, "%")), dut, limits)
    assert b.capacity == Q_(68, "A*h") and "passport remaining capacity" in b.source
    b = capacity_basis(IntakeState(), MODULE, _Bms(None), {"soh": "81 %"}, limits)
    assert b.capacity.to("A*h").magnitude == pytest.approx(81.0) and "passport state of health" in b.source


def test_no_basis_at_all_is_a_precondition_failure_not_the_rated_capacity(limits: Limits) -> None:
    with pytest.raises(NotMeasurable, match="no capacity to count a state of charge against"):
        capacity_basis(IntakeState(), MODULE, _Bms(None), {"history": {"soh": "400 %"}}, limits)
