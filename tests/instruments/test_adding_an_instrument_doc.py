"""docs/adding-an-instrument.md stays true: its code blocks are the files of a working instrument.

The page's fenced blocks whose first line names a file (`# instruments/keysight_n5767a.py`) are
written to a temporary folder; the driver and simulator are loaded as the modules the page
names, the page's wire test runs against them, and its station file is checked and started
as a simulated station with the driver opened on it, as `bench run` would.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from bench.clock import SimClock
from bench.station import load_station
from bench.units import Q_
from instruments.capabilities import PowerSupply
from instruments.sim.station import SimulatedStation

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding-an-instrument.md"
BLOCK = re.compile(r"```(?:python|toml)\n# (\S+)\n(.*?)```", re.S)
MODULES = ("instruments.keysight_n5767a", "instruments.sim.scpi_n5767a")


def _files() -> dict[str, str]:
    return {path: body for path, body in BLOCK.findall(DOC.read_text())}


@pytest.fixture
def example(tmp_path: Path):
    files = _files()
    for rel, body in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    assert not any(m in sys.modules for m in MODULES), "the example must not exist in the repository"
    try:
        for name in MODULES:
            path = tmp_path / (name.replace(".", "/") + ".py")
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        yield tmp_path
    finally:
        for name in MODULES:
            sys.modules.pop(name, None)


def test_the_page_holds_the_four_files_of_the_example() -> None:
    assert set(_files()) == {
        "instruments/keysight_n5767a.py",
        "instruments/sim/scpi_n5767a.py",
        "tests/instruments/test_keysight_n5767a.py",
        "stations/sim_n5767a.toml",
    }


def test_the_pages_wire_test_passes_against_the_pages_simulator(example: Path) -> None:
    test_file = example / "tests" / "instruments" / "test_keysight_n5767a.py"
    code = pytest.main(
        [
            str(test_file),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:ess_bench",
            "-o",
            "addopts=",
            "--rootdir",
            str(example),
        ]
    )
    assert code == 0
    sys.modules.pop("test_keysight_n5767a", None)


def test_the_pages_station_entry_loads_and_runs_simulated(example: Path) -> None:
    station = load_station(example / "stations" / "sim_n5767a.toml")
    role = station.roles["psu"]
    assert role.driver == "instruments.keysight_n5767a:KeysightN5767A" and role.model == "N5767A"
    clock = SimClock(max_step=Q_(1, "s"))
    sim = SimulatedStation(station, clock)
    resources = sim.start()
    try:
        cls = sys.modules["instruments.keysight_n5767a"].KeysightN5767A
        psu = cls(resources["psu"], name="psu", timeout=role.timeout, **role.options)
        try:
            assert isinstance(psu, PowerSupply) and psu.fixture == "psu"
            assert psu.identity() == "Keysight Technologies,N5767A,US17250123,D.01.08"
            psu.set_voltage(Q_(12, "V"))
            assert psu.safe_state() == "output off (confirmed OUTP? = 0)"
        finally:
            psu.close()
    finally:
        sim.stop()
