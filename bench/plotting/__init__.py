"""The bench's one plotting module: data in, deterministic self-contained SVG out.

Describe a figure with `Figure` (traces against x: line, step, min/max envelope, band, scatter,
with markers, limit levels and guides, up to two y axes), `BarChart` or `Histogram`; axes carry
units of bench's pint registry (log or linear); `render(figure)` returns a `Rendered` with the SVG.
The same figure always gives the same bytes (reports are hashed and signed), every text is
escaped, no script or external reference is ever written, NaN breaks a line rather than joining
across a gap, and a figure without data is drawn as a named 'no data' picture, not an error.
"""

from __future__ import annotations

from bench.plotting.bars import render_bars, render_histogram
from bench.plotting.decimate import MAX_PLOT_POINTS, decimate
from bench.plotting.errors import PlotError
from bench.plotting.lines import render_figure
from bench.plotting.model import PALETTE, Axis, BarChart, Figure, Histogram, Level, Marker, Rendered, Trace
from bench.plotting.scale import nice_ticks

__all__ = [
    "MAX_PLOT_POINTS",
    "PALETTE",
    "Axis",
    "BarChart",
    "Figure",
    "Histogram",
    "Level",
    "Marker",
    "PlotError",
    "Rendered",
    "Trace",
    "decimate",
    "nice_ticks",
    "render",
]


def render(figure: Figure | BarChart | Histogram) -> Rendered:
    """Draw any figure of this module as SVG."""
    if isinstance(figure, Figure):
        return render_figure(figure)
    if isinstance(figure, BarChart):
        return render_bars(figure)
    if isinstance(figure, Histogram):
        return render_histogram(figure)
    raise PlotError(f"cannot draw a {type(figure).__name__}: expected a Figure, BarChart or Histogram")
