"""The dispatch page: one self-contained HTML file (inline SVG from bench.plotting, no scripts, no CDN)."""

from __future__ import annotations

from typing import Any

import jinja2
import numpy as np

from bench.analyze.quality import fmt_time
from bench.dispatch.economics import Economics
from bench.dispatch.schedule import Schedule
from bench.dispatch.tariff import Tariff
from bench.plotting import Axis, BarChart, Figure, Trace, render

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("bench.dispatch", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, dict) and "value" in v:
        return f"{_num(v['value'], digits)} {v.get('unit', '')}".strip()
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:,.{digits}g}"


_env.filters["num"] = _num


def _week(schedule: Schedule) -> tuple[int, int]:
    """The 7 days around the interval of the largest peak reduction (what demand charges pay for)."""
    load = schedule.load
    before = np.maximum(load.net_kw, 0.0)
    t = int(np.argmax(before - schedule.import_kw)) if load.n else 0
    per_day = int(round(86400 / load.step_s))
    a = max(0, min(t - 3 * per_day, load.n - 7 * per_day))
    return a, min(load.n, a + 7 * per_day)


def bar_chart(title: str, categories: list[str], series: dict[str, Any], y: Axis, xlabel: str = "") -> str:
    return render(BarChart(title, categories, series, y, x_label=xlabel)).svg


def line_chart(title: str, x: np.ndarray, series: dict[str, np.ndarray], y: Axis, x_axis: Axis) -> str:
    """Lines of several series against one x (min/max-decimated, so peaks survive); NaN breaks a line."""
    return render(Figure(title, x_axis, y, [Trace(x, v, label=name) for name, v in series.items()])).svg


def plots(schedule: Schedule, econ: Economics, tariff: Tariff, result: dict[str, Any]) -> list[dict[str, str]]:
    cur = tariff.currency
    months = [m[2:] for m in econ.month_labels]  # "25-01": short labels for twelve bars
    b, a = econ.before, econ.after
    e = schedule.battery.energy_kwh
    figs = [
        (
            "Bill per month, before and after the battery",
            bar_chart("bill per month", months, {"before": b.total, "after": a.total}, Axis(cur)),
        ),
        (
            "Demand charges per month (the difference is the demand charge saved)",
            bar_chart(
                "demand charges",
                months,
                {
                    "before": b.demand.sum(axis=0),
                    "after": a.demand.sum(axis=0),
                    "saved": b.demand.sum(axis=0) - a.demand.sum(axis=0),
                },
                Axis(cur),
            ),
        ),
        (
            "Energy cost per month net of export credit (the difference is arbitrage and self-consumption)",
            bar_chart(
                "energy cost", months, {"before": b.energy, "after": a.energy, "saved": b.energy - a.energy}, Axis(cur)
            ),
        ),
        (
            "Highest interval import per month",
            bar_chart(
                "import peak", months, {"before": b.peak_import_kw, "after": a.peak_import_kw}, Axis("import", "kW")
            ),
        ),
        (
            "Throughput and equivalent full cycles per month",
            bar_chart(
                f"throughput (equivalent full cycles = throughput / {e:g} kWh)",
                months,
                {"throughput": econ.monthly_throughput_kwh},
                Axis("throughput", "kWh"),
            ),
        ),
        (
            "Equivalent full cycles per month",
            bar_chart(
                "equivalent full cycles",
                months,
                {"cycles": econ.monthly_throughput_kwh / e if e else econ.monthly_throughput_kwh * 0},
                Axis("cycles"),
            ),
        ),
        (
            "State of charge: fraction of time per 5 % bin",
            bar_chart(
                "SoC histogram",
                [f"{int(x)}" for x in econ.soc_edges_pct[:-1]],
                {"time": 100 * econ.soc_hist},
                Axis("time", "percent"),
                xlabel="SoC bin start [%]",
            ),
        ),
    ]
    lo, hi = _week(schedule)
    if hi > lo:
        load = schedule.load
        x = (np.arange(lo, hi) - lo) * load.step_h
        week = Axis("time from the start of the week", "h")
        figs.append(
            (
                f"The week of the largest peak reduction, from {fmt_time(load.local_us[lo])}",
                line_chart(
                    "site power",
                    x,
                    {
                        "import before": np.maximum(load.net_kw[lo:hi], 0.0),
                        "import after": schedule.grid_kw[lo:hi],
                        "battery (discharge +)": schedule.net_power_kw[lo:hi],
                    },
                    Axis("power", "kW"),
                    week,
                ),
            )
        )
        figs.append(
            (
                "State of charge in that week",
                line_chart("SoC", x, {"SoC": 100 * schedule.soc_kwh[lo:hi] / e}, Axis("SoC", "percent"), week),
            )
        )
    if result.get("throughput_trade"):
        rows = result["throughput_trade"]
        lim = np.array([100 * r["fraction_of_unlimited"] for r in rows])
        figs.append(
            (
                "Throughput limit against savings and life",
                line_chart(
                    "savings and life",
                    lim,
                    {
                        "annual savings (% of unlimited)": np.array([100 - (r["savings_loss_pct"] or 0) for r in rows]),
                        "life (% of unlimited)": np.array([100 + (r["life_extension_pct"] or 0) for r in rows]),
                    },
                    Axis("", "percent"),
                    Axis("throughput limit (of the unlimited schedule's throughput)", "percent"),
                ),
            )
        )
    if result.get("sizing"):
        rows = result["sizing"]
        powers = sorted({r["power_kw"] for r in rows})
        energies = sorted({r["energy_kwh"] for r in rows})
        series = {}
        for p in powers:
            series[f"{p:g} kW"] = np.array(
                [
                    next((r["npv"] for r in rows if r["energy_kwh"] == en and r["power_kw"] == p), np.nan)
                    for en in energies
                ]
            )
        figs.append(
            ("NPV by energy and power", line_chart("NPV", np.array(energies), series, Axis(cur), Axis("energy", "kWh")))
        )
    return [{"caption": c, "svg": s} for c, s in figs]


def render_page(schedule: Schedule, econ: Economics, tariff: Tariff, result: dict[str, Any]) -> str:
    return _env.get_template("dispatch.html.j2").render(
        r=result, plots=plots(schedule, econ, tariff, result), cur=tariff.currency
    )
