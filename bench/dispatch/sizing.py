"""Sizing and sensitivity: energy x power (x throughput limit) sweeps, the tariff differential at which
the investment turns positive, and the trade between the throughput limit (lifetime) and savings.

Why on one Optimiser: every point of a sweep is the same LP with other bounds or costs, so HiGHS
re-solves from the previous basis; sweeps go in a snake order so neighbouring points follow each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.dispatch.battery import Battery
from bench.dispatch.economics import evaluate
from bench.dispatch.optimiser import Optimiser
from bench.dispatch.tariff import Tariff
from bench.units import Q_

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def point(opt: Optimiser, tariff: Tariff, battery: Battery) -> dict[str, Any]:
    """Solve and value one battery on the optimiser's site; a row of a sweep table."""
    opt.set_battery(battery)
    sched = opt.run()
    v = evaluate(sched, tariff).valuation
    return {
        "energy_kwh": round(battery.energy_kwh, 6),
        "power_kw": round(battery.discharge_kw, 6),
        "throughput_limit_mwh_per_year": None
        if battery.throughput_limit is None
        else round(float(battery.throughput_limit.to("MWh/year").magnitude), 6),
        "annual_savings": round(v.annual_savings, 2),
        "annual_demand_savings": round(v.annual_demand_savings, 2),
        "annual_energy_savings": round(v.annual_energy_savings, 2),
        "annual_net_benefit": round(v.annual_net, 2),
        "annual_throughput_kwh": round(v.annual_throughput_kwh, 3),
        "equivalent_full_cycles_per_year": round(v.equivalent_full_cycles, 2),
        "life_years": round(v.life_years, 3),
        "life_limited_by": v.life_limited_by,
        "investment": round(v.investment, 2),
        "npv": round(v.npv, 2),
        "simple_payback_years": None if v.simple_payback_years is None else round(v.simple_payback_years, 3),
        "discounted_payback_years": None
        if v.discounted_payback_years is None
        else round(v.discounted_payback_years, 3),
        "throughput_price": round(sched.throughput_price, 6),
    }


def size_sweep(
    opt: Optimiser,
    tariff: Tariff,
    base: Battery,
    energies_kwh: list[float],
    powers_kw: list[float],
    limits: list[float | None] | None = None,
    progress: Progress = _quiet,
) -> list[dict[str, Any]]:
    """NPV / payback / savings for every energy x power (x annual throughput limit in MWh/year, None = none)."""
    rows = []
    limits = (
        limits
        if limits
        else [None if base.throughput_limit is None else float(base.throughput_limit.to("MWh/year").magnitude)]
    )
    total = len(energies_kwh) * len(powers_kw) * len(limits)
    for li, lim in enumerate(limits):
        for ei, e in enumerate(energies_kwh):
            ps = powers_kw if (li * len(energies_kwh) + ei) % 2 == 0 else list(reversed(powers_kw))
            for p in ps:
                b = base.resized(e, p, None if lim is None else Q_(lim, "MWh/year"))
                rows.append(point(opt, tariff, b))
                progress(
                    f"sizing {len(rows)}/{total}: {e:g} kWh x {p:g} kW"
                    + ("" if lim is None else f", limit {lim:g} MWh/year")
                    + f": NPV {rows[-1]['npv']:,.0f}"
                )
    opt.set_battery(base)
    return sorted(rows, key=lambda r: (r["throughput_limit_mwh_per_year"] or 0, r["energy_kwh"], r["power_kw"]))


@dataclass
class Threshold:
    """The price spread factor α (and the peak/off-peak differential) where NPV crosses zero."""

    alpha: float | None
    differential: float | None  # currency per kWh between the dearest and cheapest energy period
    base_differential: float
    npv_at_base: float
    status: str  # "found" | "positive without differential" | "not positive up to ..." | "not monotone"
    points: list[dict[str, Any]]

    def as_dict(self, currency: str) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "status": self.status,
            "differential": None
            if self.differential is None
            else {"value": round(self.differential, 5), "unit": f"{currency}/kWh"},
            "base_differential": {"value": round(self.base_differential, 5), "unit": f"{currency}/kWh"},
            "npv_at_base": {"value": round(self.npv_at_base, 2), "unit": currency},
            "points": self.points,
        }


def differential_threshold(
    opt: Optimiser,
    tariff: Tariff,
    battery: Battery,
    *,
    alpha_max: float = 6.0,
    iterations: int = 10,
    progress: Progress = _quiet,
) -> Threshold:
    """Stretch the import prices around their time mean, p(α) = p̄ + α (p − p̄), and find the α where the NPV
    turns positive (bisection; NPV grows with the spread). Demand charges and export stay as they are."""
    opt.set_battery(battery)
    base_price = opt.steps.price.copy()
    mean = float(base_price.mean())
    spread = float(base_price.max() - base_price.min())
    points: list[dict[str, Any]] = []

    def npv(alpha: float) -> float:
        opt.set_prices(mean + alpha * (base_price - mean))
        row = point(opt, tariff, battery)
        points.append(
            {
                "alpha": round(alpha, 6),
                "differential": round(alpha * spread, 6),
                "npv": row["npv"],
                "annual_savings": row["annual_savings"],
            }
        )
        progress(f"differential x{alpha:.3g} ({alpha * spread:.4g} {tariff.currency}/kWh): NPV {row['npv']:,.0f}")
        return float(row["npv"])

    try:
        at_base = npv(1.0)
        lo, hi = 0.0, 1.0
        if at_base > 0:
            if npv(0.0) > 0:
                return Threshold(0.0, 0.0, spread, at_base, "positive without differential", points)
        else:
            lo = 1.0
            hi = 2.0
            while npv(hi) <= 0:
                lo, hi = hi, hi * 2
                if hi > alpha_max:
                    return Threshold(
                        None,
                        None,
                        spread,
                        at_base,
                        f"not positive up to {alpha_max:g} x the tariff's differential",
                        points,
                    )
        for _ in range(iterations):
            mid = (lo + hi) / 2
            if npv(mid) > 0:
                hi = mid
            else:
                lo = mid
        return Threshold(hi, hi * spread, spread, at_base, "found", points)
    finally:
        opt.set_prices(base_price)


def throughput_trade(
    opt: Optimiser,
    tariff: Tariff,
    battery: Battery,
    fractions: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5),
    progress: Progress = _quiet,
) -> list[dict[str, Any]]:
    """Savings and life at throughput limits of a fraction of what the battery uses when unlimited."""
    free = point(opt, tariff, battery.resized(throughput_limit=None))
    used = free["annual_throughput_kwh"] / 1000.0  # MWh/year
    rows = []
    for f in fractions:
        lim = None if f >= 1.0 else used * f
        row = point(opt, tariff, battery.resized(throughput_limit=None if lim is None else Q_(lim, "MWh/year")))
        row["fraction_of_unlimited"] = f
        row["life_extension_pct"] = (
            round(100 * (row["life_years"] / free["life_years"] - 1), 2) if free["life_years"] else None
        )
        row["savings_loss_pct"] = (
            round(100 * (1 - row["annual_savings"] / free["annual_savings"]), 2) if free["annual_savings"] else None
        )
        rows.append(row)
        progress(
            f"throughput {100 * f:.0f} % of unlimited: savings {row['annual_savings']:,.0f}, life "
            f"{row['life_years']:.2f} years"
        )
    opt.set_battery(battery)
    return rows


def default_grid(value: float, factors: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)) -> list[float]:
    return [float(np.round(value * f, 6)) for f in factors]
