"""Polled channels: scalar and block reads on the clock, gaps for failed reads, detectors fed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.clock import SimClock
from bench.journal import Journal
from bench.telemetry.capture import Capture
from bench.telemetry.config import parse_telemetry
from bench.telemetry.reader import StoreReader
from bench.units import Q_


class Daq:
    def __init__(self) -> None:
        self.n = 0

    def cells(self) -> object:
        self.n += 1
        v = 3.3 + 0.001 * np.arange(8)
        if self.n > 600:  # from 30 s on, cell 6 sags 60 mV
            v[6] -= 0.060
        return Q_(v * 1000.0, "mV")

    def flaky(self) -> object:
        if self.n % 10 == 0:
            raise TimeoutError("no answer")
        return Q_(self.n, "A")


def test_block_and_scalar_channels_are_stored_with_gaps_for_failed_reads(tmp_path: Path) -> None:
    errors: list[object] = []
    settings = parse_telemetry(
        {
            "rate": "20 Hz",
            "channels": {
                "daq.cell": {
                    "role": "daq",
                    "read": "cells",
                    "unit": "V",
                    "resolution": "1 mV",
                    "count": 8,
                    "family": "cell_voltage",
                    "index": 0,
                },
                "daq.flaky": {"role": "daq", "read": "flaky", "unit": "A", "resolution": "1 A"},
            },
        },
        "test",
        errors,
    )
    assert not errors
    journal = Journal(tmp_path / "journal.sqlite")
    journal.start_run("R")
    clock = SimClock()
    events: list[tuple[str, str]] = []
    cap = Capture(
        settings,
        journal=journal,
        run_id="R",
        run_dir=tmp_path / "R",
        clock=clock,
        instruments={"daq": Daq()},
        event=lambda k, m, d: events.append((k, m)),
    ).start()
    cap.set_step("plan.py::test_one")
    clock.sleep(Q_(60, "s"))
    agg = cap.reader().aggregate("daq.cell[6]", "min")
    cap.set_step(None)
    figures = cap.stop()
    reader = StoreReader(journal, "R")
    t, v = reader.raw("daq.cell[3]")
    assert t.size == figures["polled_ticks"] == 1200 and np.allclose(v, 3.303)
    assert agg == pytest.approx(3.246)  # read live during the step, before the files were converted
    t, v = reader.raw("daq.flaky")
    assert t.size == 1200 - 120 and np.all(v % 10 != 0)  # every 10th read failed: a gap, not a zero
    assert sum("daq.flaky" in m for _, m in events) == 1 and figures["poll_failures"]["daq.flaky"] == 120
    flags = [e for e in journal.events("R") if e["kind"] == "anomaly"]
    # the 60 mV jump is a dV/dt spike at once (1 s persist), then a deviation (5 s persist)
    assert [(f["data"]["detector"], f["data"]["cell"], f["step"]) for f in flags] == [
        ("rate", 6, "plan.py::test_one"),
        ("deviation", 6, "plan.py::test_one"),
    ]
    assert 31.0 <= flags[0]["t"] <= 31.1 and 35.0 <= flags[1]["t"] <= 35.1
    journal.close()
