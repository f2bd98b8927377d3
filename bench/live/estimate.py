"""How long a run has left: each step's expected run time, declared or learned, against the journal.

A step's expectation comes from the plan (`[steps."test_x"] expected = "2 h"` in plan.toml) or,
failing that, from earlier runs of the same plan in the journal (the median run time of the step
in the last runs that passed it). Run time is virtual in simulation and wall time on hardware;
in simulation the viewer also converts what is left to wall time at the pace seen so far.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.journal import INTERRUPTED, Journal

LEARN_FROM_RUNS = 10


def learned_durations(
    journal: Journal, plan: str, *, exclude_run: str | None = None, runs: int = LEARN_FROM_RUNS
) -> dict[str, float]:
    """Step name -> median run time (s) over the last `runs` runs of `plan` where that step passed."""
    if not plan:
        return {}
    samples: dict[str, list[float]] = {}
    for run in journal.runs(runs + 1, plan=plan):
        if run["run_id"] == exclude_run:
            continue
        for s in journal.steps(run["run_id"]):
            if s["outcome"] == "passed" and s["ended_t"] is not None and s["started_t"] is not None:
                samples.setdefault(s["name"], []).append(max(float(s["ended_t"]) - float(s["started_t"]), 0.0))
    return {name: statistics.median(v) for name, v in samples.items() if v}


def plan_steps(
    items: list[tuple[str, str, list[str]]], declared: dict[str, float | None], learned: dict[str, float]
) -> list[dict[str, Any]]:
    """The steps the run will execute, in order, each with its expectation and where it came from.
    `items`: (nodeid, name, clauses); `declared`: step name -> expected seconds from plan.toml."""
    out = []
    for nodeid, name, clauses in items:
        expected = declared.get(name)
        source = "declared" if expected is not None else None
        if expected is None and name in learned:
            expected, source = learned[name], "learned"
        out.append(
            {"nodeid": nodeid, "name": name, "clauses": clauses, "expected_s": expected, "expected_source": source}
        )
    return out


def time_left(planned: list[dict[str, Any]], steps: list[dict[str, Any]], now_t: float | None) -> dict[str, Any]:
    """What is left of the planned steps given the journalled step attempts and the run clock.

    Returns total, done, the index (1-based) and name of the step in progress, the run time left
    (`left_s`, a lower bound when `unknown` > 0 steps have no expectation) and `overrun` when the
    step in progress has already taken longer than expected."""
    latest: dict[str, dict[str, Any]] = {}
    for s in steps:  # the last attempt of each step counts (a resumed run reruns the cut one)
        latest[s["nodeid"]] = s
    known = [p["nodeid"] for p in planned]
    extra = [nid for nid in latest if nid not in known]  # steps run that the plan list does not know
    total = len(planned) + len(extra)
    done = sum(1 for s in latest.values() if s["ended_wall"] is not None and s["outcome"] != INTERRUPTED)
    current = next((s for s in reversed(steps) if s["ended_wall"] is None), None)
    left = 0.0
    unknown = 0
    overrun = False
    in_step = None
    for p in planned:
        s = latest.get(p["nodeid"])
        expected = p.get("expected_s")
        if s is not None and s["ended_wall"] is not None and s["outcome"] != INTERRUPTED:
            continue
        if expected is None:
            unknown += 1
            continue
        if s is not None and s is current and now_t is not None and s["started_t"] is not None:
            in_step = max(now_t - float(s["started_t"]), 0.0)
            if in_step > expected:
                overrun = True
            left += max(expected - in_step, 0.0)
        else:
            left += expected
    index = None
    if current is not None:
        order = known + extra
        index = order.index(current["nodeid"]) + 1 if current["nodeid"] in order else None
    return {
        "total": total,
        "done": done,
        "index": index,
        "current": current["name"] if current else None,
        "clauses": current["clauses"] if current else [],
        "left_s": left,
        "unknown": unknown,
        "overrun": overrun,
        "in_step_s": in_step,
    }


def fmt_duration(seconds: float | None) -> str:
    """3 d 4 h, 2 h 05 min, 4 min 10 s, 12.5 s."""
    if seconds is None:
        return "-"
    s = max(float(seconds), 0.0)
    if s >= 86400:
        return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"
    if s >= 3600:
        return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
    if s >= 60:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
