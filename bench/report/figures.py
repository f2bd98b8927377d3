"""The report's figures: journal series and captured channels as `bench.plotting` figures.

Each series gets one plot: run time in s, min or h, the min/max-decimated trace (peaks survive),
step boundaries as guides, and the aggregate checks of that series ("max of series 'x'") as limit
levels with their verdicts. The drawing is `bench.plotting`'s; this module decides what a report
figure shows and keeps the caption's account of each check (drawn, off scale, not a level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.plotting import Axis, Figure, Level, Marker, PlotError, Trace, render
from bench.plotting.units import is_unit, magnitudes
from bench.report.series import SeriesData

LINE_AGGREGATES = {"max", "min", "mean", "last", "first"}  # a "span" limit is not a level on the value axis
COLORS = {"PASS": "#1a7f37", "MARGINAL": "#b08800", "FAIL": "#c62828", "INDETERMINATE": "#5a4fcf"}
RUN_TIME = Axis("run time", "s", readable_time=True)


@dataclass
class Plot:
    series: str
    unit: str
    title: str
    svg: str
    samples: int
    points: int
    checks: list[dict[str, Any]] = field(default_factory=list)


def checks_by_series(measurements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Aggregate checks (telemetry.check: the record's `series_check` of a measurement) per series."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in measurements:
        check = m.get("series_check")
        if check and not m.get("superseded"):
            out.setdefault(check["series"], []).append({**m, "how": check["aggregate"]})
    return out


def value_axis(name: str, unit: str) -> Axis:
    """The y axis of a series: its unit when the registry knows it, else the unit as plain text."""
    if not unit or is_unit(unit):
        return Axis(name, unit)
    return Axis(f"{name} [{unit}]")


def _limit_levels(checks: list[dict[str, Any]], axis: Axis) -> tuple[list[Level], list[dict[str, Any]], list[int]]:
    """(levels, caption entries, entry index of each level) for the aggregate checks of one series."""
    levels: list[Level] = []
    owner: list[int] = []
    entries = []
    for c in checks:
        limit = c.get("limit") or {}
        entry = {
            "name": c["name"],
            "how": c["how"],
            "verdict": c["verdict"],
            "value": c.get("value"),
            "unit": c.get("unit") or "",
            "note": "",
        }
        bounds = [(label, limit.get(label)) for label in ("low", "high") if limit.get(label) is not None]
        if c["how"] not in LINE_AGGREGATES:
            entry["note"] = "limit on the span; not drawn as a level"
        elif bounds:
            try:
                values = magnitudes(
                    [v for _, v in bounds],
                    (limit.get("unit") or axis.unit) if axis.unit else None,
                    axis.unit,
                    f"limit of {c['name']}",
                )
            except PlotError:
                entry["note"] = f"limit unit {limit.get('unit')!r} does not convert to {axis.unit!r}"
                values = None
            if values is not None:
                shown = axis.unit or ""
                for (label, _), level in zip(bounds, values.tolist(), strict=True):
                    text = (
                        f"{c['how']} {'≥' if label == 'low' else '≤'} {level:g} {shown} ({c['name']}: {c['verdict']})"
                    ).replace("  (", " (")
                    levels.append(Level(level, text, COLORS.get(c["verdict"], "#c62828")))
                    owner.append(len(entries))
        entries.append(entry)
    return levels, entries, owner


def trace_plot(
    name: str,
    unit: str,
    traces: list[Trace],
    *,
    checks: list[dict[str, Any]] | None = None,
    step_times: list[float] | None = None,
    markers: list[Marker] | None = None,
    span: tuple[float, float] | None = None,
    title: str | None = None,
    samples: int = 0,
) -> Plot:
    """A report plot of traces against run time (s) with the aggregate checks of the series as levels."""
    y = value_axis(name, unit)
    levels, entries, owner = _limit_levels(checks or [], y)
    x = RUN_TIME if span is None else Axis(RUN_TIME.label, "s", readable_time=True, limits=span)
    fig = Figure(
        title or f"{name} [{unit}]",
        x,
        y,
        traces,
        markers=list(markers or []),
        levels=levels,
        guides=list(step_times or []),
        show_title=False,
    )
    drawn = render(fig)
    for k in drawn.off_scale:
        entries[owner[k]]["note"] = "limit off scale"
    return Plot(
        series=name, unit=unit, title=fig.title, svg=drawn.svg, samples=samples, points=drawn.points, checks=entries
    )


def plot_series(s: SeriesData, checks: list[dict[str, Any]], step_names: dict[str, str]) -> Plot:
    """One plot of a journal series with its aggregate checks as limit levels; NaN samples are gaps."""
    finite = np.isfinite(s.v)
    t_all = s.t[finite]
    changes = np.flatnonzero(np.diff(s.step_code[finite])) + 1 if t_all.size else np.array([], dtype=int)
    used = [step_names.get(st, st) for st in s.steps if st]
    title = f"{s.name} [{s.unit}]" + (f" — steps: {', '.join(used)}" if used else "")
    return trace_plot(
        s.name,
        s.unit,
        [Trace(s.t, s.v)],
        checks=checks,
        step_times=[float(t_all[i]) for i in changes.tolist()],
        span=(float(t_all[0]), float(t_all[-1])) if t_all.size else None,
        title=title,
        samples=len(s),
    )


def build_plots(series: list[SeriesData], measurements: list[dict[str, Any]], step_names: dict[str, str]) -> list[Plot]:
    checks = checks_by_series(measurements)
    return [plot_series(s, checks.get(s.name, []), step_names) for s in series if len(s)]
