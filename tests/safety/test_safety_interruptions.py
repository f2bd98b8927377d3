"""Interrupt simulated runs at seeded random points (Ctrl-C, SIGTERM, an instrument that stops
answering, an exception in the plan) and check that the bench always ends safe and journalled:
supply and load outputs off, chamber set point back at ambient, every measurement the plan took
before the interruption in the journal, the run closed (ABORTED when the interruption fired).

Each point is a process of its own (real signals, a real process: forked from the suite's plan
server, tests/plan_fork.py, which has the bench imported already), run in parallel; three at a
time even on two cores, because a point with a silent instrument spends most of its time waiting. Points
are drawn with a fixed seed within virtual-time windows of each plan (the parts of the plan with
outputs on that the sweep can afford in CI; the whole plan is covered by the healthy-run tests).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import plan_fork
import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SEED = 20261123
KINDS = ("sigint", "sigterm", "mute", "exception")
# plan folder -> (points, virtual-time windows in s, role muted, mute seconds (None: for good)).
# A window is (step, lo, hi): seconds after that step starts (step None: after the run starts).
# The safety chain loses its gas detector for good (the link interlock must catch it and every
# output must still be made safe); the smoke plan's supply hangs for a while and comes back (the
# safe-state retries must get through once it answers again); the module intake's load hangs the
# same way. Intake points fall, in turn, in its capacity cycle, its pulse tests and its provoked
# protective functions (steps 5, 6 and 8 of a healthy run, which last about 32,000 s, 34,000 s and
# 15 s; the 48 h self-discharge rest between them has every output off and is left out). They are
# anchored to those steps, not to absolute times: absolute windows had drifted out of step 8 (which
# became 15 s long when OV/UV were provoked by a cell-voltage step), so a third of the intake points
# fired after the plan had ended; every point must now fire. The intake runs on its sweep station
# (sim_module_intake_fast.toml: the same plan polls, rests in longer steps).
POINTS = int(os.environ.get("ESS_SWEEP_POINTS", "52"))
INTAKE_POINTS = int(os.environ.get("ESS_SWEEP_INTAKE_POINTS", "12"))
GARBAGE_POINTS = int(os.environ.get("ESS_SWEEP_GARBAGE_POINTS", "8"))  # [safety] garbage: built-in defaults hold
Windows = tuple[tuple[str | None, float, float], ...]
PLANS: dict[str, tuple[int, Windows, str, tuple[float, float] | None]] = {
    "test_plans/safety_chain": (POINTS // 2, ((None, 1.0, 2400.0),), "gas", None),
    "test_plans/smoke": (POINTS - POINTS // 2, ((None, 1.0, 1200.0),), "psu", (1.0, 3.0)),
    "test_plans/module_intake": (
        INTAKE_POINTS,
        (
            ("test_05_capacity", 40.0, 31000.0),
            ("test_06_resistance_and_pulse_power", 40.0, 33000.0),
            ("test_08_bms_protective_functions", 0.5, 14.5),
        ),
        "load",
        (1.0, 3.0),
    ),
}
STATIONS = {"test_plans/module_intake": "stations/sim_module_intake_fast.toml"}  # others: the plan's own


def _points() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    pts = []
    for plan, (n, windows, role, mute) in PLANS.items():
        for i in range(n):
            kind = KINDS[i % len(KINDS)]
            step, lo, hi = windows[(i // len(KINDS)) % len(windows)]
            at_s = round(rng.uniform(lo, hi), 2)
            mute_s = None if mute is None else round(rng.uniform(*mute), 2)
            point = {"plan": plan, "kind": kind, "at_s": at_s, "step": step, "role": role, "mute_s": mute_s}
            pts.append({**point, "id": f"{plan}#{i}"})
    for i in range(GARBAGE_POINTS):  # alternately the smoke plan (supply hangs) and the safety chain (gas lost)
        plan = ("test_plans/smoke", "test_plans/safety_chain")[i % 2]
        _n, windows, role, mute = PLANS[plan]
        _step, lo, hi = windows[0]
        at_s = round(rng.uniform(lo, hi), 2)
        mute_s = None if mute is None else round(rng.uniform(*mute), 2)
        pts.append(
            {
                "plan": plan,
                "kind": KINDS[(i // 2) % len(KINDS)],
                "at_s": at_s,
                "role": role,
                "mute_s": mute_s,
                "garbage_safety": True,
                "id": f"{plan}#garbage{i}",
            }
        )
    return pts


def _run(point: dict[str, Any], tmp: Path) -> dict[str, Any]:
    work = tmp / point["id"].replace("/", "_").replace("#", "_")
    work.mkdir(parents=True)
    out = work / "outcome.json"
    env = dict(
        os.environ,
        ESS_INTERRUPT=json.dumps({**point, "out": str(out)}),
        PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    args = [
        "-q",
        "-p",
        "interrupt_agent",
        point["plan"],
        "--report-dir",
        str(work),
        "-p",
        "no:randomly",
    ]
    if point["plan"] in STATIONS:
        args += ["--station", str(ROOT / STATIONS[point["plan"]])]
    try:
        proc = plan_fork.run(args, cwd=ROOT, env=env, timeout=240)
    except subprocess.TimeoutExpired:
        return {"point": point, "ok": False, "why": ["run did not finish within 240 s (hung)"]}
    if not out.exists():
        return {
            "point": point,
            "ok": False,
            "why": [f"no outcome written (exit {proc.returncode})", proc.stdout[-1500:], proc.stderr[-1500:]],
        }
    res = json.loads(out.read_text())
    why = []
    if not res["fired"]:
        why.append(f"the interruption never fired: the plan ended before {point['at_s']} s (window out of the plan)")
    if res["supply_on"]:
        why.append("supply output still on")
    if res["load_on"]:
        why.append("load input still on")
    if abs(res["chamber_setpoint_degC"] - res["ambient_degC"]) > 0.5:
        why.append(f"chamber set point {res['chamber_setpoint_degC']} not ambient")
    journal = list(map(tuple, res["journalled"]))
    for m in map(tuple, res["taken"]):
        if m in journal:
            journal.remove(m)
        else:
            why.append(f"measurement {m} missing from the journal")
    run = res["run"] or {}
    if run.get("status") not in ("ABORTED", "COMPLETED", "STOPPED"):
        why.append(f"run status {run.get('status')}")
    if point.get("garbage_safety") and not any(k == "safety_fallback" for k, _m in res["events"]):
        why.append("garbage [safety] values were not journalled as replaced by built-in defaults")
    if point["kind"] == "mute" and point["mute_s"] is None and res["fired"]:
        if not any(k == "safe_state_failed" and point["role"] in m for k, m in res["events"]):
            why.append(f"silent {point['role']} not reported as safe_state_failed")
    if res["fired"] and (point["kind"] != "mute" or point["mute_s"] is None) and run.get("status") != "ABORTED":
        why.append(f"interruption fired but run is {run.get('status')}")
    return {"point": point, "ok": not why, "why": why, "fired": bool(res["fired"]), "status": run.get("status")}


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "kill"), reason="needs POSIX signals")
def test_interruption_sweep(tmp_path: Path) -> None:
    points = [p for p in _points() if (ROOT / p["plan"]).exists()]
    assert len(points) >= min(50, POINTS) + INTAKE_POINTS + GARBAGE_POINTS
    workers = max(3, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda p: _run(p, tmp_path), points))
    passed = sum(r["ok"] for r in results)
    summary = {
        "seed": SEED,
        "points": len(results),
        "passed": passed,
        "fired": sum(bool(r.get("fired")) for r in results),
        "by_kind": {k: sum(r["ok"] for r in results if r["point"]["kind"] == k) for k in KINDS},
        "failures": [r for r in results if not r["ok"]],
    }
    report = ROOT / "reports" / "safety_interruptions.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(summary, indent=1))
    print(f"\ninterruption sweep: {passed} of {len(results)} passed (seed {SEED}); details in {report}")
    assert passed == len(results), json.dumps(summary["failures"][:3], indent=1)[:4000]
