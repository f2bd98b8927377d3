"""Draw a `BarChart` (grouped bars per category) or a `Histogram` (bars as wide as their bins)."""

from __future__ import annotations

import math

import numpy as np

from bench.plotting.errors import PlotError
from bench.plotting.lines import BOTTOM, FRAME, GRID, LEFT, RIGHT, TITLE_H, TOP, axis_title
from bench.plotting.model import PALETTE, BarChart, Histogram, Rendered
from bench.plotting.scale import Scale, tick_label
from bench.plotting.svg import Svg, color
from bench.plotting.units import magnitudes, unit_label


def _frame(svg: Svg, title: str, y_title: str, scale: Scale, width: int, height: int) -> tuple[float, float, float]:
    """Title, plot frame, y grid and ticks; returns (top, plot width, plot height)."""
    top = TOP + TITLE_H
    pw, ph = width - LEFT - RIGHT, height - top - BOTTOM
    svg.add("text", title, x=float(LEFT + pw / 2), y=float(TOP + 4), text_anchor="middle", font_size=13)
    svg.add("rect", x=LEFT, y=top, width=pw, height=ph, fill="#fff", stroke=FRAME, stroke_width=1)
    yt = scale.ticks()
    for y in yt:
        py = float(scale(y))
        svg.add("line", x1=LEFT, y1=py, x2=LEFT + pw, y2=py, stroke=GRID)
        svg.add("text", tick_label(y, yt), x=LEFT - 6, y=py + 3.5, text_anchor="end", font_size=11)
    if y_title:
        svg.add(
            "text",
            y_title,
            transform=f"translate(14 {top + ph / 2:.1f}) rotate(-90)",
            text_anchor="middle",
            font_size=12,
        )
    return top, pw, ph


def _no_data(svg: Svg, title: str, width: int, height: int) -> Rendered:
    svg.add("text", title, x=float(width / 2), y=float(TOP + 4), text_anchor="middle", font_size=13)
    svg.add(
        "text",
        f"{title}: no data",
        x=float(width / 2),
        y=float(height / 2),
        text_anchor="middle",
        font_size=13,
        fill="#555",
    )
    return Rendered(svg.to_string(), 0, (), empty=True)


def _value_scale(values: np.ndarray, top: float, bottom: float) -> Scale:
    """A value scale from 0 (bars start at zero) over the finite values."""
    lo = min(0.0, float(values.min())) if values.size else 0.0
    hi = max(0.0, float(values.max())) if values.size else 1.0
    span = hi - lo or max(abs(hi) * 0.1, 1.0)
    y_lo, y_hi = lo - (0.04 * span if lo < 0 else 0.0), hi + 0.06 * span
    return Scale(y_lo, y_hi if y_hi > y_lo else y_lo + 1.0, bottom, top)


