"""What a schedule is worth: the bill with and without the battery, savings by source, NPV and payback.

Why the bill is recomputed from the tariff instead of read off the LP objective: the objective
includes the wear cost and the Lagrange price of the throughput cap, and the owner wants the bill
a supplier would send (energy per period, demand charge per month, export credit, fixed charge),
before and after. Monthly groups reuse the field-log analysis' run grouping (bench.analyze.groups).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.analyze.groups import Groups
from bench.dispatch.battery import HOURS_PER_YEAR, Battery
from bench.dispatch.load import LoadSeries
from bench.dispatch.schedule import Schedule
from bench.dispatch.tariff import Tariff, TariffSteps

SOC_BINS = 20  # 5 % bins of the nominal energy


@dataclass
class Bill:
    """Per month: energy cost (import − export credit), demand charges (per charge), fixed charges."""

    energy: np.ndarray  # currency per month
    export_credit: np.ndarray
    demand: np.ndarray  # (K, M) currency
    peaks_kw: np.ndarray  # (K, M) the billed peak of each demand charge
    peak_import_kw: np.ndarray  # (M,) highest interval import of the month (any window)
    fixed: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.energy + self.demand.sum(axis=0) + self.fixed


def bill(
    import_kw: np.ndarray, export_kw: np.ndarray, load: LoadSeries, steps: TariffSteps, fixed_per_month: float
) -> Bill:
    months, labels = load.months()
    g = Groups(months, len(labels))
    dt = load.step_h
    energy_cost = g.sum(steps.price * import_kw * dt)
    credit = g.sum(steps.export_price * export_kw * dt) if steps.export_price is not None else np.zeros(len(labels))
    K = steps.demand_windows.shape[0]
    peaks = np.zeros((K, len(labels)))
    for k in range(K):
        w = steps.demand_windows[k]
        masked = np.where(w, import_kw, -np.inf)
        mx = g.max(masked)
        peaks[k] = np.where(np.isfinite(mx), np.maximum(mx, 0.0), 0.0)
    demand = steps.demand_charge[:, None] * peaks
    return Bill(
        energy=energy_cost - credit,
        export_credit=credit,
        demand=demand,
        peaks_kw=peaks,
        peak_import_kw=np.maximum(g.max(import_kw), 0.0),
        fixed=np.full(len(labels), fixed_per_month),
        import_kwh=g.sum(import_kw * dt),
        export_kwh=g.sum(export_kw * dt),
    )


def baseline_grid(load: LoadSeries, steps: TariffSteps, export_limit_kw: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Import and export without a battery; surplus PV that may not be exported is curtailed."""
    net = load.net_kw
    imp = np.maximum(net, 0.0)
    exp = np.maximum(-net, 0.0) if steps.export_price is not None else np.zeros_like(net)
    if export_limit_kw is not None:
        exp = np.minimum(exp, export_limit_kw)
    return imp, exp


def annuity_factor(rate: float, years: float) -> float:
    """Present value of 1 per year for `years` (fractional years allowed)."""
    if years <= 0:
        return 0.0
    if abs(rate) < 1e-12:
        return years
    return (1 - (1 + rate) ** -years) / rate


def discounted_payback(investment: float, annual: float, rate: float) -> float | None:
    """Years until discounted savings repay the investment; None if they never do."""
    if annual <= 0:
        return None
    if investment <= 0:
        return 0.0
    if abs(rate) < 1e-12:
        return investment / annual
    x = 1 - investment * rate / annual
    if x <= 0:
        return None
    return -math.log(x) / math.log(1 + rate)


@dataclass
class Valuation:
    """Annual figures and the investment case of one schedule (currency in the tariff's currency)."""

    annual_bill_before: float
    annual_bill_after: float
    annual_savings: float  # bill before − bill after
    annual_demand_savings: float
    annual_energy_savings: float  # arbitrage and self-consumption, net of losses
    annual_wear_cost: float  # throughput cost κ·throughput
    annual_om: float
    annual_net: float  # savings − wear − O&M
    annual_throughput_kwh: float
    equivalent_full_cycles: float  # per year, of the nominal energy
    life_years: float  # min(calendar life, lifetime throughput / annual throughput)
    life_limited_by: str
    investment: float
    npv: float
    simple_payback_years: float | None
    discounted_payback_years: float | None
    annualisation: float  # multiply horizon figures by this to get per-year figures

    def as_dict(self, currency: str) -> dict[str, Any]:
        def money(v: float | None) -> dict[str, Any] | None:
            return None if v is None else {"value": round(v, 2), "unit": currency}

        def years(v: float | None) -> dict[str, Any] | None:
            return None if v is None else {"value": round(v, 3), "unit": "year"}

        return {
            "annual_bill_before": money(self.annual_bill_before),
            "annual_bill_after": money(self.annual_bill_after),
            "annual_savings": money(self.annual_savings),
            "annual_demand_savings": money(self.annual_demand_savings),
            "annual_energy_savings": money(self.annual_energy_savings),
            "annual_wear_cost": money(self.annual_wear_cost),
            "annual_om_cost": money(self.annual_om),
            "annual_net_benefit": money(self.annual_net),
            "annual_throughput": {"value": round(self.annual_throughput_kwh, 3), "unit": "kWh"},
            "equivalent_full_cycles_per_year": round(self.equivalent_full_cycles, 2),
            "life": years(self.life_years),
            "life_limited_by": self.life_limited_by,
            "investment": money(self.investment),
            "npv": money(self.npv),
            "simple_payback": years(self.simple_payback_years),
            "discounted_payback": years(self.discounted_payback_years),
            "annualisation_factor": round(self.annualisation, 6),
        }


