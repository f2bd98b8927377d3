"""bench.plotting: the one plotting module. Extremes survive, gaps stay gaps, text is escaped,
bytes are reproducible, units convert (or fail by name), and no data is a named figure."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from bench.plotting import (
    Axis,
    BarChart,
    Figure,
    Histogram,
    Level,
    Marker,
    PlotError,
    Trace,
    render,
)
from bench.units import Q_

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def _polylines(svg: str) -> list[list[tuple[float, float]]]:
    root = _parse(svg)
    return [
        [tuple(map(float, p.split(","))) for p in el.get("points", "").split()] for el in root.iter(f"{SVG}polyline")
    ]


def _fig(traces: list[Trace], **kw: object) -> Figure:
    return Figure("v", Axis("time", "s"), Axis("voltage", "V"), traces, **kw)


def test_envelope_keeps_the_extremes_of_a_million_samples() -> None:
    t = np.arange(1_000_000, dtype=float)
    v = np.sin(t / 5000.0)
    v[123_457], v[876_543] = 42.0, -17.0
    r = render(_fig([Trace(t, v)]))
    assert r.points <= 2000
    (line,) = _polylines(r.svg)
    ys = [y for _, y in line]
    top, bottom = min(ys), max(ys)  # pixel y grows downwards
    # the spike is the highest vertex and the dip the lowest: both survived decimation
    spike_x = [x for x, y in line if y == top]
    dip_x = [x for x, y in line if y == bottom]
    assert len(spike_x) == 1 and len(dip_x) == 1 and spike_x[0] < dip_x[0]


def test_a_min_max_envelope_draws_both_bounds_when_reduced() -> None:
    x = np.arange(10_000, dtype=float)
    lo, hi = np.zeros_like(x), np.ones_like(x)
    lo[7000], hi[3000] = -5.0, 9.0
    r = render(_fig([Trace(x, lo, hi, kind="envelope")]))
    (line,) = _polylines(r.svg)
    ys = sorted({y for _, y in line})
    assert len(ys) == 4  # -5, 0, 1, 9: the lone extremes of each bound are kept
    assert r.points <= 2000


def test_nan_breaks_the_line_into_separate_polylines() -> None:
    t = np.arange(8.0)
    v = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, np.nan, 8.0])
    r = render(_fig([Trace(t, v)]))
    lines = _polylines(r.svg)
    assert [len(ln) for ln in lines] == [3, 2]  # no segment joins 3.0 to 5.0 across the gap
    assert len(list(_parse(r.svg).iter(f"{SVG}circle"))) == 1  # the lone sample 8.0 is still drawn
    assert r.points == 6 and "nan" not in r.svg.lower()


def test_a_band_splits_at_gaps_too() -> None:
    x = np.arange(6.0)
    lo = np.array([0.0, 0.0, np.nan, 0.0, 0.0, 0.0])
    r = render(_fig([Trace(x, lo, lo + 1, kind="band", label="range")]))
    assert len(list(_parse(r.svg).iter(f"{SVG}polygon"))) == 2


def test_step_trace_holds_each_value_until_the_next_x() -> None:
    r = render(
        Figure(
            "cmd",
            Axis("t", "s", limits=(0.0, 2.0)),
            Axis("p", "kW", limits=(0.0, 10.0)),
            [Trace([0.0, 1.0, 2.0], [0.0, 10.0, 0.0], kind="step")],
            show_title=False,
        )
    )
    (line,) = _polylines(r.svg)
    xs = [x for x, _ in line]
    ys = [y for _, y in line]
    assert len(line) == 5 and xs[1] == xs[2] and ys[0] == ys[1] and ys[2] == ys[3]


def test_text_is_escaped_and_nothing_executable_is_written() -> None:
    evil = '<script>alert("x")</script> & "quotes"'
    r = render(
        Figure(
            evil,
            Axis(evil),
            Axis(evil),
            [Trace([0.0, 1.0], [1.0, 2.0], label=evil)],
            markers=[Marker(0.5, evil)],
            levels=[Level(1.5, evil)],
        )
    )
    assert "<script" not in r.svg and "&lt;script&gt;" in r.svg
    root = _parse(r.svg)
    assert root.get("aria-label") == evil  # escaped in the attribute, intact once parsed
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert texts.count(evil) >= 4  # title, legend, marker, level (axis labels too)
    for el in root.iter():
        assert not any(k.startswith("on") or "href" in k for k in el.attrib)


def test_a_colour_that_is_not_a_colour_is_refused() -> None:
    with pytest.raises(PlotError, match=r"trace t1: colour '\"/><script>' is not '#rrggbb'"):
        render(_fig([Trace([0.0, 1.0], [1.0, 2.0], label="t1", color='"/><script>')]))


def test_same_input_gives_the_same_bytes() -> None:
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.1, 1.0, 50_000))
    v = rng.normal(3.3, 0.01, t.size)

    def draw() -> bytes:
        return render(
            Figure(
                "cells",
                Axis("run time", "s", readable_time=True),
                Axis("cell", "V"),
                [Trace(t, v - 0.01, v + 0.01, kind="band", label="range"), Trace(t, v, label="mean")],
                markers=[Marker(float(t[100]), "flag")],
                levels=[Level(3.35, "max ≤ 3.35 V")],
                guides=[float(t[2000])],
            )
        ).to_bytes()

    assert draw() == draw()
    assert (
        draw()
        == render(
            Figure(
                "cells",
                Axis("run time", "s", readable_time=True),
                Axis("cell", "V"),
                [
                    Trace(t.copy(), v - 0.01, v + 0.01, kind="band", label="range"),
                    Trace(t.copy(), v.copy(), label="mean"),
                ],
                markers=[Marker(float(t[100]), "flag")],
                levels=[Level(3.35, "max ≤ 3.35 V")],
                guides=[float(t[2000])],
            )
        ).to_bytes()
    )
    assert "-0," not in draw().decode() and not re.search(r'"-0"', draw().decode())


@pytest.mark.parametrize(
    "figure",
    [
        Figure("pack voltage", Axis("t", "s"), Axis("v", "V"), []),
        Figure("pack voltage", Axis("t", "s"), Axis("v", "V"), [Trace([], [])]),
        Figure("pack voltage", Axis("t", "s"), Axis("v", "V"), [Trace([0.0, 1.0], [np.nan, np.nan])]),
        Figure("pack voltage", Axis("t", "s"), Axis("v", "V", scale="log"), [Trace([0.0, 1.0], [0.0, -1.0])]),
        BarChart("pack voltage", ["a", "b"], {"x": [np.nan, np.nan]}, Axis("v", "V")),
        Histogram("pack voltage", [0.0, 1.0, 2.0], [0.0, 0.0], Axis("v", "V"), Axis("fraction")),
    ],
)
def test_no_data_is_a_named_no_data_figure(figure: object) -> None:
    r = render(figure)  # type: ignore[arg-type]
    assert r.empty and r.points == 0
    assert "pack voltage: no data" in [el.text for el in _parse(r.svg).iter(f"{SVG}text")]


def test_traces_in_other_units_are_converted_to_the_axis_unit() -> None:
    in_mv = render(Figure("v", Axis("t", "s"), Axis("v", "V"), [Trace([0.0, 1.0], [3300.0, 3400.0], y_unit="mV")]))
    in_v = render(Figure("v", Axis("t", "s"), Axis("v", "V"), [Trace([0.0, 1.0], [3.3, 3.4])]))
    as_q = render(Figure("v", Axis("t", "s"), Axis("v", "V"), [Trace(Q_([0.0, 1.0], "s"), Q_([3300.0, 3400.0], "mV"))]))
    assert in_mv.svg == in_v.svg == as_q.svg
    assert "v [V]" in in_v.svg


def test_a_unit_that_does_not_convert_names_the_trace_and_both_units() -> None:
    with pytest.raises(PlotError, match=r"trace pack current y: 'A' does not convert to the axis unit 'V'"):
        render(Figure("v", Axis("t", "s"), Axis("v", "V"), [Trace([0.0], [1.0], label="pack current", y_unit="A")]))
    with pytest.raises(PlotError, match="'volts please' is not a unit"):
        render(Figure("v", Axis("t", "s"), Axis("v", "volts please"), [Trace([0.0], [1.0])]))


def test_readable_time_axis_reads_in_hours_for_a_long_run() -> None:
    r = render(
        Figure("x", Axis("run time", "s", readable_time=True), Axis("v", "V"), [Trace([0.0, 4 * 3600.0], [1.0, 2.0])])
    )
    texts = [el.text for el in _parse(r.svg).iter(f"{SVG}text")]
    assert "run time [h]" in texts and "4" in texts


def test_log_axis_has_decade_ticks_and_drops_non_positive_values_as_gaps() -> None:
    r = render(
        Figure(
            "x",
            Axis("f", "Hz"),
            Axis("z", "ohm", scale="log"),
            [Trace([1.0, 2.0, 3.0, 4.0, 5.0], [0.001, 0.1, 0.0, 10.0, 1000.0])],
        )
    )
    texts = [el.text for el in _parse(r.svg).iter(f"{SVG}text")]
    assert {"0.001", "0.1", "10", "1000"} <= set(texts)
    assert [len(ln) for ln in _polylines(r.svg)] == [2, 2]


def test_a_level_far_off_the_data_is_reported_off_scale_not_drawn() -> None:
    r = render(_fig([Trace([0.0, 1.0], [3.30, 3.31])], levels=[Level(3.32, "near"), Level(100.0, "far")]))
    assert r.off_scale == (1,)
    texts = [el.text for el in _parse(r.svg).iter(f"{SVG}text")]
    assert "near" in texts and "far" not in texts


def test_second_axis_scales_its_own_traces() -> None:
    r = render(
        Figure(
            "vi",
            Axis("t", "s"),
            Axis("v", "V"),
            [Trace([0.0, 1.0], [3.0, 3.5]), Trace([0.0, 1.0], [-100.0, 100.0], axis="y2")],
            y2=Axis("i", "A"),
        )
    )
    a, b = _polylines(r.svg)
    assert [y for _, y in a] == [y for _, y in b]  # each spans the plot height on its own scale
    texts = [el.text for el in _parse(r.svg).iter(f"{SVG}text")]
    assert {"−100", "100", "3.5"} <= set(texts) and "i [A]" in texts
    with pytest.raises(PlotError, match="no y2 axis"):
        render(_fig([Trace([0.0], [1.0], axis="y2")]))


def test_histogram_bins_are_as_wide_as_they_are_and_neighbours_merge_above_the_limit() -> None:
    edges = np.r_[np.arange(0.0, 200.0), 199.5]  # 200 bins, the last one half as wide
    values = np.ones(200)
    r = render(Histogram("h", edges, values, Axis("T", "degC"), Axis("fraction"), max_bars=100))
    rects = [el for el in _parse(r.svg).iter(f"{SVG}rect") if el.get("fill") == "#1f5fa8"]
    assert len(rects) == 100 and r.points == 100
    heights = {el.get("height") for el in rects}
    assert len(heights) == 1  # every merged bar sums two bins
    widths = [float(el.get("width")) for el in rects]
    assert widths[-1] < 0.8 * widths[0]  # the short last group stays short
    with pytest.raises(PlotError, match="3 edges for 3 bins"):
        render(Histogram("h", [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], Axis(), Axis()))


def test_bars_carry_a_tooltip_per_value_and_refuse_a_length_mismatch() -> None:
    r = render(BarChart("bill", ["Jan", "Feb"], {"before": [10.0, 20.0], "after": [5.0, -2.0]}, Axis("EUR")))
    titles = [el.text for el in _parse(r.svg).iter(f"{SVG}title")]
    assert titles == ["Jan before: 10 EUR", "Feb before: 20 EUR", "Jan after: 5 EUR", "Feb after: -2 EUR"]
    with pytest.raises(PlotError, match="series 'after': 1 values for 2 categories"):
        render(BarChart("bill", ["Jan", "Feb"], {"after": [5.0]}, Axis("EUR")))


def test_scatter_draws_one_point_per_finite_sample() -> None:
    r = render(_fig([Trace([0.0, 1.0, 2.0, 3.0], [1.0, np.nan, 2.0, 3.0], kind="points")]))
    assert len(list(_parse(r.svg).iter(f"{SVG}circle"))) == 3 and r.points == 3


def test_many_gaps_share_one_point_budget_and_each_gap_still_breaks_the_line() -> None:
    t = np.arange(200_000, dtype=float)
    v = np.sin(t / 300.0)
    v[np.arange(1000, 200_000, 4000)] = np.nan  # 50 gaps
    r = render(_fig([Trace(t, v)]))
    assert len(_polylines(r.svg)) == 51
    assert r.points <= 2000 + 2 * 51  # the budget plus both ends of every run, not a budget per run


def test_unit_labels_keep_the_callers_order_of_factors() -> None:
    from bench.plotting.units import unit_label

    assert [unit_label(u) for u in ("kW·h", "W*h", "degC", "percent", "mohm")] == ["kW·h", "W·h", "°C", "%", "mΩ"]
