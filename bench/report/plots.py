"""Time-series plots as inline SVG, built by hand so the report stays one self-contained file.

Each series gets one plot: axes with units and ticks, the min/max-decimated trace (peaks
survive), step boundaries, and the aggregate checks of that series ("max of series 'x'") drawn
as limit lines with their verdicts. The same SVG renders in a browser and in WeasyPrint.

`render_plot` draws any set of traces (a min/max polyline, a shaded band, a plain line) with
markers (anomaly flags); `plot_series` draws a journal series, `plot_envelope` a captured channel
or a family of cells from the store's summaries (bench.report.capture builds those). This is the
one plotting module of the bench: other report sections reuse `render_plot`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from bench.report.series import MAX_PLOT_POINTS, SeriesData, decimate

W, H = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 74, 16, 14, 44
LINE_AGGREGATES = {"max", "min", "mean", "last", "first"}  # a "span" limit is not a level on the value axis
COLORS = {"PASS": "#1a7f37", "MARGINAL": "#b08800", "FAIL": "#c62828", "INDETERMINATE": "#5a4fcf"}


@dataclass
class Plot:
    series: str
    unit: str
    title: str
    svg: str
    samples: int
    points: int
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Trace:
    """One thing drawn in a plot: `lo` only is a line; `lo` and `hi` a min/max trace (vertical extent
    per time) or, with `band`, a shaded area between them."""

    t: np.ndarray
    lo: np.ndarray
    hi: np.ndarray | None = None
    label: str = ""
    color: str = "#1f5fa8"
    band: bool = False
    width: float = 1.2


@dataclass
class Marker:
    """A vertical marker at time t (an anomaly flag, an alarm), labelled at the top of the plot."""

    t: float
    label: str
    color: str = "#c62828"


def checks_by_series(measurements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Aggregate checks (telemetry.check: the record's `series_check` of a measurement) per series."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in measurements:
        check = m.get("series_check")
        if check and not m.get("superseded"):
            out.setdefault(check["series"], []).append({**m, "how": check["aggregate"]})
    return out


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, k = [], 0
    while first + k * step <= hi + step * 1e-9 and k < 50:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _tick_label(value: float, ticks: list[float]) -> str:
    """Tick text with just the decimals the tick step needs."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
    if step >= 1e5 or step < 1e-4:
        return f"{value:.3g}"
    digits = f"{step:.10f}".rstrip("0").rstrip(".")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text.replace("-", "−")


def time_axis(span_s: float) -> tuple[float, str]:
    """Divisor and unit label so the time axis reads in s, min or h."""
    if span_s >= 3 * 3600:
        return 3600.0, "h"
    if span_s >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"


def _convert(values: list[float | None], unit_from: str, unit_to: str) -> list[float | None] | None:
    """Limit values in the series' unit; None when the units cannot be converted."""
    if unit_from == unit_to or not unit_from:
        return values
    try:
        from bench.units import Q_

        return [None if v is None else float(Q_(v, unit_from).to(unit_to).magnitude) for v in values]
    except Exception:
        return None


def _fmt_pts(xs: np.ndarray, ys: np.ndarray) -> str:
    """Polyline points at 0.1 px: small, deterministic text."""
    xy = np.column_stack([np.round(xs, 1), np.round(ys, 1)])
    return " ".join(f"{x:g},{y:g}" for x, y in xy.tolist())


