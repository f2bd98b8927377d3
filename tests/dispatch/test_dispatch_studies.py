"""Sizing sweeps, the tariff differential threshold and the throughput/lifetime trade, checked against fresh solves."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_helpers import battery

from bench.dispatch.economics import annuity_factor, discounted_payback, evaluate
from bench.dispatch.load import load_from_arrays
from bench.dispatch.optimiser import Optimiser
from bench.dispatch.sizing import differential_threshold, point, size_sweep, throughput_trade
from bench.dispatch.tariff import read_tariff
from bench.units import Q_

TARIFF = """
[tariff]
currency = "EUR"
[[energy]]
name = "day"
hours = ["08:00-20:00"]
price = "0.28 EUR/kWh"
[[energy]]
name = "night"
hours = ["20:00-08:00"]
price = "0.14 EUR/kWh"
[[demand]]
name = "monthly"
charge = "9 EUR/kW"
"""


@pytest.fixture
def site(write):
    tariff = read_tariff(write("t.toml", TARIFF))
    rng = np.random.default_rng(5)
    h = np.arange(24 * 21)
    load = 60 + 50 * ((h % 24 >= 8) & (h % 24 < 18)) + rng.normal(0, 6, h.size)
    load[rng.choice(h.size, 4, replace=False)] += 70
    series = load_from_arrays(np.maximum(load, 1), step=Q_(1, "h"), start="2025-03-03T00:00")
    b = battery(
        energy=120,
        power=50,
        eta_c=0.95,
        eta_d=0.95,
        kappa=0.01,
        capital_cost=5000.0,
        energy_cost=150.0,
        power_cost=100.0,
        life_years=12.0,
        discount_rate=0.05,
        lifetime_throughput=Q_(400, "MWh"),
    )
    return series, tariff, b


def test_every_point_of_a_warm_sweep_equals_a_fresh_solve(site) -> None:
    load, tariff, b = site
    opt = Optimiser(load, tariff, b)
    rows = size_sweep(opt, tariff, b, [60.0, 180.0], [25.0, 75.0])
    assert len(rows) == 4
    for r in rows:
        fresh_b = b.resized(r["energy_kwh"], r["power_kw"])
        fresh = point(Optimiser(load, tariff, fresh_b), tariff, fresh_b)
        assert r["npv"] == pytest.approx(fresh["npv"], abs=0.05)
        assert r["annual_savings"] == pytest.approx(fresh["annual_savings"], abs=0.05)
    by = {(r["energy_kwh"], r["power_kw"]): r for r in rows}
    assert by[(180.0, 75.0)]["annual_savings"] >= by[(60.0, 25.0)]["annual_savings"]  # a bigger battery saves more


def test_differential_threshold_brackets_the_sign_change_of_the_npv(site) -> None:
    load, tariff, b = site
    b = b.resized()
    b.capital_cost = 87_000.0  # an investment the tariff as given does not pay back (twice its spread does)
    opt = Optimiser(load, tariff, b)
    th = differential_threshold(opt, tariff, b)
    assert th.status == "found" and th.npv_at_base < 0
    assert th.base_differential == pytest.approx(0.14)
    below = max(p["alpha"] for p in th.points if p["npv"] <= 0)
    assert below < th.alpha and th.alpha - below <= 1.0 / 2**9
    # re-check with a fresh optimiser on the stretched prices
    fresh = Optimiser(load, tariff, b)
    mean = float(fresh.steps.price.mean())
    fresh.set_prices(mean + th.alpha * (fresh.steps.price - mean))
    assert evaluate(fresh.run(), tariff).valuation.npv > 0
    assert np.allclose(opt.steps.price, tariff.steps(load).price)  # prices restored afterwards


def test_lower_throughput_limits_trade_savings_for_life(site) -> None:
    load, tariff, b = site
    rows = throughput_trade(Optimiser(load, tariff, b), tariff, b, fractions=(1.0, 0.8, 0.5))
    assert [r["fraction_of_unlimited"] for r in rows] == [1.0, 0.8, 0.5]
    assert rows[0]["life_extension_pct"] == 0 and rows[0]["savings_loss_pct"] == 0
    assert 0 < rows[1]["life_extension_pct"] < rows[2]["life_extension_pct"]
    assert 0 <= rows[1]["savings_loss_pct"] <= rows[2]["savings_loss_pct"]
    assert rows[2]["annual_throughput_kwh"] == pytest.approx(0.5 * rows[0]["annual_throughput_kwh"], rel=1e-6)


def test_annuity_and_payback_formulas() -> None:
    assert annuity_factor(0.0, 10) == 10
    assert annuity_factor(0.05, 10) == pytest.approx(7.721734929)
    assert discounted_payback(1000, 100, 0.0) == pytest.approx(10)
    assert discounted_payback(1000, 100, 0.05) == pytest.approx(14.2067, rel=1e-4)
    assert discounted_payback(1000, 40, 0.05) is None  # 5 % of 1000 > 40: never repaid
