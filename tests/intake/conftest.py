"""Ground truth for intake batch tests: what a simulated module IS, from the simulator's configuration.

Why: a grade the plan derives from its own measurements proves nothing about the plan unless it
is compared with what the module really is. The truth here is computed from the plant the run
was built from (the module's station file: preset, overrides, faults, seed), never from the
plan's measurements: the weakest series element's capacity (SOH), the mean cell R0 against the
chemistry's beginning-of-life R0 (resistance growth), the worst cell's OCV drift over the plan's
self-discharge window from its leak and self-discharge currents, and the cell OCV spread at
receipt. The plant is built exactly as the run builds it (SimulatedStation), and not started.

`allowed_grades` applies the limit set's own rule table to these truths, with the stated
tolerance at each grade boundary: a truth within the tolerance of a band edge admits both
neighbouring bands, and the grade may be any the table gives for those combinations.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.clock import SimClock
from bench.journal import Journal
from bench.limits import LimitSet, load_limit_set
from bench.station import load_station
from bench.units import Q_
from instruments.sim.station import SimulatedStation
from test_plans.module_intake.grading import Result, evaluate, load_rule_table

# Tolerance at grade boundaries (absolute, in the measurement's unit; the rate adds a relative part).
TOLERANCE = {"capacity.soh": 1.5, "dcir.growth": 3.0, "ocv.cell_spread": 5.0}
RATE_TOLERANCE = (0.3, 0.20)  # self_discharge.cell_rate: 0.3 mV/day + 20 % of the truth
GRADED = ("capacity.soh", "dcir.growth", "self_discharge.cell_rate", "ocv.cell_spread")


@dataclass(frozen=True)
class Truth:
    chemistry: str
    rated_Ah: float
    soh: float  # %
    growth: float  # %
    cell_rate: float  # mV/day, worst cell over the plan's self-discharge window
    cell_spread: float  # mV at receipt
    cell_min: float  # V at receipt

    def value(self, name: str) -> float:
        return {
            "capacity.soh": self.soh,
            "dcir.growth": self.growth,
            "self_discharge.cell_rate": self.cell_rate,
            "ocv.cell_spread": self.cell_spread,
        }[name]


def tolerance(name: str, value: float) -> float:
    if name == "self_discharge.cell_rate":
        return RATE_TOLERANCE[0] + RATE_TOLERANCE[1] * abs(value)
    return TOLERANCE[name]


UNITS = {
    "capacity.soh": "percent",
    "dcir.growth": "percent",
    "self_discharge.cell_rate": "mV/day",
    "ocv.cell_spread": "mV",
}


def truth_of(station_file: str | Path, limits: LimitSet) -> Truth:
    """The module's truth from its station file (the batch's per-module file) and the plan's parameters."""
    station = load_station(station_file)
    plant = SimulatedStation(station, SimClock(max_step=Q_(1, "s"))).plant  # built, not started
    pack, cells, chem = plant.pack, plant.pack.cells, plant.chem
    rated = Q_(str(station.dut["rated_capacity"])).to("A*h").magnitude
    cap = cells.capacity_Ah * cells.capacity_factor  # (S, P) Ah at 25 degC
    element_cap = cap.sum(axis=1)
    c_min = float(element_cap.min())
    soh = 100.0 * c_min / rated
    r_bol_cell = chem.r0_ohm_Ah / (rated / pack.n_parallel)
    r_elem = 1.0 / (1.0 / (cells.r0_ohm * cells.resistance_factor)).sum(axis=1)
    growth = 100.0 * (float(r_elem.sum()) / (pack.n_series * r_bol_cell / pack.n_parallel) - 1.0)
    cell_rate = _worst_cell_rate(plant, element_cap, c_min, limits)
    ocv = pack.ocv_V()
    return Truth(chem.name, rated, soh, growth, cell_rate, 1000.0 * float(ocv.max() - ocv.min()), float(ocv.min()))