def _limit_lines(checks: list[dict[str, Any]], unit: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for c in checks:
        limit = c.get("limit") or {}
        conv = _convert([limit.get("low"), limit.get("high")], limit.get("unit") or "", unit)
        entry = {
            "name": c["name"],
            "how": c["how"],
            "verdict": c["verdict"],
            "value": c.get("value"),
            "unit": c.get("unit") or "",
            "levels": [],
            "note": "",
        }
        if c["how"] not in LINE_AGGREGATES:
            entry["note"] = "limit on the span; not drawn as a level"
        elif conv is None:
            entry["note"] = f"limit unit {limit.get('unit')!r} does not convert to {unit!r}"
        else:
            entry["levels"] = [
                (label, val) for label, val in zip(("low", "high"), conv, strict=True) if val is not None
            ]
        lines.append(entry)
    return lines


def render_plot(
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
    """One SVG plot: axes, traces, step lines, markers, and aggregate checks as limit lines."""
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    lines = _limit_lines(checks or [], unit)
    vals = [a for tr in traces for a in (tr.lo, tr.hi) if a is not None and a.size]
    if vals:
        lo, hi = float(min(a.min() for a in vals)), float(max(a.max() for a in vals))
    else:
        lo, hi = 0.0, 1.0
    span_v = hi - lo or max(abs(hi) * 0.05, 1.0)
    for entry in lines:  # show a limit unless it would squash the trace below a sixth of the height
        for _, level in entry["levels"]:
            if max(hi, level) - min(lo, level) <= 6 * span_v:
                lo, hi = min(lo, level), max(hi, level)
    if hi == lo:
        lo, hi = lo - span_v / 2, hi + span_v / 2
    pad = (hi - lo) * 0.06
    y_lo, y_hi = lo - pad, hi + pad
    times = [tr.t for tr in traces if tr.t.size]
    if span is not None:
        t0, t1 = span
    elif times:
        t0, t1 = float(min(t[0] for t in times)), float(max(t[-1] for t in times))
    else:
        t0, t1 = 0.0, 1.0
    if t1 <= t0:
        t1 = t0 + 1.0
    div, tunit = time_axis(t1 - t0)

    def sx(tt: np.ndarray | float) -> Any:
        return LEFT + (np.asarray(tt, dtype=float) - t0) / (t1 - t0) * pw

    def sy(vv: np.ndarray | float) -> Any:
        return TOP + (y_hi - np.asarray(vv, dtype=float)) / (y_hi - y_lo) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {W} {H}" '
        f'width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(name)} [{escape(unit)}] over run time">',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#444" stroke-width="1"/>',
    ]
    yt = [y for y in nice_ticks(y_lo, y_hi) if y_lo <= y <= y_hi]
    for y in yt:
        py = float(sy(y))
        parts.append(
            f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + pw}" y2="{py:.1f}" stroke="#e3e3e3"/>'
            f'<text x="{LEFT - 6}" y="{py + 3.5:.1f}" text-anchor="end" font-size="11">'
            f"{_tick_label(y, yt)}</text>"
        )
    xt = [x for x in nice_ticks(t0 / div, t1 / div) if t0 / div <= x <= t1 / div]
    for x in xt:
        px = float(sx(x * div))
        parts.append(
            f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{TOP + ph}" stroke="#e3e3e3"/>'
            f'<text x="{px:.1f}" y="{TOP + ph + 15}" text-anchor="middle" font-size="11">'
            f"{_tick_label(x, xt)}</text>"
        )
    for ts in step_times or []:
        if t0 < ts < t1:
            px = float(sx(ts))
            parts.append(
                f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{TOP + ph}" stroke="#888" '
                f'stroke-dasharray="2,3"/>'
            )
    points = 0
    for tr in traces:
        if not tr.t.size:
            continue
        if tr.band and tr.hi is not None:
            xs = np.r_[sx(tr.t), sx(tr.t[::-1])]
            ys = np.r_[sy(tr.hi), sy(tr.lo[::-1])]
            parts.append(f'<polygon fill="{tr.color}" fill-opacity="0.22" stroke="none" points="{_fmt_pts(xs, ys)}"/>')
            points += 2 * tr.t.size
            continue
        if tr.hi is not None:  # min/max per time: both ends, in time order
            xs = np.repeat(tr.t, 2)
            ys = np.column_stack([tr.lo, tr.hi]).ravel()
        else:
            xs, ys = tr.t, tr.lo
        points += int(xs.size)
        parts.append(
            f'<polyline fill="none" stroke="{tr.color}" stroke-width="{tr.width}" stroke-linejoin="round" '
            f'points="{_fmt_pts(sx(xs), sy(ys))}"/>'
        )
    labelled = [tr for tr in traces if tr.label]
    for k, tr in enumerate(labelled):
        opacity = "0.4" if tr.band else "1"
        parts.append(
            f'<rect x="{LEFT + 8}" y="{TOP + 8 + 14 * k}" width="12" height="8" fill="{tr.color}" '
            f'fill-opacity="{opacity}"/>'
            f'<text x="{LEFT + 24}" y="{TOP + 16 + 14 * k}" font-size="10.5">{escape(tr.label)}</text>'
        )
    for m in markers or []:
        if not t0 <= m.t <= t1:
            continue
        px = float(sx(m.t))
        parts.append(
            f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{TOP + ph}" stroke="{m.color}" stroke-width="1.2"/>'
            f'<text x="{px - 3:.1f}" y="{TOP + ph - 4}" text-anchor="end" font-size="10" fill="{m.color}" '
            f'transform="rotate(-90 {px - 3:.1f} {TOP + ph - 4})">{escape(m.label)}</text>'
        )
    for entry in lines:
        color = COLORS.get(entry["verdict"], "#c62828")
        for label, level in entry["levels"]:
            if not (y_lo <= level <= y_hi):
                entry["note"] = "limit off scale"
                continue
            py = float(sy(level))
            text = (
                f"{entry['how']} {'≥' if label == 'low' else '≤'} {level:g} {unit} ({entry['name']}: "
                f"{entry['verdict']})"
            )
            parts.append(
                f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + pw}" y2="{py:.1f}" stroke="{color}" '
                f'stroke-width="1.4" stroke-dasharray="7,4"/>'
                f'<text x="{LEFT + pw - 4}" y="{py - 4:.1f}" text-anchor="end" font-size="10.5" '
                f'fill="{color}">{escape(text)}</text>'
            )
    parts.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{H - 6}" text-anchor="middle" font-size="12">'
        f"run time [{tunit}]</text>"
    )
    parts.append(
        f'<text transform="translate(14 {TOP + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-size="12">{escape(name)} [{escape(unit)}]</text>'
    )
    parts.append("</svg>")
    return Plot(
        series=name,
        unit=unit,
        title=title or f"{name} [{unit}]",
        svg="".join(parts),
        samples=samples,
        points=points,
        checks=[{k: e[k] for k in ("name", "how", "verdict", "value", "unit", "note")} for e in lines],
    )


