"""A capture killed with SIGKILL loses at most the last second of samples (the flush interval)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.journal import Journal
from bench.telemetry.reader import StoreReader
from bench.telemetry.store import recover

ROOT = Path(__file__).resolve().parents[2]
RATE_HZ = 100


def test_sigkill_mid_capture_loses_at_most_one_second(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("kill_child.py")), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    last = -1
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # bounded: until 3 s of samples are known to exist
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().lstrip("-").isdigit():
                last = int(line)
                if last >= 3 * RATE_HZ:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert last >= 3 * RATE_HZ, "".join(lines[-20:])
    assert proc.returncode == -signal.SIGKILL
    journal = Journal(tmp_path / "journal.sqlite")
    notes: list[str] = []
    recover(tmp_path / "R", journal, "R", on_error=lambda m, d: notes.append(m))
    reader = StoreReader(journal, "R")
    t, v = reader.raw("counter")
    # every sample from the first on, in order, no hole; at most one second short of the last one printed
    assert np.array_equal(v, np.arange(v.size)), notes
    assert v.size >= last + 1 - RATE_HZ, (v.size, last)
    assert np.all(np.diff(t) > 0)
    assert reader.verify(deep=True) == []
    print(
        f"killed after sample {last}; {v.size} samples recovered ({last + 1 - v.size} lost, "
        f"{(last + 1 - v.size) / RATE_HZ:.2f} s)"
    )
    journal.close()
