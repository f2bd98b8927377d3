"""Draw a `Figure`: traces (line, step, min/max envelope, band, scatter) on unit axes, with
markers, limit levels and guides; an empty figure is a framed, named 'no data' picture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.plotting.decimate import decimate_runs, finite_runs, reduce_envelope_runs
from bench.plotting.errors import PlotError
from bench.plotting.model import PALETTE, TRACE_KINDS, Axis, Figure, Rendered, Trace
from bench.plotting.scale import Scale, data_range, tick_label
from bench.plotting.svg import Svg, color, num, points
from bench.plotting.units import magnitudes, readable_time, unit_label

LEFT, RIGHT, TOP, BOTTOM = 74, 16, 14, 44
TITLE_H = 18
LEVEL_REACH = 6  # a level widens the range only up to this many times the data's span
GRID, FRAME, GUIDE = "#e3e3e3", "#444", "#888"


@dataclass
class _Data:
    """One trace in axis units, with its style checked."""

    trace: Trace
    x: np.ndarray
    y: np.ndarray
    hi: np.ndarray | None
    color: str


def axis_title(axis: Axis, shown_unit: str | None = None) -> str:
    """'label [unit]', 'label' or '[unit]'."""
    unit = shown_unit if shown_unit is not None else unit_label(axis.unit, f"axis {axis.label!r}")
    if axis.label and unit:
        return f"{axis.label} [{unit}]"
    return axis.label or (f"[{unit}]" if unit else "")


def _prepare(fig: Figure) -> list[_Data]:
    out = []
    for k, tr in enumerate(fig.traces):
        what = f"figure {fig.title!r}, trace {tr.label or k}"
        if tr.kind not in TRACE_KINDS:
            raise PlotError(f"{what}: kind {tr.kind!r} is not one of {', '.join(TRACE_KINDS)}")
        if tr.axis not in ("y", "y2") or (tr.axis == "y2" and fig.y2 is None):
            raise PlotError(f"{what}: axis {tr.axis!r} is not 'y'" + (" or 'y2'" if fig.y2 else " (no y2 axis)"))
        if (tr.y_hi is None) == (tr.kind in ("envelope", "band")):
            raise PlotError(f"{what}: a {tr.kind} trace " + ("needs" if tr.y_hi is None else "takes no") + " y_hi")
        yaxis = fig.y if tr.axis == "y" else fig.y2
        assert yaxis is not None
        x = magnitudes(tr.x, tr.x_unit, fig.x.unit, what + " x").ravel()
        y = magnitudes(tr.y, tr.y_unit, yaxis.unit, what + " y").ravel()
        hi = None if tr.y_hi is None else magnitudes(tr.y_hi, tr.y_unit, yaxis.unit, what + " y_hi").ravel()
        if y.size != x.size or (hi is not None and hi.size != x.size):
            raise PlotError(
                f"{what}: {x.size} x values but {y.size} y"
                + (f" and {hi.size} y_hi" if hi is not None else "")
                + " values"
            )
        if yaxis.scale == "log":  # nothing at or below zero exists on a log axis: a gap, not a clamp
            y = np.where(y > 0, y, np.nan)
            hi = None if hi is None else np.where(hi > 0, hi, np.nan)
        if fig.x.scale == "log":
            x = np.where(x > 0, x, np.nan)
        out.append(_Data(tr, x, y, hi, color(tr.color or PALETTE[k % len(PALETTE)], what)))
    return out


def _y_scale(
    fig: Figure, axis: Axis, data: list[_Data], name: str, top: float, bottom: float, off: list[int]
) -> Scale | None:
    if axis.scale not in ("linear", "log"):
        raise PlotError(f"figure {fig.title!r}: {name} scale {axis.scale!r} is not 'linear' or 'log'")
    log = axis.scale == "log"
    if axis.limits is not None:
        lo, hi = axis.limits
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo or (log and lo <= 0):
            raise PlotError(f"figure {fig.title!r}: {name} limits {axis.limits} are not an increasing finite range")
        return Scale(lo, hi, bottom, top, log=log)
    rng = data_range([a for d in data for a in (d.y, d.hi) if a is not None], log)
    if rng is None:
        return None
    lo, hi = rng
    if axis.include_zero and not log:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo or max(abs(hi) * 0.05, 1.0)
    for k, level in enumerate(fig.levels):
        if level.axis != ("y" if name == "y axis" else "y2") or not np.isfinite(level.y) or (log and level.y <= 0):
            continue
        if max(hi, level.y) - min(lo, level.y) <= LEVEL_REACH * span:
            lo, hi = min(lo, level.y), max(hi, level.y)
        else:
            off.append(k)
    return Scale.padded(lo, hi, bottom, top, log=log)


def _xy_runs(d: _Data, max_points: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) vertex runs of a line-like trace in data units, split at gaps, within the point budget
    (a step trace is decimated first, then held; points are never decimated)."""
    kind = d.trace.kind
    if kind == "envelope":
        assert d.hi is not None
        return [
            (np.repeat(x, 2), np.column_stack([lo, hi]).ravel())
            for x, lo, hi in reduce_envelope_runs(d.x, d.y, d.hi, max_points // 2)
        ]
    if kind == "points":
        return [(d.x[idx], d.y[idx]) for idx in finite_runs(d.x, d.y)]
    runs = decimate_runs(d.x, d.y, (max_points // 4 if kind == "step" else max_points // 2) - 1)
    if kind == "step":
        return [(np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]) for x, y in runs]
    return runs


def render_figure(fig: Figure) -> Rendered:
    """The SVG of a figure (same figure, same bytes)."""
    data = _prepare(fig)
    right = LEFT if fig.y2 is not None else RIGHT
    top = TOP + (TITLE_H if fig.show_title else 0)
    pw, ph = fig.width - LEFT - right, fig.height - top - BOTTOM
    if pw <= 20 or ph <= 20:
        raise PlotError(f"figure {fig.title!r}: {fig.width}x{fig.height} px leaves no room to plot")
    svg = Svg(fig.width, fig.height, fig.title)
    if fig.show_title:
        svg.add("text", fig.title, x=float(LEFT + pw / 2), y=float(TOP + 4), text_anchor="middle", font_size=13)
    svg.add("rect", x=LEFT, y=top, width=pw, height=ph, fill="#fff", stroke=FRAME, stroke_width=1)
    off: list[int] = []
    ys = _y_scale(fig, fig.y, [d for d in data if d.trace.axis == "y"], "y axis", top, top + ph, off)
    y2s = (
        None
        if fig.y2 is None
        else _y_scale(fig, fig.y2, [d for d in data if d.trace.axis == "y2"], "y2 axis", top, top + ph, off)
    )
    xs = _x_scale(fig, data, LEFT, LEFT + pw)
    if xs is None or (ys is None and y2s is None):
        svg.add(
            "text",
            f"{fig.title}: no data",
            x=float(LEFT + pw / 2),
            y=float(top + ph / 2),
            text_anchor="middle",
            font_size=13,
            fill="#555",
        )
        _axis_labels(svg, fig, None, top, pw, ph)
        return Rendered(svg.to_string(), 0, (), empty=True)
    ys = ys or Scale(0.0, 1.0, top + ph, top)
    divisor, shown = 1.0, None
    if fig.x.readable_time:
        shown, divisor = readable_time(fig.x.unit or "s", xs.hi - xs.lo)
    _grid(svg, fig, ys, xs, y2s, divisor, top, pw, ph)
    for g in fig.guides:
        if xs.lo < g < xs.hi:
            px = float(xs(g))
            svg.add("line", x1=px, y1=top, x2=px, y2=top + ph, stroke=GUIDE, stroke_dasharray="2,3")
    drawn = 0
    for d in data:
        scale = ys if d.trace.axis == "y" else y2s
        if scale is None:
            continue
        drawn += _draw_trace(svg, d, xs, scale, fig.max_points)
    _legend(svg, data, top)
    for m in fig.markers:
        if not (np.isfinite(m.x) and xs.contains(m.x)):
            continue
        px, c = float(xs(m.x)), color(m.color, f"figure {fig.title!r}, marker {m.label!r}")
        ty = float(top + ph - 4)  # read upwards from the bottom of the plot, inside it
        svg.add("line", x1=px, y1=top, x2=px, y2=top + ph, stroke=c, stroke_width=1.2)
        svg.add(
            "text",
            m.label,
            x=px - 3,
            y=ty,
            text_anchor="start",
            font_size=10,
            fill=c,
            transform=f"rotate(-90 {num(px - 3)} {num(ty)})",
        )
    for k, level in enumerate(fig.levels):
        scale = ys if level.axis == "y" else y2s
        if k in off or scale is None or not (np.isfinite(level.y) and scale.contains(level.y)):
            if k not in off:
                off.append(k)
            continue
        py, c = float(scale(level.y)), color(level.color, f"figure {fig.title!r}, level {level.label!r}")
        svg.add("line", x1=LEFT, y1=py, x2=LEFT + pw, y2=py, stroke=c, stroke_width=1.4, stroke_dasharray="7,4")
        svg.add("text", level.label, x=LEFT + pw - 4, y=py - 4, text_anchor="end", font_size=10.5, fill=c)
    _axis_labels(svg, fig, shown, top, pw, ph)
    return Rendered(svg.to_string(), drawn, tuple(sorted(off)))


def _x_scale(fig: Figure, data: list[_Data], px0: float, px1: float) -> Scale | None:
    axis = fig.x
    if axis.scale not in ("linear", "log"):
        raise PlotError(f"figure {fig.title!r}: x scale {axis.scale!r} is not 'linear' or 'log'")
    log = axis.scale == "log"
    if axis.limits is not None:
        lo, hi = axis.limits
        if not (np.isfinite(lo) and np.isfinite(hi)) or (log and lo <= 0):
            raise PlotError(f"figure {fig.title!r}: x limits {axis.limits} are not a finite range")
        if hi <= lo:
            hi = lo + 1.0
        return Scale(lo, hi, px0, px1, log=log)
    xs = [d.x[np.isfinite(d.y)] for d in data]
    rng = data_range(xs, log)
    if rng is None:
        return None
    lo, hi = rng
    if hi <= lo:
        return Scale.padded(lo, hi, px0, px1, log=log, pad=0.0)
    return Scale(lo, hi, px0, px1, log=log)


def _grid(
    svg: Svg, fig: Figure, ys: Scale, xs: Scale, y2s: Scale | None, divisor: float, top: float, pw: float, ph: float
) -> None:
    yt = ys.ticks()
    for y in yt:
        py = float(ys(y))
        svg.add("line", x1=LEFT, y1=py, x2=LEFT + pw, y2=py, stroke=GRID)
        svg.add("text", tick_label(y, yt, ys.log), x=LEFT - 6, y=py + 3.5, text_anchor="end", font_size=11)
    if y2s is not None:
        y2t = y2s.ticks()
        for y in y2t:
            svg.add("text", tick_label(y, y2t, y2s.log), x=LEFT + pw + 6, y=float(y2s(y)) + 3.5, font_size=11)
    xt = xs.ticks(divisor)
    for x in xt:
        px = float(xs(x * divisor))
        svg.add("line", x1=px, y1=top, x2=px, y2=top + ph, stroke=GRID)
        svg.add("text", tick_label(x, xt, xs.log), x=px, y=top + ph + 15, text_anchor="middle", font_size=11)


def _draw_trace(svg: Svg, d: _Data, xs: Scale, ys: Scale, max_points: int) -> int:
    tr, drawn = d.trace, 0
    if tr.kind == "band":
        assert d.hi is not None
        for x, lo, hi in reduce_envelope_runs(d.x, d.y, d.hi, max_points // 2):
            px = np.r_[xs(x), xs(x[::-1])]
            py = np.r_[ys(hi), ys(lo[::-1])]
            svg.add("polygon", fill=d.color, fill_opacity="0.22", stroke="none", points=points(px, py))
            drawn += 2 * x.size
        return drawn
    for x, y in _xy_runs(d, max_points):
        drawn += int(x.size)
        if tr.kind == "points":
            for cx, cy in zip(xs(x).tolist(), ys(y).tolist(), strict=True):
                svg.add("circle", cx=float(cx), cy=float(cy), r=1.8, fill=d.color)
        elif x.size == 1:  # a lone sample between gaps: a dot, so it is not lost
            svg.add("circle", cx=float(xs(x)[0]), cy=float(ys(y)[0]), r=1.5, fill=d.color)
        else:
            svg.add(
                "polyline",
                fill="none",
                stroke=d.color,
                stroke_width=float(tr.width),
                stroke_linejoin="round",
                points=points(xs(x), ys(y)),
            )
    return drawn


def _legend(svg: Svg, data: list[_Data], top: float) -> None:
    labelled = [d for d in data if d.trace.label]
    for k, d in enumerate(labelled):
        svg.add(
            "rect",
            x=LEFT + 8,
            y=top + 8 + 14 * k,
            width=12,
            height=8,
            fill=d.color,
            fill_opacity="0.4" if d.trace.kind == "band" else "1",
        )
        svg.add(
            "text",
            d.trace.label,
            x=LEFT + 24,
            y=top + 16 + 14 * k,
            font_size=10.5,
            stroke="white",
            stroke_width=3,
            paint_order="stroke",
        )


def _axis_labels(svg: Svg, fig: Figure, shown_x_unit: str | None, top: float, pw: float, ph: float) -> None:
    xt = axis_title(fig.x, shown_x_unit)
    if xt:
        svg.add("text", xt, x=float(LEFT + pw / 2), y=fig.height - 6, text_anchor="middle", font_size=12)
    mid = num(top + ph / 2)
    yt = axis_title(fig.y)
    if yt:
        svg.add("text", yt, transform=f"translate(14 {mid}) rotate(-90)", text_anchor="middle", font_size=12)
    if fig.y2 is not None:
        y2t = axis_title(fig.y2)
        if y2t:
            svg.add(
                "text",
                y2t,
                transform=f"translate({fig.width - 12} {mid}) rotate(90)",
                text_anchor="middle",
                font_size=12,
            )
