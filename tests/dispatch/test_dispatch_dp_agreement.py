"""The LP against an independent dynamic programme over a discretised state of charge.

The DP knows nothing of the LP: it walks stored-energy levels δ apart, pays price x import for each
transition the power limits allow (no export: import >= 0), and, for a demand charge, is run once per
candidate peak cap (import <= cap) adding D x cap. Its feasible set is a subset of the LP's, so
LP <= DP always; with lossless efficiencies and integer data the LP's vertices are integral (the
constraint matrix is a network matrix) and both must agree exactly; with losses the DP approaches
the LP as δ shrinks.
"""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_helpers import battery, solve, steps


def dp(
    load: np.ndarray,
    price: np.ndarray,
    *,
    energy: float,
    power: float,
    eta_c: float,
    eta_d: float,
    e0: float,
    delta: float,
    dt: float = 1.0,
    cap: float = np.inf,
    kappa: float = 0.0,
) -> float:
    """Minimum energy cost over SoC levels 0, δ, 2δ, ... energy, starting and ending at e0."""
    levels = np.arange(0.0, energy + delta / 2, delta)
    n = levels.size
    start = int(round(e0 / delta))
    de = levels[None, :] - levels[:, None]  # from i (row) to j (column)
    charge = np.where(de > 0, de / (eta_c * dt), 0.0)
    discharge = np.where(de < 0, -de * eta_d / dt, 0.0)
    allowed = (charge <= power + 1e-9) & (discharge <= power + 1e-9)
    value = np.full(n, np.inf)
    value[start] = 0.0
    for t in range(load.size):
        grid = load[t] + charge - discharge
        ok = allowed & (grid >= -1e-9) & (grid <= cap + 1e-9)
        step = np.where(ok, price[t] * grid * dt + kappa * (charge + discharge) * dt / 2, np.inf)
        value = np.min(value[:, None] + step, axis=0)
    return float(value[start])


def _instance(seed: int, T: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    load = rng.integers(20, 120, T).astype(float)
    price = np.round(rng.uniform(0.05, 0.40, T), 3)
    return load, price


@pytest.mark.parametrize("seed", range(8))
def test_lossless_arbitrage_matches_the_dp_exactly(seed: int) -> None:
    load, price = _instance(seed)
    b = battery(energy=60, power=25, soc_initial=0.5)
    lp = solve(load, steps(price), b).objective
    best = dp(load, price, energy=60, power=25, eta_c=1, eta_d=1, e0=30, delta=1.0)
    assert lp == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_lossy_arbitrage_is_approached_by_a_finer_dp(seed: int) -> None:
    load, price = _instance(100 + seed)
    b = battery(energy=60, power=25, eta_c=0.92, eta_d=0.95, soc_initial=0.5, kappa=0.01)
    lp = solve(load, steps(price), b).objective
    coarse = dp(load, price, energy=60, power=25, eta_c=0.92, eta_d=0.95, e0=30, delta=2.0, kappa=0.01)
    fine = dp(load, price, energy=60, power=25, eta_c=0.92, eta_d=0.95, e0=30, delta=0.25, kappa=0.01)
    assert lp <= fine + 1e-7 <= coarse + 2e-7  # the DP's schedules are all feasible for the LP
    assert fine - lp <= 0.003 * lp  # and the LP is no more than the discretisation away


@pytest.mark.parametrize("seed", range(4))
def test_demand_charge_matches_the_dp_over_peak_caps(seed: int) -> None:
    load, price = _instance(200 + seed, T=10)
    load[rng_peak(seed)] += 80  # a peak worth shaving
    D = 8.0
    b = battery(energy=60, power=40, soc_initial=0.5)
    lp = solve(load, steps(price, demand=D), b)
    caps = np.arange(np.floor(load.max()) - 80, load.max() + 1.0, 0.5)
    best = min(dp(load, price, energy=60, power=40, eta_c=1, eta_d=1, e0=30, delta=0.5, cap=c) + D * c for c in caps)
    assert lp.objective <= best + 1e-6
    assert best - lp.objective <= D * 0.5 + 0.5 * price.max() * load.size  # one cap step and half a level per step
    # and the LP's peak is the one the DP's best cap brackets
    assert lp.import_kw.max() == pytest.approx(
        caps[
            np.argmin(
                [dp(load, price, energy=60, power=40, eta_c=1, eta_d=1, e0=30, delta=0.5, cap=c) + D * c for c in caps]
            )
        ],
        abs=0.5 + 1e-6,
    )


def rng_peak(seed: int) -> int:
    return int(np.random.default_rng(seed).integers(2, 8))
