"""Solver outcomes: the throughput cap met exactly, infeasible and unbounded problems explained by family,
simultaneous charge and discharge found."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_helpers import battery, solve, steps

from bench.dispatch.errors import InfeasibleError, UnboundedError
from bench.dispatch.load import load_from_arrays
from bench.dispatch.model import build_model
from bench.dispatch.solve import DispatchSolver
from bench.units import Q_


def _week(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hours = np.arange(24 * 14)
    load = 80 + 40 * np.sin(2 * np.pi * (hours - 8) / 24) ** 2 + rng.normal(0, 5, hours.size)
    price = np.where((hours % 24 >= 8) & (hours % 24 < 20), 0.30, 0.12) + rng.uniform(0, 0.02, hours.size)
    return np.maximum(load, 1), price


@pytest.mark.parametrize("limit_fraction", [0.7, 0.4, 0.1])
def test_priced_cap_gives_the_same_optimum_as_the_explicit_cap_row(limit_fraction: float) -> None:
    load, price = _week()
    free = solve(load, steps(price, demand=5.0), battery(energy=150, power=60, eta_c=0.95, eta_d=0.95, kappa=0.005))
    hours = load.size
    limit = free.throughput_kwh() * limit_fraction * 8760 / hours / 1000  # MWh/year
    b = battery(energy=150, power=60, eta_c=0.95, eta_d=0.95, kappa=0.005, limit_mwh_per_year=limit)
    priced = solve(load, steps(price, demand=5.0), b, cap_mode="price")
    row = solve(load, steps(price, demand=5.0), b, cap_mode="row")
    assert priced.objective == pytest.approx(row.objective, rel=1e-9, abs=1e-7)
    assert priced.throughput_kwh() == pytest.approx(priced.throughput_cap_kwh, rel=1e-9)
    assert priced.throughput_price > 0 and priced.solver["solves"] > 2
    assert max(priced.check().values()) < 1e-6
    assert priced.objective > free.objective  # the cap costs something


def test_a_cap_that_does_not_bind_is_priced_at_zero() -> None:
    load, price = _week()
    b = battery(energy=150, power=60, eta_c=0.95, eta_d=0.95, kappa=0.005, limit_mwh_per_year=1e6)
    s = solve(load, steps(price), b)
    assert s.throughput_price == 0 and s.solver["solves"] == 1


def test_an_import_limit_below_what_the_battery_can_cover_is_infeasible_naming_the_families() -> None:
    load = np.array([50, 50, 300, 50.0])
    st = steps([0.1] * 4)
    lsr = load_from_arrays(load, step=Q_(1, "h"))
    m = build_model(lsr, st, battery(energy=100, power=100), import_limit_kw=150)
    with pytest.raises(InfeasibleError) as exc:
        DispatchSolver(m, local_us=lsr.local_us).solve()
    text = str(exc.value)
    assert exc.value.status == "infeasible"
    assert any("grid import" in f for f in exc.value.families)
    assert any("discharge power" in f for f in exc.value.families)
    assert "2025-01-01 02:00:00" in text  # where it fails


def test_energy_that_runs_out_is_infeasible_naming_the_soc_window() -> None:
    # every hour needs 60 kW from the battery (import limit 40 kW under an 100 kW load), more than it holds
    load = np.full(6, 100.0)
    lsr = load_from_arrays(load, step=Q_(1, "h"))
    m = build_model(lsr, steps([0.1] * 6), battery(energy=100, power=100), import_limit_kw=40)
    with pytest.raises(InfeasibleError) as exc:
        DispatchSolver(m, local_us=lsr.local_us).solve()
    assert any("state-of-charge" in f for f in exc.value.families)


def test_a_negative_demand_charge_is_reported_unbounded_naming_the_peak_variable() -> None:
    load = np.array([50, 80, 60.0])
    lsr = load_from_arrays(load, step=Q_(1, "h"))
    m = build_model(lsr, steps([0.1] * 3, demand=-5.0), battery())
    with pytest.raises(UnboundedError) as exc:
        DispatchSolver(m, local_us=lsr.local_us).solve()
    assert exc.value.status == "unbounded"
    assert exc.value.families and "demand peak" in exc.value.families[0]


def test_negative_prices_make_the_lp_charge_and_discharge_at_once_and_it_is_reported() -> None:
    # at -0.5 EUR/kWh every kWh imported earns money: the LP burns energy in the losses by charging and
    # discharging together (a real PCS cannot); the schedule says so instead of hiding it in the net power
    # (over three such hours it charges 50 kW throughout and gives 0.81 of it back in some of them)
    b = battery(energy=100, power=50, eta_c=0.9, eta_d=0.9, soc_initial=0.5)
    s = solve([60, 60, 60], steps([-0.5, -0.5, -0.5]), b)
    sim = s.simultaneous()
    assert sim["intervals"] >= 1 and sim["locations"][0]["price"] == -0.5 and sim["energy_kwh"] > 0
    assert s.charge_kw == pytest.approx([50, 50, 50]) and s.discharge_kw.sum() == pytest.approx(121.5)
    assert max(s.check().values()) < 1e-6  # still a valid LP solution


def test_positive_prices_never_charge_and_discharge_at_once() -> None:
    load, price = _week(3)
    s = solve(load, steps(price, demand=5.0), battery(energy=150, power=60, eta_c=0.95, eta_d=0.95, kappa=0.001))
    assert s.simultaneous()["intervals"] == 0


def test_export_at_a_price_above_import_stays_bounded_by_what_the_site_can_export() -> None:
    # without a bound on export, importing to export would be unbounded; the bound is PV surplus + discharge
    b = battery(energy=100, power=50)
    s = solve([100, 100], steps([0.1, 0.1], export_price=[0.5, 0.5]), b, pv=np.array([0.0, 150.0]))
    assert s.export_kw.max() <= 50 + 50 + 1e-6
    assert np.isfinite(s.objective)


@pytest.mark.parametrize("limit_fraction", [None, 0.6])
def test_starting_from_the_hourly_schedule_changes_nothing_but_the_start(limit_fraction) -> None:
    # five weeks at 15 min: long enough for the hourly start (a basis from the hourly schedule by crossover)
    rng = np.random.default_rng(11)
    n = 96 * 35
    q = np.arange(n)
    hour = (q % 96) / 4
    load = 70 + 50 * ((hour >= 8) & (hour < 18)) + rng.normal(0, 8, n)
    load[rng.choice(n, 12, replace=False)] += 60
    price = np.where((hour >= 7) & (hour < 20), 0.28, 0.12)
    free = solve(
        load, steps(price, demand=9.0), battery(energy=200, power=80, eta_c=0.95, eta_d=0.95, kappa=0.01), step_min=15
    )
    limit = None if limit_fraction is None else free.throughput_kwh() * limit_fraction * 8760 / (n / 4) / 1000
    b = battery(energy=200, power=80, eta_c=0.95, eta_d=0.95, kappa=0.01, limit_mwh_per_year=limit)
    fast = solve(load, steps(price, demand=9.0), b, step_min=15)
    reference = solve(load, steps(price, demand=9.0), b, step_min=15, cap_mode="row")
    assert fast.solver["started_from_hourly"] and fast.solver["hourly_solves"] >= 1
    assert not reference.solver["started_from_hourly"]
    assert fast.objective == pytest.approx(reference.objective, rel=1e-9)
    assert max(fast.check().values()) < 1e-6
    if limit is not None:
        assert fast.throughput_kwh() == pytest.approx(fast.throughput_cap_kwh, rel=1e-9)
