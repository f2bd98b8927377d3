"""A full single-module intake (days of virtual time) in simulation: report its wall time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_full_intake_wall_time(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "test_plans" / "module_intake"), "-q",
                           "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(ROOT),
                           "--report-dir", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    wall = time.monotonic() - t0
    import sqlite3

    db = sqlite3.connect(tmp_path / "journal.sqlite")
    run_id, status = db.execute("SELECT run_id, status FROM runs").fetchone()
    virtual_h = db.execute("SELECT MAX(ended_t) FROM steps WHERE run_id = ?", (run_id,)).fetchone()[0] / 3600
    grade = json.loads(db.execute("SELECT data_json FROM events WHERE kind = 'grade'").fetchone()[0])
    print(f"\nfull module intake: {virtual_h:.1f} h virtual in {wall:.1f} s wall "
          f"(grade {grade['grade']} by {grade['rule']}); target < 60 s")
    assert status == "COMPLETED", proc.stdout[-2000:]
    assert virtual_h > 48
    assert (tmp_path / run_id / "attachments" / "passport.json").exists()