def render_bars(chart: BarChart) -> Rendered:
    """Grouped bars; each bar carries a tooltip with its category, series and value."""
    svg = Svg(chart.width, chart.height, chart.title)
    what = f"bar chart {chart.title!r}"
    values = {}
    for name, v in chart.series.items():
        arr = magnitudes(v, None, chart.y.unit, f"{what}, series {name!r}").ravel()
        if arr.size != len(chart.categories):
            raise PlotError(f"{what}, series {name!r}: {arr.size} values for {len(chart.categories)} categories")
        values[name] = arr
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()]) if values else np.empty(0)
    if not finite.size:
        return _no_data(svg, chart.title, chart.width, chart.height)
    top = TOP + TITLE_H
    ph = chart.height - top - BOTTOM
    scale = _value_scale(finite, top, top + ph)
    top, pw, ph = _frame(svg, chart.title, axis_title(chart.y), scale, chart.width, chart.height)
    n, k = max(len(chart.categories), 1), max(len(values), 1)
    group = pw / n
    bar = group * 0.8 / k
    zero = float(scale(0.0))
    unit = unit_label(chart.y.unit) or chart.y.label
    drawn = 0
    for s, (name, v) in enumerate(values.items()):
        c = PALETTE[s % len(PALETTE)]
        for i, val in enumerate(v.tolist()):
            if not math.isfinite(val):
                continue
            y = float(scale(val))
            svg.add(
                "rect",
                x=float(LEFT + i * group + group * 0.1 + s * bar),
                y=min(y, zero),
                width=max(bar - 0.6, 0.6),
                height=abs(zero - y),
                fill=c,
                title=f"{chart.categories[i]} {name}: {val:,.4g} {unit}".rstrip(),
            )
            drawn += 1
    step = max(1, math.ceil(n / max(chart.max_labels, 1)))
    for i in range(0, len(chart.categories), step):
        svg.add(
            "text",
            chart.categories[i],
            x=float(LEFT + (i + 0.5) * group),
            y=float(top + ph + 15),
            text_anchor="middle",
            font_size=11,
        )
    if chart.x_label:
        svg.add("text", chart.x_label, x=float(LEFT + pw / 2), y=chart.height - 6, text_anchor="middle", font_size=12)
    if len(values) > 1:
        x = chart.width - RIGHT - 8
        for s, name in enumerate(values):
            svg.add(
                "text",
                name,
                x=x,
                y=top + 16 + 13 * s,
                text_anchor="end",
                font_size=11,
                fill=PALETTE[s % len(PALETTE)],
                stroke="white",
                stroke_width=3,
                paint_order="stroke",
            )
    return Rendered(svg.to_string(), drawn)


def render_histogram(h: Histogram) -> Rendered:
    """Bars over their bins (a short last bin stays short), x ticks in the bin unit."""
    what = f"histogram {h.title!r}"
    edges = magnitudes(h.edges, None, h.x.unit, what + " edges").ravel()
    values = magnitudes(h.values, None, h.y.unit, what + " values").ravel()
    if edges.size != values.size + 1:
        raise PlotError(f"{what}: {edges.size} edges for {values.size} bins (expected one more edge than bins)")
    if edges.size and not (np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)):
        raise PlotError(f"{what}: bin edges must be finite and increasing")
    values = np.where(np.isfinite(values), values, 0.0)
    svg = Svg(h.width, h.height, h.title)
    nz = np.flatnonzero(values != 0) if h.trim_empty else np.arange(values.size)
    if not nz.size:
        return _no_data(svg, h.title, h.width, h.height)
    a, b = int(nz[0]), int(nz[-1]) + 1
    values, edges = values[a:b], edges[a : b + 1]
    k = -(-values.size // max(h.max_bars, 1))  # merge k neighbouring bins for the picture
    if k > 1:
        values = np.add.reduceat(values, np.arange(0, values.size, k))
        edges = np.append(edges[:-1:k], edges[-1])
    top = TOP + TITLE_H
    ph = h.height - top - BOTTOM
    scale = _value_scale(values, top, top + ph)
    top, pw, ph = _frame(svg, h.title, axis_title(h.y), scale, h.width, h.height)
    xs = Scale(float(edges[0]), float(edges[-1]), LEFT, LEFT + pw)
    zero = float(scale(0.0))
    c = color(h.color, what)
    px = xs(edges)
    for i, val in enumerate(values.tolist()):
        y = float(scale(val))
        svg.add(
            "rect",
            x=float(px[i]),
            y=min(y, zero),
            width=max(float(px[i + 1] - px[i]) - 0.5, 0.5),
            height=abs(zero - y),
            fill=c,
        )
    xt = xs.ticks()
    for x in xt:
        svg.add("text", tick_label(x, xt), x=float(xs(x)), y=float(top + ph + 15), text_anchor="middle", font_size=11)
    xtitle = axis_title(h.x)
    if xtitle:
        svg.add("text", xtitle, x=float(LEFT + pw / 2), y=h.height - 6, text_anchor="middle", font_size=12)
    return Rendered(svg.to_string(), int(values.size))
