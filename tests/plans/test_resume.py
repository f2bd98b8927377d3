"""Resume (issue 14, the laptop workflow): a run killed mid-step continues in a new session with the
completed steps kept, the cut step rerun from its start, and the report showing both sessions."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import plan_fork

from bench.journal import ABORTED, COMPLETED, INTERRUPTED, Journal

ROOT = Path(__file__).resolve().parents[2]


def _cmd(tmp_path: Path, limits: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "test_plans" / "smoke"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "-o",
        "addopts=",
        "--report-dir",
        str(tmp_path),
        "--limits",
        str(limits),
        "--operator",
        "A. Night",
        *extra,
    ]


def _kill_during_charge(tmp_path: Path, limits: Path) -> str:
    proc = subprocess.Popen(
        _cmd(tmp_path, limits, "--dut", "RES-1"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    db = tmp_path / "journal.sqlite"
    try:
        for _ in range(600):  # bounded (60 s): wait until the charge step has started and logged samples
            if db.exists():
                try:
                    with sqlite3.connect(db) as con:
                        started = con.execute(
                            "SELECT COUNT(*) FROM steps WHERE name = 'test_one_hour_cc_cv_charge'"
                        ).fetchone()[0]
                        samples = con.execute("SELECT COUNT(*) FROM series").fetchone()[0]
                    if started and samples > 10:
                        break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.1)
        else:
            raise AssertionError("the charge step never started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = Journal(db).runs(1)[0]
    assert run["status"] == ABORTED
    return run["run_id"]


def test_killed_run_resumes_keeping_completed_steps_and_rerunning_the_cut_one(tmp_path):
    limits = tmp_path / "long.toml"
    limits.write_text((ROOT / "limits" / "smoke_lfp.toml").read_text().replace('value = "1 h"', 'value = "2 h"'))
    run_id = _kill_during_charge(tmp_path, limits)
    before = Journal(tmp_path / "journal.sqlite").measurements(run_id)
    kept_names = [
        m["name"] for m in before if m["step"].endswith(("test_bms_link_and_contactor", "test_open_circuit_voltage"))
    ]
    # resume with a limit set of other bytes: refused, naming the limit sets
    other = tmp_path / "other.toml"
    other.write_text(limits.read_text() + "\n# changed\n")
    # the resumes run to their end in processes of their own, forked from the suite's server
    refused = plan_fork.run_command(
        _cmd(tmp_path, other, "--resume", run_id), cwd=ROOT, env=dict(os.environ), timeout=300
    )
    assert refused.returncode == 4 and "cannot resume run" in refused.stdout and "limit sets" in refused.stdout
    # resume for real, with the charge back at one hour: same bytes are required, so use the first file
    done = plan_fork.run_command(
        _cmd(tmp_path, limits, "--resume", run_id, "--operator", "B. Morning"),
        cwd=ROOT,
        env=dict(os.environ),
        timeout=600,
    )
    j = Journal(tmp_path / "journal.sqlite")
    run = j.run(run_id)
    assert len(j.runs(10)) == 1, "a resume continues the same run"
    steps = j.steps(run_id)
    names = [s["name"] for s in steps]
    assert names.count("test_bms_link_and_contactor") == 1 and names.count("test_open_circuit_voltage") == 1
    charge = [s for s in steps if s["name"] == "test_one_hour_cc_cv_charge"]
    assert [s["outcome"] for s in charge][0] == INTERRUPTED and [s["session"] for s in charge] == [1, 2]
    sessions = j.sessions(run_id)
    assert [s["n"] for s in sessions] == [1, 2] and sessions[0]["end_status"] == ABORTED
    assert sessions[1]["operator"] == "B. Morning"
    measurements = j.measurements(run_id)
    assert [m["name"] for m in measurements if m["session"] == 1 and not m["superseded"]] == kept_names
    # virtual time continues after the first session's last journalled instant
    t_first = max(m["t"] for m in measurements if m["session"] == 1)
    assert min(m["t"] for m in measurements if m["session"] == 2) > t_first
    assert run["status"] in (COMPLETED, "STOPPED"), done.stdout[-3000:]
    record = json.loads((tmp_path / run_id / "record.json").read_text())
    assert [s["n"] for s in record["sessions"]] == [1, 2]
    html = (tmp_path / run_id / "report.html").read_text()
    assert "Sessions (the run was interrupted and resumed)" in html and "B. Morning" in html
    # a completed run cannot be resumed again
    again = plan_fork.run_command(
        _cmd(tmp_path, limits, "--resume", run_id), cwd=ROOT, env=dict(os.environ), timeout=300
    )
    assert again.returncode == 4 and "only an interrupted run" in again.stdout
