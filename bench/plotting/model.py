"""What a figure is, as data: axes with units, traces, markers, limit levels, bars, histograms.

Callers describe a figure with these classes and `bench.plotting.render` draws it; nothing else in
the bench writes SVG. Values are numbers in the stated unit or pint quantities (converted to the
axis unit at render time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.plotting.decimate import MAX_PLOT_POINTS

TRACE_KINDS = ("line", "step", "envelope", "band", "points")
PALETTE = ("#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d")
WIDTH, HEIGHT = 900, 300


@dataclass(frozen=True)
class Axis:
    """One axis: its label, its unit (bench registry; '' for none) and scale.

    `readable_time`: the axis unit is a time unit and the ticks read in s, min, h or d by span.
    `limits`: a fixed range in the axis unit instead of the data's.
    `include_zero`: the range always covers 0 (bars, energy, power about zero).
    """

    label: str = ""
    unit: str = ""
    scale: str = "linear"
    limits: tuple[float, float] | None = None
    readable_time: bool = False
    include_zero: bool = False


@dataclass
class Trace:
    """Data on the axes.

    kind: 'line' (y against x; NaN breaks it), 'step' (zero-order hold: each value holds until the
    next x), 'envelope' (y is the minimum and y_hi the maximum per x, drawn as one line through
    both so peaks survive), 'band' (shaded area between y and y_hi), 'points' (a scatter).
    x_unit / y_unit: the unit of plain numbers (None: already in the axis unit).
    """

    x: Any
    y: Any
    y_hi: Any = None
    kind: str = "line"
    label: str = ""
    color: str | None = None
    width: float = 1.3
    x_unit: str | None = None
    y_unit: str | None = None
    axis: str = "y"


@dataclass(frozen=True)
class Marker:
    """A vertical line at x (an anomaly flag, an alarm), labelled along it."""

    x: float
    label: str
    color: str = "#c62828"


@dataclass(frozen=True)
class Level:
    """A horizontal line at y (a limit), labelled at the right. It widens the y range to show itself
    unless that would squash the data below a sixth of the height; then it is reported off scale."""

    y: float
    label: str
    color: str = "#c62828"
    axis: str = "y"


@dataclass
class Figure:
    """Traces against x, up to two y axes (y2 on the right), with markers, levels and guides.

    guides: x positions of dotted vertical lines (step changes). Marker and guide x are in the x axis
    unit. `show_title` draws the title inside the SVG (off when a caption carries it).
    """

    title: str
    x: Axis
    y: Axis
    traces: list[Trace] = field(default_factory=list)
    y2: Axis | None = None
    markers: list[Marker] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    guides: list[float] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    show_title: bool = True
    max_points: int = MAX_PLOT_POINTS


@dataclass
class BarChart:
    """Grouped bars: one group per category, one bar per series (e.g. bill before/after per month)."""

    title: str
    categories: list[str]
    series: dict[str, Any]
    y: Axis
    x_label: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    max_labels: int = 24


@dataclass
class Histogram:
    """Bars over bins of width proportional to the bin (`edges` has one more entry than `values`).

    Values must be additive (counts, fractions of time): above `max_bars` bins, neighbours are
    summed for the picture. `trim_empty` drops empty bins at both ends.
    """

    title: str
    edges: Any
    values: Any
    x: Axis
    y: Axis
    max_bars: int = 80
    trim_empty: bool = True
    color: str = PALETTE[0]
    width: int = WIDTH
    height: int = HEIGHT


@dataclass(frozen=True)
class Rendered:
    """A drawn figure: the SVG text, how many points it draws, and which levels fell off scale."""

    svg: str
    points: int = 0
    off_scale: tuple[int, ...] = ()
    empty: bool = False

    def to_bytes(self) -> bytes:
        return self.svg.encode("utf-8")
