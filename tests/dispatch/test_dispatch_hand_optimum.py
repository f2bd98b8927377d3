"""Problems small enough to solve by hand: the LP must find exactly the hand optimum."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_helpers import battery, solve, steps


def test_two_period_arbitrage_charges_cheap_and_discharges_dear_at_full_power() -> None:
    # 1 h steps, 100 kW load, prices 0.10 then 0.30; 50 kW / 100 kWh battery, 90 % each way, empty at start and end.
    # Charging 50 kWh in hour 1 stores 45 kWh, which gives 40.5 kWh back in hour 2 (0.30 * 0.81 > 0.10: worth it).
    b = battery(energy=100, power=50, eta_c=0.9, eta_d=0.9, soc_initial=0.0)
    s = solve([100, 100], steps([0.10, 0.30]), b)
    assert s.charge_kw == pytest.approx([50, 0], abs=1e-7)
    assert s.discharge_kw == pytest.approx([0, 40.5], abs=1e-7)
    assert s.soc_kwh == pytest.approx([45, 0], abs=1e-7)
    assert s.objective == pytest.approx(0.10 * 150 + 0.30 * 59.5, rel=1e-9)


def test_two_period_arbitrage_not_worth_its_losses_leaves_the_battery_idle() -> None:
    # 0.12 * 0.81 = 0.0972 < 0.10: every kWh cycled loses money
    b = battery(energy=100, power=50, eta_c=0.9, eta_d=0.9, soc_initial=0.0)
    s = solve([100, 100], steps([0.10, 0.12]), b)
    assert s.charge_kw.max() == pytest.approx(0, abs=1e-9)
    assert s.discharge_kw.max() == pytest.approx(0, abs=1e-9)
    assert s.objective == pytest.approx(0.10 * 100 + 0.12 * 100)


@pytest.mark.parametrize("eta", [1.0, 0.9])
def test_single_demand_peak_is_shaved_to_the_level_the_stored_energy_allows(eta: float) -> None:
    # load 50, 50, 150, 50 kW (1 h steps); 10 EUR/kW demand charge dwarfs a flat 0.1 EUR/kWh, so the peak is
    # shaved until the energy recharged in the other three hours (each raised to the same level L) pays for it:
    # (150 - L) / ηd = ηc * 3 (L - 50)  ->  L = 150 (1 + ηcηd) / (1 + 3 ηcηd)
    b = battery(energy=200, power=100, eta_c=eta, eta_d=eta, soc_initial=0.5)
    s = solve([50, 50, 150, 50], steps([0.1] * 4, demand=10.0), b)
    rt = eta * eta
    level = 150 * (1 + rt) / (1 + 3 * rt)
    assert s.import_kw.max() == pytest.approx(level, abs=1e-6)
    assert s.discharge_kw[2] == pytest.approx(150 - level, abs=1e-6)
    assert s.import_kw == pytest.approx([level] * 4, abs=1e-6)
    energy_kwh = float(s.import_kw.sum())
    assert s.objective == pytest.approx(0.1 * energy_kwh + 10.0 * level, rel=1e-9)


def test_demand_window_only_bills_the_peak_inside_it() -> None:
    # the demand charge applies to hours 2..3 only. Charging before the window is free of demand charges, so the
    # battery fills (50 -> 100 kWh) in hours 0-1, discharges d in hour 2 and recharges d - 50 in hour 3 to end at
    # 50 kWh: the window's peak max(120 - d, 50 + d - 50) is lowest at d = 60, L = 60 kW. The 200 kW in hour 0 is
    # outside the window and not billed; with η = 1 and a flat price the energy cost is 0.1 * 420 whatever happens.
    b = battery(energy=100, power=100, soc_initial=0.5)
    window = np.array([False, False, True, True])
    s = solve([200, 50, 120, 50], steps([0.1] * 4, demand=10.0, windows=window), b)
    assert s.import_kw[2:].max() == pytest.approx(60.0, abs=1e-6)
    assert s.objective == pytest.approx(0.1 * 420 + 10.0 * 60, rel=1e-9)


def test_soc_window_and_power_limit_bind_as_written() -> None:
    # a large price spread: the battery charges to soc_max at its power limit and discharges to soc_min
    b = battery(energy=100, power=30, eta_c=1.0, eta_d=1.0, soc_min=0.2, soc_max=0.8, soc_initial=0.2)
    s = solve([100] * 6, steps([0.1, 0.1, 0.1, 1.0, 1.0, 1.0]), b)
    assert s.soc_kwh.max() == pytest.approx(80, abs=1e-7)
    assert s.soc_kwh.min() >= 20 - 1e-7
    assert s.charge_kw.max() == pytest.approx(30, abs=1e-7)
    assert s.discharge_kw.sum() == pytest.approx(60, abs=1e-7)  # the 60 kWh window, out again
