"""Rule-table evaluation: pure unit tests against the shipped limit files and small tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.limits import load_limit_set
from bench.units import Q_
from test_plans.module_intake.grading import Result, RuleTableError, evaluate, load_rule_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["module_intake_lfp.toml", "module_intake_nmc.toml"])
def table(request: pytest.FixtureRequest):
    s = load_limit_set(ROOT / "limits" / request.param)
    return load_rule_table(s.grading["module_intake"]), s


def _healthy(s) -> dict[str, Result]:
    floor = s.limits["ocv.cell_min"].low
    return {
        "history.disqualifying_events": Result(Q_(0, "")),
        "visual.defects": Result(Q_(0, "")),
        "ocv.cell_min": Result(floor + Q_(1.2, "V")),
        "bms.functions_failed": Result(Q_(0, "")),
        "self_discharge.cell_rate": Result(Q_(0.1, "mV/day"), "A"),
        "capacity.soh": Result(Q_(91, "%"), "A"),
        "dcir.growth": Result(Q_(12, "%"), "A"),
        "ocv.cell_spread": Result(Q_(5, "mV"), "A"),
        "insulation.resistance_250V": Result(Q_(500, "Mohm"), "A"),
    }


def test_versioned_and_routes(table) -> None:
    t, _ = table
    assert t.version and t.grades[0] == "A" and t.grades[-1] == "recycle"
    assert all(g in t.routes for g in t.grades)


def test_all_good_is_a_by_default_rule(table) -> None:
    t, s = table
    d = evaluate(t, _healthy(s))
    assert (d.grade, d.rule, d.measurement) == ("A", t.default_rule, "")


@pytest.mark.parametrize(
    "name,result,grade,rule",
    [
        ("capacity.soh", Result(Q_(74, "%"), "B"), "B", "R08 state of health"),
        ("capacity.soh", Result(Q_(64, "%"), "C"), "C", "R08 state of health"),
        ("dcir.growth", Result(Q_(75, "%"), "C"), "C", "R09 resistance growth"),
        ("dcir.growth", Result(Q_(150, "%"), "recycle"), "recycle", "R09 resistance growth"),
        ("self_discharge.cell_rate", Result(Q_(9, "mV/day"), "recycle"), "recycle", "R07 self-discharge"),
        ("bms.functions_failed", Result(Q_(1, "")), "recycle", "R06 BMS functions"),
        ("visual.defects", Result(Q_(1, "")), "recycle", "R03 visual"),
        ("history.disqualifying_events", Result(Q_(2, "")), "recycle", "R01 history"),
        ("ocv.cell_spread", Result(Q_(70, "mV"), "B"), "B", "R10 cell spread"),
    ],
)
def test_single_finding_decides(table, name, result, grade, rule) -> None:
    t, s = table
    results = _healthy(s)
    results[name] = result
    d = evaluate(t, results)
    assert (d.grade, d.rule, d.measurement) == (grade, rule, name)
    assert d.version == t.version


def test_cell_floor_rejects(table) -> None:
    t, s = table
    results = _healthy(s)
    results["ocv.cell_min"] = Result(s.limits["ocv.cell_min"].low - Q_(0.1, "V"))
    assert evaluate(t, results).rule == "R04 cell floor"


def test_worst_wins_and_table_order_breaks_ties(table) -> None:
    t, s = table
    results = _healthy(s)
    results["capacity.soh"] = Result(Q_(72, "%"), "B")
    results["ocv.cell_spread"] = Result(Q_(60, "mV"), "B")
    results["dcir.growth"] = Result(Q_(60, "%"), "C")
    d = evaluate(t, results)
    assert (d.grade, d.rule) == ("C", "R09 resistance growth")
    results["dcir.growth"] = Result(Q_(10, "%"), "A")
    assert evaluate(t, results).rule == "R08 state of health"  # SOH before spread in the table
    assert len(evaluate(t, results).fired) == 2


def test_rejected_module_missing_results_stays_recycle(table) -> None:
    t, _ = table
    d = evaluate(t, {"history.disqualifying_events": Result(Q_(0, "")), "visual.defects": Result(Q_(1, ""))})
    assert (d.grade, d.rule) == ("recycle", "R03 visual")


def test_missing_required_result_quarantines(table) -> None:
    t, s = table
    results = _healthy(s)
    del results["capacity.soh"]
    d = evaluate(t, results)
    assert d.grade == t.missing_grade == "quarantine"
    assert d.measurement == "capacity.soh"


BASE = {"version": "T1", "grades": ["A", "B", "recycle"], "routes": {"A": "grid", "B": "backup", "recycle": "r"}}


def test_conditions_and_text_equals() -> None:
    t = load_rule_table(
        {
            **BASE,
            "rules": [
                {"id": "x", "measurement": "m", "at_least": "3 V", "grade": "B"},
                {"id": "y", "measurement": "s", "equals": "yes", "grade": "recycle"},
            ],
        }
    )
    assert evaluate(t, {"m": Result(Q_(3, "V"))}).grade == "B"
    assert evaluate(t, {"m": Result(Q_(2999, "mV"))}).grade == "A"
    assert evaluate(t, {"s": Result("YES")}).rule == "y"


@pytest.mark.parametrize(
    "bad,msg",
    [
        ({"rules": [{"id": "a", "measurement": "m", "above": "1 V", "grade": "Z"}]}, "grade"),
        ({"rules": [{"id": "a", "measurement": "m", "above": "1 V", "below": "2 V", "grade": "A"}]}, "exactly one"),
        ({"rules": [{"id": "a", "measurement": "m", "above": "1 V", "grade": "A", "colour": 1}]}, "colour"),
        ({"version": "", "rules": [{"id": "a", "measurement": "m", "above": "1 V", "grade": "A"}]}, "version"),
        (
            {"routes": {"A": "grid"}, "rules": [{"id": "a", "measurement": "m", "above": "1 V", "grade": "A"}]},
            "routes.B",
        ),
    ],
)
def test_malformed_tables_name_the_key(bad, msg) -> None:
    with pytest.raises(RuleTableError, match=msg):
        load_rule_table({**BASE, **bad})


def test_dimension_mismatch_is_an_error() -> None:
    t = load_rule_table({**BASE, "rules": [{"id": "x", "measurement": "m", "above": "1 V", "grade": "B"}]})
    with pytest.raises(RuleTableError, match="cannot be compared"):
        evaluate(t, {"m": Result(Q_(2, "A"))})


def test_an_indeterminate_result_quarantines_with_its_reason(table) -> None:
    t, s = table
    results = _healthy(s)
    results["dcir.growth"] = Result(
        None, indeterminate="implausible: dcir.growth = -90 % is below the physically plausible minimum -50 %"
    )
    d = evaluate(t, results)
    assert (d.grade, d.rule, d.measurement) == ("quarantine", "R09 resistance growth", "dcir.growth")
    assert "cannot be graded: implausible" in d.reason


def test_a_value_in_no_grade_band_quarantines_never_a_silent_default(table) -> None:
    t, s = table
    results = _healthy(s)
    results["capacity.soh"] = Result(Q_(250, "%"), None)  # the limit's bands end at 200 %
    d = evaluate(t, results)
    assert (d.grade, d.measurement) == ("quarantine", "capacity.soh")
    assert "no grade band" in d.reason


def test_an_incomplete_step_quarantines_with_the_steps_named(table) -> None:
    t, s = table
    results = _healthy(s)
    results["intake.incomplete_steps"] = Result(Q_(1, ""), note="pulse at 80% SOC: a cell reached its charge guard")
    d = evaluate(t, results)
    assert (d.grade, d.rule) == ("quarantine", "R11 complete evidence")
    assert d.reason.endswith("pulse at 80% SOC: a cell reached its charge guard")


def test_recycle_outranks_quarantine(table) -> None:
    t, s = table
    results = _healthy(s)
    results["capacity.soh"] = Result(None, indeterminate="not measured: module not stable")
    results["visual.defects"] = Result(Q_(1, ""))
    assert evaluate(t, results).grade == "recycle"


def test_indeterminate_grade_must_be_a_grade() -> None:
    with pytest.raises(RuleTableError, match="indeterminate_grade"):
        load_rule_table(
            {
                **BASE,
                "indeterminate_grade": "hold",
                "rules": [{"id": "a", "measurement": "m", "above": "1 V", "grade": "B"}],
            }
        )
