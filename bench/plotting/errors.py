"""The one error the plotting module raises: a figure that cannot be drawn as asked."""

from __future__ import annotations


class PlotError(ValueError):
    """A figure asked for something impossible (a unit that does not convert, a bad colour, a trace
    without its upper bound); the message names the figure, the trace or axis and what was expected."""
