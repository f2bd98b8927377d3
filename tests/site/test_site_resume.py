"""Resume of a site acceptance (issue 14, "over days, resuming after the laptop sleeps").

A site run is SIGKILLed during the capacity cycles (step 4: the journal shows a cycle measured),
then resumed with `--resume RUN_ID`: the steps completed before the kill keep their results, step 4
reruns from its start, the run ends with the same verdicts as an uninterrupted run of the same
seed, and the report shows both sessions. The simulated site restarts from its configured initial
state in the new session (instruments/sim/site/station.py), as the plan's steps each bring the
site to their own starting state from what they read over SunSpec.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import plan_fork

from bench.journal import ABORTED, COMPLETED, INTERRUPTED, Journal
from instruments.sim.site.scenarios import LIMITS, ROOT, outcome, write_station

CUT = "test_04_reference_performance"


def _cmd(reports, station, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "test_plans" / "site_acceptance"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "-o",
        "addopts=",
        "--report-dir",
        str(reports),
        "--station",
        str(station),
        "--limits",
        str(LIMITS),
        "--dut",
        "SITE-SIM-0001",
        *extra,
    ]


def _kill_during_capacity_cycles(reports, station) -> str:
    proc = subprocess.Popen(
        _cmd(reports, station, "--operator", "A. Night"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    db = reports / "journal.sqlite"
    try:
        for _ in range(3000):  # bounded (5 min): until step 4 has journalled its first capacity cycle
            if db.exists():
                try:
                    with sqlite3.connect(db) as con:
                        n = con.execute(
                            "SELECT COUNT(*) FROM measurements WHERE name = 'rpt.discharge_energy'"
                        ).fetchone()[0]
                    if n >= 1:
                        break
                except sqlite3.OperationalError:
                    pass
            if proc.poll() is not None:
                raise AssertionError("the run ended before the capacity cycles were cut")
            time.sleep(0.1)
        else:
            raise AssertionError("the capacity cycles never started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    j = Journal(db)
    try:
        run = j.runs(1)[0]
    finally:
        j.close()
    assert run["status"] == ABORTED
    return run["run_id"]


def test_site_run_killed_in_the_capacity_cycles_resumes_to_the_uninterrupted_verdicts(tmp_path, healthy_run):
    reports = tmp_path / "reports"
    station = write_station(tmp_path, [])
    run_id = _kill_during_capacity_cycles(reports, station)
    j = Journal(reports / "journal.sqlite")
    try:
        first = j.steps(run_id)
        kept = [(m["name"], m["value"]) for m in j.measurements(run_id) if not m["step"].endswith(CUT)]
    finally:
        j.close()
    done_before = [s["name"] for s in first if s["name"] != CUT]
    assert done_before == [
        "test_01_communication_and_identity",
        "test_02_configuration_as_approved",
        "test_03_sign_conventions_and_metering",
    ]
    assert [s["name"] for s in first][-1] == CUT
    done = plan_fork.run_command(  # to its end in a process of its own, forked from the suite's server
        _cmd(reports, station, "--resume", run_id, "--operator", "B. Morning"),
        cwd=ROOT,
        env=dict(os.environ),
        timeout=900,
    )
    res = outcome(reports)
    run = res["run"]
    assert run["run_id"] == run_id and run["status"] == COMPLETED, done.stdout[-3000:]
    j = Journal(reports / "journal.sqlite")
    try:
        steps = j.steps(run_id)
        sessions = j.sessions(run_id)
        meas = j.measurements(run_id)
    finally:
        j.close()
    names = [s["name"] for s in steps]
    for name in done_before:  # completed steps are not rerun, and their results stand
        assert names.count(name) == 1
    assert [
        (m["name"], m["value"])
        for m in meas
        if m["session"] == 1 and not m["superseded"] and not m["step"].endswith(CUT)
    ] == kept
    cut = [s for s in steps if s["name"] == CUT]
    assert [s["outcome"] for s in cut][0] == INTERRUPTED and [s["session"] for s in cut] == [1, 2]
    # the cut step's partial cycle is superseded; the rerun measured a complete set in session 2
    standing = [m for m in meas if m["name"] == "rpt.discharge_energy" and not m["superseded"]]
    assert standing and {m["session"] for m in standing} == {2} and len(standing) == 3
    assert [s["n"] for s in sessions] == [1, 2] and sessions[0]["end_status"] == ABORTED
    assert sessions[1]["operator"] == "B. Morning"
    # same verdicts as the uninterrupted run of the same seed, step by step and overall
    verdicts = {n: s["verdict"] for n, s in res["steps"].items()}
    assert verdicts == {n: s["verdict"] for n, s in healthy_run["steps"].items()}
    assert run["verdict"] == healthy_run["run"]["verdict"] == "PASS", res["bad"]
    record = json.loads((reports / run_id / "record.json").read_text())
    assert [s["n"] for s in record["sessions"]] == [1, 2]
    html = (reports / run_id / "report.html").read_text()
    assert "Sessions (the run was interrupted and resumed)" in html and "B. Morning" in html
