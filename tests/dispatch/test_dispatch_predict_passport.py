"""Replay predictions from a duty cycle, and a pack sized from its modules' passports."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from dispatch_helpers import battery

from bench.dispatch.battery import apply_passports
from bench.dispatch.errors import PassportError
from bench.dispatch.load import load_from_arrays
from bench.dispatch.predict import compare, predict_replay, tolerance
from bench.dutycycle import DutyCycle
from bench.units import Q_, ureg
from test_plans.module_intake.passport import build_passport


def _cycle(power_kw: list[float], step_s: float = 900.0, soc=None) -> DutyCycle:
    t = np.arange(len(power_kw)) * step_s
    return DutyCycle(
        name="c",
        t_s=t,
        power=np.asarray(power_kw, float),
        power_unit=ureg.kW,
        end_s=len(power_kw) * step_s,
        soc_pct=None if soc is None else np.asarray(soc, float),
    )


def test_ideal_energies_are_the_commanded_power_times_time() -> None:
    p = predict_replay(_cycle([100, 100, -50, 0]))
    assert p.discharged.to("kWh").magnitude == pytest.approx(50)
    assert p.charged.to("kWh").magnitude == pytest.approx(12.5)
    assert p.duration.to("h").magnitude == pytest.approx(1)


def test_a_lagging_ramp_limited_pcs_delivers_less_by_the_area_it_misses() -> None:
    # 0 -> 100 kW with 1 s delay and 10 kW/s: the missed area is 100 kW x (1 s + 100/(2 x 10) s) = 600 kJ
    one = predict_replay(_cycle([100, 100]), delay=Q_(1, "s"), ramp=Q_(10, "kW/s"))
    assert (one.discharged_ideal - one.discharged).to("kJ").magnitude == pytest.approx(600)
    # stepping back to 0 later, the same lag delivers 600 kJ after the command: the pulse is late, not short
    both = predict_replay(_cycle([100, 100, 0, 0]), delay=Q_(1, "s"), ramp=Q_(10, "kW/s"))
    assert both.discharged.to("kJ").magnitude == pytest.approx(both.discharged_ideal.to("kJ").magnitude)


def test_import_peaks_per_month_are_load_minus_pv_minus_battery() -> None:
    load = load_from_arrays(
        np.array([100.0, 200, 150, 90]), step=Q_(15, "min"), start="2025-01-31T23:30", pv_kw=np.array([0, 10, 0, 0.0])
    )
    p = predict_replay(_cycle([0, 50, 0, 40]), load=load, auxiliary=Q_(2, "kW"))
    assert p.peaks_before["2025-01"].magnitude == pytest.approx(192) and p.peaks["2025-01"].magnitude == pytest.approx(
        142
    )
    assert p.peaks["2025-02"].magnitude == pytest.approx(152)
    with pytest.raises(ValueError, match="give the load the schedule was made from"):
        predict_replay(_cycle([0, 50]), load=load)


def test_compare_flags_what_is_outside_the_tolerance() -> None:
    p = predict_replay(_cycle([100, 100, -50, 0]))
    tol = tolerance(p, rated_power=Q_(100, "kW"))
    assert tol["discharged"].to("kWh").magnitude == pytest.approx(50 * 0.02 + 0.1)
    rows = compare(p, discharged=Q_(49.0, "kWh"), charged=Q_(11.0, "kWh"), tol=tol)
    assert [r["ok"] for r in rows] == [True, False]


DUT = {
    "serial": "M-1",
    "oem": "OEM",
    "model": "X",
    "chemistry": "LFP",
    "rated_capacity": "100 A*h",
    "nominal_voltage": "51.2 V",
}
GRADE = {
    "grade": "B",
    "route": "community storage",
    "rule": "R08",
    "measurement": "capacity.soh",
    "value": "74 %",
    "reason": "",
    "rule_table_version": "MI-LFP-1.0.0",
    "fired": [],
}
RUN = {"run_id": "R1", "date": "2026-11-23", "limit_set": {"id": "l", "version": "1", "sha256": "00"}}


def _passport(tmp_path, name: str, energy_kwh: float | None, power_kw: float | None, grade: str = "B"):
    results = {"capacity.discharge_capacity": Q_(74, "A*h")}
    if energy_kwh is not None:
        results["capacity.discharge_energy"] = Q_(energy_kwh, "kWh")
    if power_kw is not None:
        results["pulse.power_capability"] = Q_(power_kw, "kW")
    g = {**GRADE, "grade": grade, "route": "recycling" if grade == "recycle" else "storage"}
    pp = build_passport(dut={**DUT, "serial": name}, history={}, results=results, grade=g, run=RUN)
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(pp), encoding="utf-8")
    return p


def test_a_pack_is_sized_by_what_its_modules_measured(tmp_path) -> None:
    files = [_passport(tmp_path, "A", 3.8, 12.0), _passport(tmp_path, "B", 3.6, 10.0)]
    b = apply_passports(battery(energy=10, power=50), files)
    assert b.energy_kwh == pytest.approx(7.4)
    assert b.discharge_kw == pytest.approx(22.0) and b.charge_kw == pytest.approx(22.0)
    assert [p["serial"] for p in b.passports] == ["A", "B"]


def test_a_module_without_measured_energy_uses_capacity_times_nominal_voltage(tmp_path) -> None:
    b = apply_passports(battery(energy=10, power=5), [_passport(tmp_path, "A", None, None)])
    assert b.energy_kwh == pytest.approx(74 * 51.2 / 1000)
    assert b.discharge_kw == pytest.approx(5)  # no measured power: the PCS rating stays


def test_a_module_graded_for_recycling_is_refused(tmp_path) -> None:
    with pytest.raises(PassportError, match="graded 'recycle'"):
        apply_passports(battery(), [_passport(tmp_path, "A", 3.8, 12.0), _passport(tmp_path, "R", 3.0, 9, "recycle")])


def test_a_file_that_is_not_a_passport_is_refused_naming_the_key(tmp_path) -> None:
    good = json.loads(_passport(tmp_path, "A", 3.8, 12.0).read_text())
    bad = copy.deepcopy(good)
    bad["performance"]["remainingEnergy"] = {"value": 3.8}
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(PassportError, match="not a battery passport") as exc:
        apply_passports(battery(), [p])
    assert exc.value.key == "performance.remainingEnergy"