def plot_series(s: SeriesData, checks: list[dict[str, Any]], step_names: dict[str, str]) -> Plot:
    """One SVG plot of a journal series with its aggregate checks as limit lines."""
    finite = np.isfinite(s.v)
    t_all, v_all = s.t[finite], s.v[finite]
    t, v = decimate(t_all, v_all, MAX_PLOT_POINTS // 2 - 1)
    changes = np.flatnonzero(np.diff(s.step_code[finite])) + 1 if t_all.size else np.array([], dtype=int)
    used = [step_names.get(st, st) for st in s.steps if st]
    title = f"{s.name} [{s.unit}]" + (f" — steps: {', '.join(used)}" if used else "")
    return render_plot(
        s.name,
        s.unit,
        [Trace(t, v)],
        checks=checks,
        step_times=[float(t_all[i]) for i in changes.tolist()],
        span=(float(t_all[0]), float(t_all[-1])) if t_all.size else None,
        title=title,
        samples=len(s),
    )


def build_plots(
    series: list[SeriesData], measurements: list[dict[str, Any]], step_names: dict[str, str]
) -> list[Plot]:
    checks = checks_by_series(measurements)
    return [plot_series(s, checks.get(s.name, []), step_names) for s in series if len(s)]


# -- category and x/y charts (bar charts, histograms, lines), for pages built from results rather than series --

PALETTE = ["#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d"]


def _frame(title: str, unit: str, lo: float, hi: float, width: int, height: int) -> tuple[list[str], Any, float]:
    """SVG head, value axis with ticks and grid; returns (parts, y-scaler, plot height)."""
    pw, ph = width - LEFT - RIGHT, height - TOP - BOTTOM - 14
    top = TOP + 14
    span = hi - lo or max(abs(hi) * 0.1, 1.0)
    y_lo, y_hi = lo - (0.04 * span if lo < 0 else 0.0), hi + 0.06 * span
    if y_hi <= y_lo:
        y_hi = y_lo + 1.0

    def sy(v: Any) -> Any:
        return top + (y_hi - np.asarray(v, dtype=float)) / (y_hi - y_lo) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT + pw / 2:.1f}" y="{TOP + 2}" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#444" stroke-width="1"/>',
    ]
    yt = [y for y in nice_ticks(y_lo, y_hi) if y_lo <= y <= y_hi]
    for y in yt:
        py = float(sy(y))
        parts.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + pw}" y2="{py:.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{LEFT - 6}" y="{py + 3.5:.1f}" text-anchor="end" font-size="11">'
                     f"{_tick_label(y, yt)}</text>")
    parts.append(f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
                 f'font-size="12">{escape(unit)}</text>')
    return parts, sy, ph


def _close(parts: list[str], xlabel: str, names: list[str], width: int, height: int) -> str:
    """x-axis label, legend and the closing tag of a bar or line chart."""
    pw = width - LEFT - RIGHT
    if xlabel:
        parts.append(f'<text x="{LEFT + pw / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="12">'
                     f"{escape(xlabel)}</text>")
    _legend(parts, names, width)
    parts.append("</svg>")
    return "".join(parts)


