"""Child process of test_kill: captures a counter at 100 Hz of wall time until it is killed.

Usage: python kill_child.py FOLDER. Prints the last value read, every 50 ms, flushed, so the parent
knows a sample that certainly existed before it sent SIGKILL.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.clock import RealClock
from bench.journal import Journal
from bench.telemetry.capture import Capture
from bench.telemetry.config import parse_telemetry
from bench.units import Q_


class Counter:
    """A polled instrument whose n-th reading is n volts."""

    def __init__(self) -> None:
        self.n = -1

    def read(self) -> object:
        self.n += 1
        return Q_(self.n, "V")


def main(folder: str) -> None:
    base = Path(folder)
    journal = Journal(base / "journal.sqlite")
    journal.start_run("R")
    errors: list[object] = []
    settings = parse_telemetry(
        {
            "rate": "100 Hz",
            "flush": "0.5 s",
            "detectors": {"enabled": False},
            "channels": {"counter": {"role": "dev", "read": "read", "unit": "V", "resolution": "1 V"}},
        },
        "kill-test",
        errors,
    )
    assert settings is not None and not errors, errors
    dev = Counter()
    Capture(
        settings, journal=journal, run_id="R", run_dir=base / "R", clock=RealClock(), instruments={"dev": dev}
    ).start()
    for _ in range(1200):  # bounded: 60 s
        time.sleep(0.05)
        print(dev.n, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
