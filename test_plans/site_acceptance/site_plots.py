"""The site plan's figures (attached to the run like the intake plan's): data to `bench.plotting`.

Several series on one y axis (command against measured power), time on x; commands drawn as
zero-order holds. The SVG is bench.plotting's, so its bytes are as reproducible as the report's
and its hash goes into the signed manifest like any artifact.
"""

from __future__ import annotations

from bench.plotting import Axis, Figure, Trace, render


def series_plot(
    title: str,
    series: list[tuple[str, list[float], list[float]]],
    y_unit: str,
    t_unit: str = "s",
    step: set[str] | None = None,
) -> bytes:
    """`series`: (label, t in s, values in `y_unit`); labels in `step` are drawn as zero-order holds
    (commands); the time axis reads in `t_unit`."""
    traces = [
        Trace(t, v, label=label, kind="step" if step and label in step else "line", x_unit="s")
        for label, t, v in series
    ]
    fig = Figure(title, Axis("time", t_unit), Axis("", y_unit), traces, width=760, height=330)
    return render(fig).to_bytes()
