"""Time left: declared step durations (plan.toml [steps]) or learned from earlier runs, against the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.declarations import parse_declarations
from bench.errors import ConfigErrors
from bench.journal import Journal
from bench.live.estimate import fmt_duration, learned_durations, plan_steps, time_left

ITEMS = [("p::a", "test_a", ["c1"]), ("p::b", "test_b", []), ("p::c", "test_c", [])]


def test_steps_table_parsed_and_range_checked():
    d = parse_declarations({"steps": {"test_a": {"expected": "2 h", "description": "charge"}}}, "plan.toml")
    assert d.steps["test_a"].expected_s == 7200 and d.step("test_a[param]") is d.steps["test_a"]
    assert not d.declared  # step durations do not make parameters/measurements mandatory
    for bad, msg in (
        (({"expected": "2 V"}), "expected time"),
        ({"expected": "0 s"}, "outside"),
        ({"expected": "inf h"}, "non-finite"),
        ({"expected": 5}, "with its unit"),
        ({"expceted": "1 h"}, "unknown key"),
    ):
        with pytest.raises(ConfigErrors, match=msg) as exc:
            parse_declarations({"steps": {"test_a": bad}}, "plan.toml")
        assert "plan.toml:steps.test_a" in str(exc.value)


def _step(nodeid, name, started, ended=None, outcome=None):
    return {
        "nodeid": nodeid,
        "name": name,
        "clauses": [],
        "started_t": started,
        "ended_t": ended,
        "started_wall": "w",
        "ended_wall": "w" if ended is not None else None,
        "outcome": outcome,
    }


def test_time_left_counts_the_rest_of_the_current_step_and_the_steps_to_come():
    planned = plan_steps(ITEMS, {"test_a": 100.0, "test_b": 600.0}, {"test_c": 50.0})
    assert [p["expected_source"] for p in planned] == ["declared", "declared", "learned"]
    steps = [_step("p::a", "test_a", 0.0, 90.0, "passed"), _step("p::b", "test_b", 90.0)]
    left = time_left(planned, steps, now_t=290.0)
    assert (left["index"], left["total"], left["done"], left["current"]) == (2, 3, 1, "test_b")
    assert left["left_s"] == pytest.approx(400.0 + 50.0) and left["in_step_s"] == pytest.approx(200.0)
    assert not left["overrun"] and left["unknown"] == 0
    over = time_left(planned, steps, now_t=900.0)
    assert over["overrun"] and over["left_s"] == pytest.approx(50.0)


def test_steps_without_expectation_make_the_estimate_a_lower_bound():
    planned = plan_steps(ITEMS, {"test_a": 100.0}, {})
    left = time_left(planned, [], now_t=0.0)
    assert left["left_s"] == 100.0 and left["unknown"] == 2


def test_learned_durations_are_medians_of_passed_steps_of_the_same_plan(tmp_path: Path):
    j = Journal(tmp_path / "j.sqlite")
    for i, (dur, outcome) in enumerate([(100.0, "passed"), (300.0, "passed"), (200.0, "passed"), (5.0, "failed")]):
        rid = f"r{i}"
        j.start_run(rid, plan="smoke")
        j.start_step(rid, "p::a", "test_a", [], "", 10.0)
        j.end_step(rid, "p::a", outcome, "PASS", "", 10.0 + dur)
        j.end_run(rid, "COMPLETED", "PASS")
    j.start_run("other", plan="intake")
    j.start_step("other", "p::a", "test_a", [], "", 0.0)
    j.end_step("other", "p::a", "passed", "PASS", "", 9999.0)
    assert learned_durations(j, "smoke") == {"test_a": 200.0}
    assert learned_durations(j, "smoke", exclude_run="r1") == {"test_a": 150.0}


def test_durations_read_like_an_operator_reads_them():
    assert [fmt_duration(s) for s in (4.25, 75, 3 * 3600 + 5 * 60, 2 * 86400 + 7200)] == [
        "4.2 s",
        "1 min 15 s",
        "3 h 05 min",
        "2 d 2 h",
    ]
