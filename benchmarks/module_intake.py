"""Wall time of a full intake of one module in simulation (target < 60 s).

A full intake covers days of virtual time: OCV rest, chamber stabilisation, a CC-CV charge and
C/5 discharge, resistance and HPPC pulses at three SOC points, 24 h depolarisation plus a 24 h
self-discharge window, and four BMS protective-function provocations. Prints virtual hours,
wall seconds and the speed-up.

    .venv/bin/python benchmarks/module_intake.py [--station FILE --limits FILE]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--station", default="stations/sim_module_intake.toml")
    ap.add_argument("--limits", default="limits/module_intake_lfp.toml")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "test_plans/module_intake", "-q", "-p", "no:cacheprovider",
                               "-o", "addopts=", "--rootdir", str(ROOT), "--station", args.station, "--limits",
                               args.limits, "--report-dir", tmp], cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
        db = sqlite3.connect(Path(tmp) / "journal.sqlite")
        run_id, status = db.execute("SELECT run_id, status FROM runs").fetchone()
        virtual_s = db.execute("SELECT MAX(ended_t) FROM steps WHERE run_id = ?", (run_id,)).fetchone()[0] or 0.0
        row = db.execute("SELECT data_json FROM events WHERE kind = 'grade'").fetchone()
        grade = json.loads(row[0]) if row else {}
        steps = db.execute("SELECT name, started_t, ended_t FROM steps WHERE run_id = ? ORDER BY id", (run_id,))
        print(f"module intake benchmark ({args.station}, {args.limits})")
        for name, t0s, t1s in steps:
            print(f"  {name:<40} {((t1s or 0) - (t0s or 0)) / 3600:7.2f} h virtual")
        print(f"run status {status}, grade {grade.get('grade', '-')} by {grade.get('rule', '-')}")
        print(f"virtual time {virtual_s / 3600:.1f} h, wall time {wall:.1f} s, speed-up {virtual_s / wall:,.0f}x "
              f"(target < 60 s: {'met' if wall < 60 else 'NOT met'})")
        if proc.returncode not in (0, 1):
            print(proc.stdout[-3000:], proc.stderr[-2000:])
        return 0 if status == "COMPLETED" else 1


if __name__ == "__main__":
    raise SystemExit(main())