def value(before: Bill, after: Bill, throughput_kwh: float, hours: float, battery: Battery) -> Valuation:
    """Annualise the horizon's bills and throughput, and value the investment over the battery's life."""
    f = HOURS_PER_YEAR / hours
    bb, ba = float(before.total.sum()) * f, float(after.total.sum()) * f
    demand = float(before.demand.sum() - after.demand.sum()) * f
    energy = float(before.energy.sum() - after.energy.sum()) * f
    tp = throughput_kwh * f
    wear = battery.throughput_cost * tp
    net = (bb - ba) - wear - battery.om_per_year
    life, why = battery.life_years, "calendar life"
    if battery.lifetime_throughput is not None and tp > 0:
        wear_life = float(battery.lifetime_throughput.to("kWh").magnitude) / tp
        if wear_life < life:
            life, why = wear_life, "lifetime throughput"
    inv = battery.investment()
    npv = -inv + net * annuity_factor(battery.discount_rate, life)
    return Valuation(
        annual_bill_before=bb,
        annual_bill_after=ba,
        annual_savings=bb - ba,
        annual_demand_savings=demand,
        annual_energy_savings=energy,
        annual_wear_cost=wear,
        annual_om=battery.om_per_year,
        annual_net=net,
        annual_throughput_kwh=tp,
        equivalent_full_cycles=tp / battery.energy_kwh if battery.energy_kwh else 0.0,
        life_years=life,
        life_limited_by=why,
        investment=inv,
        npv=npv,
        simple_payback_years=inv / net if net > 0 else None,
        discounted_payback_years=discounted_payback(inv, net, battery.discount_rate),
        annualisation=f,
    )


@dataclass
class Economics:
    before: Bill
    after: Bill
    valuation: Valuation
    month_labels: list[str]
    monthly_throughput_kwh: np.ndarray
    soc_hist: np.ndarray  # fraction of time per SoC bin
    soc_edges_pct: np.ndarray


def evaluate(schedule: Schedule, tariff: Tariff) -> Economics:
    load, steps = schedule.load, schedule.steps
    imp0, exp0 = baseline_grid(load, steps, tariff.export_limit_kw)
    before = bill(imp0, exp0, load, steps, tariff.fixed_per_month)
    after = bill(schedule.import_kw, schedule.export_kw, load, steps, tariff.fixed_per_month)
    months, labels = load.months()
    g = Groups(months, len(labels))
    tp_month = g.sum((schedule.charge_kw + schedule.discharge_kw) * load.step_h / 2)
    val = value(before, after, schedule.throughput_kwh(), load.hours, schedule.battery)
    soc_pct = 100 * schedule.soc_start_kwh / schedule.battery.energy_kwh
    edges = np.linspace(0, 100, SOC_BINS + 1)
    hist, _ = np.histogram(np.clip(soc_pct, 0, 100), bins=edges)
    return Economics(
        before=before,
        after=after,
        valuation=val,
        month_labels=labels,
        monthly_throughput_kwh=tp_month,
        soc_hist=hist / max(hist.sum(), 1),
        soc_edges_pct=edges,
    )


def monthly_rows(e: Economics, schedule: Schedule, tariff: Tariff) -> list[dict[str, Any]]:
    """One row per month (the table the HTML and economics.json show)."""
    rows = []
    energy = schedule.battery.energy_kwh
    for m, label in enumerate(e.month_labels):
        row: dict[str, Any] = {
            "month": label,
            "bill_before": round(float(e.before.total[m]), 2),
            "bill_after": round(float(e.after.total[m]), 2),
            "energy_cost_before": round(float(e.before.energy[m]), 2),
            "energy_cost_after": round(float(e.after.energy[m]), 2),
            "demand_charges_before": round(float(e.before.demand[:, m].sum()), 2),
            "demand_charges_after": round(float(e.after.demand[:, m].sum()), 2),
            "peak_import_before_kw": round(float(e.before.peak_import_kw[m]), 3),
            "peak_import_after_kw": round(float(e.after.peak_import_kw[m]), 3),
            "import_before_kwh": round(float(e.before.import_kwh[m]), 3),
            "import_after_kwh": round(float(e.after.import_kwh[m]), 3),
            "throughput_kwh": round(float(e.monthly_throughput_kwh[m]), 3),
            "equivalent_full_cycles": round(float(e.monthly_throughput_kwh[m]) / energy, 3) if energy else 0.0,
        }
        for k, dc in enumerate(tariff.demand):
            row[f"billed_peak_before_kw[{dc.name}]"] = round(float(e.before.peaks_kw[k, m]), 3)
            row[f"billed_peak_after_kw[{dc.name}]"] = round(float(e.after.peaks_kw[k, m]), 3)
        rows.append(row)
    return rows