def _worst_cell_rate(plant: Any, element_cap: np.ndarray, c_min: float, limits: LimitSet) -> float:
    """OCV drift (mV/day) of each element over the plan's window, from its leak and self-discharge.

    After the capacity discharge the weakest element is empty and every element then receives
    the same ampere-hours, so element s sits at 1 - (1 - x) * C_min / C_s when the plan counts x.
    """
    p = {k: v.value for k, v in limits.parameters.items()}
    x = float(p["self_discharge.soc"].to("").magnitude)
    depol = float(p["self_discharge.depolarisation"].to("s").magnitude)
    window = float(p["self_discharge.duration"].to("s").magnitude)
    cells, chem = plant.pack.cells, plant.chem
    soc = 1.0 - (1.0 - x) * c_min / element_cap
    i_self = cells.i_self_A.sum(axis=1)  # at 25 degC
    g_leak = cells.leak_conductance_S.sum(axis=1)
    h = 600.0
    v_start = None
    for k in range(int((depol + window) / h)):
        if abs(k * h - depol) < h / 2:
            v_start = chem.ocv(soc)
        soc = soc - (i_self + chem.ocv(soc) * g_leak) * h / (3600.0 * element_cap)
    drift = (v_start - chem.ocv(soc)) * 1000.0 / (window / 86400.0)
    return float(drift.max())


def _bands(limits: LimitSet, name: str, value: float) -> set[str]:
    lim = limits.limits[name]
    tol = tolerance(name, value)
    out = set()
    for v in (value - tol, value, value + tol):
        band = lim.grade_for(Q_(v, UNITS[name]))
        if band is not None:
            out.add(band.grade)
    return out


def allowed_bands(limits: LimitSet, truth: Truth) -> dict[str, set[str]]:
    """Grade bands each graded result may fall in, given the truth and the boundary tolerance."""
    return {name: _bands(limits, name, truth.value(name)) for name in GRADED}


def allowed_grades(limits: LimitSet, truth: Truth) -> set[str]:
    """The rule table applied to the truth: every grade the table gives within the tolerance."""
    table = load_rule_table(limits.grading["module_intake"])
    bands = allowed_bands(limits, truth)
    fixed = {
        "history.disqualifying_events": Result(Q_(0, "")),
        "visual.defects": Result(Q_(0, "")),
        "ocv.cell_min": Result(Q_(truth.cell_min, "V")),
        "bms.functions_failed": Result(Q_(0, "")),
        "insulation.resistance_250V": Result(Q_(500, "Mohm"), "A"),
        "intake.incomplete_steps": Result(Q_(0, "")),
    }
    grades = set()
    for combo in itertools.product(*(sorted(bands[n]) for n in GRADED)):
        results = dict(fixed)
        for name, band in zip(GRADED, combo, strict=True):
            results[name] = Result(Q_(truth.value(name), UNITS[name]), band)
        grades.add(evaluate(table, results).grade)
    return grades


def _read(journal_path: Path, read: Any) -> Any:
    """One read of a run's journal through its public API, the file closed afterwards."""
    j = Journal(journal_path)
    try:
        return read(j)
    finally:
        j.close()


def run_measurement_rows(journal_path: Path, run_id: str) -> list[dict[str, Any]]:
    """Every journalled measurement of the run, in order."""
    return _read(journal_path, lambda j: j.measurements(run_id))


def run_measurements(journal_path: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's journalled measurements by name (the last one of a name wins)."""
    return {m["name"]: m for m in run_measurement_rows(journal_path, run_id)}


def run_events(journal_path: Path, run_id: str) -> list[dict[str, Any]]:
    return _read(journal_path, lambda j: j.events(run_id))


@pytest.fixture(scope="session")
def limit_sets() -> dict[str, LimitSet]:
    root = Path(__file__).resolve().parents[2]
    return {
        "LFP": load_limit_set(root / "limits" / "module_intake_lfp.toml"),
        "NMC": load_limit_set(root / "limits" / "module_intake_nmc.toml"),
    }


class GroundTruth:
    """The helpers above, handed to tests as one fixture (test modules do not import conftest)."""

    truth_of = staticmethod(truth_of)
    allowed_bands = staticmethod(allowed_bands)
    allowed_grades = staticmethod(allowed_grades)
    tolerance = staticmethod(tolerance)
    measurements = staticmethod(run_measurements)
    measurement_rows = staticmethod(run_measurement_rows)
    events = staticmethod(run_events)
    graded = GRADED


@pytest.fixture(scope="session")
def ground_truth() -> GroundTruth:
    return GroundTruth()
