"""The smoke plan end to end on the simulated station, and a SIGKILL in the middle of it."""

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import plan_fork

from bench.journal import ABORTED, COMPLETED, Journal

ROOT = Path(__file__).resolve().parents[2]


def run_plan(tmp_path, *extra, wait=True):
    """`python -m pytest` on the smoke plan: forked from the suite's server when the test only waits for it,
    a process of its own when the test watches it (and kills it)."""
    args = [
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
        "--dut",
        "T-1",
        *extra,
    ]
    if not wait:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    return plan_fork.run(args, cwd=ROOT, env=dict(os.environ), timeout=300)


def test_smoke_plan_passes_and_writes_json_and_html_reports(tmp_path):
    proc = run_plan(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    j = Journal(tmp_path / "journal.sqlite")
    run = j.runs(1)[0]
    assert run["status"] == COMPLETED and run["verdict"] == "PASS"
    names = [m["name"] for m in j.measurements(run["run_id"])]
    assert names[:3] == ["bms.contactor_closed", "bms.cell_voltage_spread", "pack.ocv"]
    assert {"charge.throughput", "discharge.max_cell_temperature", "discharge.bms_current_agreement"} <= set(names)
    out = tmp_path / run["run_id"]
    record = json.loads((out / "record.json").read_text())
    assert record["run"]["dut_serial"] == "T-1" and record["limit_sets"][0]["id"] == "smoke-lfp-16s"
    html = (out / "report.html").read_text()
    for text in ("T-1", "sim-bench", "smoke-lfp-16s", record["limit_sets"][0]["sha256"], "pack.ocv", "PASS"):
        assert text in html
    # one virtual hour of charge, in far less wall time (the clock is virtual)
    step = [s for s in j.steps(run["run_id"]) if s["name"] == "test_one_hour_cc_cv_charge"][0]
    virtual = step["ended_t"] - step["started_t"]
    wall = (
        dt.datetime.fromisoformat(step["ended_wall"].replace("Z", "+00:00"))
        - dt.datetime.fromisoformat(step["started_wall"].replace("Z", "+00:00"))
    ).total_seconds()
    print(f"one-hour charge: {virtual:.0f} s virtual in {wall:.3f} s wall ({virtual / max(wall, 1e-6):.0f}x)")
    assert virtual >= 3600
    assert wall < virtual / 10  # generous: the speed figure itself is in benchmarks/plant_speed.py


def test_sigkill_mid_plan_keeps_earlier_measurements_and_reads_back_aborted(tmp_path):
    limits = tmp_path / "long.toml"
    text = (ROOT / "limits" / "smoke_lfp.toml").read_text().replace('value = "1 h"', 'value = "4 h"')
    limits.write_text(text)
    proc = run_plan(tmp_path, "--limits", str(limits), wait=False)
    db = tmp_path / "journal.sqlite"
    try:
        for _ in range(600):  # bounded wait (60 s) for the first measurement to be committed
            if db.exists():
                try:
                    with sqlite3.connect(db) as con:
                        if con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] >= 3:
                            break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.1)
        else:
            raise AssertionError("the plan never recorded its first measurement")
        time.sleep(0.3)  # into the long charge step
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    j = Journal(db)
    run = j.runs(1)[0]
    assert run["status"] == ABORTED and run["verdict"] == "ABORTED"
    names = [m["name"] for m in j.measurements(run["run_id"])]
    assert names[:3] == ["bms.contactor_closed", "bms.cell_voltage_spread", "pack.ocv"]
