"""A full single-module intake (days of virtual time) on the plan's default 30 s station: it completes,
covers the 48 h self-discharge window, attaches its passport. Its wall and CPU time are printed, not
asserted (the speed figure is benchmarks/module_intake.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


def test_full_intake_on_the_default_station_completes(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with (tmp_path / "run.log").open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", str(ROOT / "test_plans" / "module_intake"), "-q",
                                 "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(ROOT), "--report-dir",
                                 str(tmp_path)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        _, _, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    j = Journal(tmp_path / "journal.sqlite")
    try:
        run = j.runs(1)[0]
        virtual_h = max(s["ended_t"] or 0.0 for s in j.steps(run["run_id"])) / 3600
        grade = next(e["data"] for e in j.events(run["run_id"]) if e["kind"] == "grade")
    finally:
        j.close()
    print(f"\nfull module intake: {virtual_h:.1f} h virtual in {wall:.1f} s wall, "
          f"{usage.ru_utime + usage.ru_stime:.1f} s CPU (grade {grade['grade']} by {grade['rule']})")
    assert run["status"] == "COMPLETED", (tmp_path / "run.log").read_text(encoding="utf-8")[-2000:]
    assert grade["grade"] == "A", grade
    assert virtual_h > 48
    assert (tmp_path / run["run_id"] / "attachments" / "passport.json").exists()