def _legend(parts: list[str], names: list[str], width: int) -> None:
    if len(names) < 2:
        return
    x = width - RIGHT - 8
    for k, name in enumerate(names):
        parts.append(f'<text x="{x}" y="{TOP + 30 + 13 * k}" text-anchor="end" font-size="11" '
                     f'fill="{PALETTE[k % len(PALETTE)]}" stroke="white" stroke-width="3" paint-order="stroke">'
                     f"{escape(name)}</text>")


def bar_chart(title: str, categories: list[str], series: dict[str, list[float] | np.ndarray], unit: str, *,
              width: int = W, height: int = H, xlabel: str = "") -> str:
    """Grouped vertical bars: one group per category, one bar per series (e.g. bill before/after per month).

    A histogram is a bar chart whose categories are the bin labels and whose one series is the fraction.
    """
    values = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    allv = np.concatenate([v[np.isfinite(v)] for v in values.values()]) if values else np.array([])
    lo = min(0.0, float(allv.min())) if allv.size else 0.0
    hi = max(0.0, float(allv.max())) if allv.size else 1.0
    parts, sy, ph = _frame(title, unit, lo, hi, width, height)
    pw = width - LEFT - RIGHT
    n, k = max(len(categories), 1), max(len(values), 1)
    group = pw / n
    bar = group * 0.8 / k
    zero = float(sy(0.0))
    for s, (name, v) in enumerate(values.items()):
        color = PALETTE[s % len(PALETTE)]
        for i, val in enumerate(v.tolist()):
            if not math.isfinite(val):
                continue
            x = LEFT + i * group + group * 0.1 + s * bar
            y = float(sy(val))
            parts.append(f'<rect x="{x:.1f}" y="{min(y, zero):.1f}" width="{max(bar - 0.6, 0.6):.1f}" '
                         f'height="{abs(zero - y):.1f}" fill="{color}"><title>{escape(categories[i])} '
                         f"{escape(name)}: {val:,.4g} {escape(unit)}</title></rect>")
    step = max(1, math.ceil(n / 24))  # at most ~24 labels
    base = TOP + 14 + ph
    for i in range(0, n, step):
        parts.append(f'<text x="{LEFT + (i + 0.5) * group:.1f}" y="{base + 15}" text-anchor="middle" '
                     f'font-size="11">{escape(categories[i])}</text>')
    return _close(parts, xlabel, list(values), width, height)


def line_chart(title: str, x: np.ndarray, series: dict[str, np.ndarray], unit: str, *, xlabel: str = "",
               width: int = W, height: int = H, max_points: int = MAX_PLOT_POINTS) -> str:
    """Lines of several series against one numeric x (min/max-decimated, so peaks survive); NaN breaks a line."""
    x = np.asarray(x, dtype=float)
    allv = np.concatenate([np.asarray(v, float)[np.isfinite(v)] for v in series.values()]) if series else np.array([])
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    parts, sy, ph = _frame(title, unit, lo, hi, width, height)
    pw = width - LEFT - RIGHT
    x0, x1 = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1.0

    def sx(v: Any) -> Any:
        return LEFT + (np.asarray(v, dtype=float) - x0) / (x1 - x0) * pw

    base = TOP + 14 + ph
    xt = [v for v in nice_ticks(x0, x1) if x0 <= v <= x1]
    for v in xt:
        px = float(sx(v))
        parts.append(f'<line x1="{px:.1f}" y1="{TOP + 14}" x2="{px:.1f}" y2="{base}" stroke="#e3e3e3"/>'
                     f'<text x="{px:.1f}" y="{base + 15}" text-anchor="middle" font-size="11">'
                     f"{_tick_label(v, xt)}</text>")
    for s, v in enumerate(series.values()):
        v = np.asarray(v, dtype=float)
        ok = np.isfinite(v)
        runs = np.split(np.flatnonzero(ok), np.flatnonzero(np.diff(np.flatnonzero(ok)) > 1) + 1) if ok.any() else []
        for run in runs:
            if not run.size:
                continue
            tx, vy = decimate(x[run], v[run], max_points // 2 - 1)
            parts.append(f'<polyline fill="none" stroke="{PALETTE[s % len(PALETTE)]}" stroke-width="1.3" '
                         f'stroke-linejoin="round" points="{_fmt_pts(sx(tx), sy(vy))}"/>')
    return _close(parts, xlabel, list(series), width, height)
