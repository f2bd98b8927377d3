"""A simulated site served on loopback for driver tests: plant, controller and meter servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plan_fork
import pytest

from instruments.sim.site.modbus_tcp import SiteModbusServer
from instruments.sim.site.plant import SitePlant
from instruments.sim.site.scenarios import outcome, run_plan, write_station
from instruments.sim.site.site_sunspec import MeterSunSpec
from instruments.sim.site.station import controller_server


class Served:
    def __init__(self, plant: SitePlant) -> None:
        self.plant = plant
        self.lock = threading.RLock()
        self.controller = controller_server(plant, self.lock).start()
        self.meter = SiteModbusServer({1: MeterSunSpec(plant).image}, lock=self.lock).start()

    def sleep(self, q: Any) -> None:
        """Clock-like: a driver waiting (attach_clock) advances the plant."""
        self.step(float(q.to("s").magnitude))

    def step(self, seconds: float) -> None:
        with self.lock:
            self.plant.step(seconds)

    def stop(self) -> None:
        self.controller.stop()
        self.meter.stop()


@pytest.fixture
def served() -> Iterator[Any]:
    """`served(overrides=None)` -> a running site (plant config overrides); stopped after the test."""
    started: list[Served] = []

    def _make(overrides: dict[str, Any] | None = None) -> Served:
        s = Served(SitePlant(overrides, seed=1))
        started.append(s)
        return s

    yield _make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def healthy_run(tmp_path_factory) -> dict[str, Any]:
    """One uninterrupted run of the whole plan on the healthy simulated site (seed of sim_site.toml),
    with the plant's energy ledger: every test judging the healthy run reads this one."""
    tmp: Path = tmp_path_factory.mktemp("healthy")
    station = write_station(tmp, [], ledger="ledger.json")
    proc = run_plan(tmp / "reports", station, runner=plan_fork.run)
    res = outcome(tmp / "reports")
    ledger_file = tmp / "ledger.json"
    res.update(
        proc=proc, reports=tmp / "reports", ledger=json.loads(ledger_file.read_text()) if ledger_file.exists() else None
    )
    return res
