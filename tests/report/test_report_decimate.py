"""Decimation keeps the extremes (a single spike survives) and bounds the points per plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.journal import Journal
from bench.plotting import MAX_PLOT_POINTS, decimate, nice_ticks
from bench.report.figures import plot_series
from bench.report.render import render_report
from bench.report.series import SeriesData, load_series


def test_a_single_spike_and_dip_survive_decimation() -> None:
    t = np.arange(1_000_000, dtype=float) * 0.1
    v = np.sin(t / 500.0)
    v[123_457], v[876_543] = 42.0, -17.0
    td, vd = decimate(t, v, 999)
    assert td.size <= MAX_PLOT_POINTS and np.all(np.diff(td) >= 0)
    assert vd.max() == 42.0 and vd.min() == -17.0
    assert td[np.argmax(vd)] == t[123_457]
    assert td[0] == t[0] and td[-1] == t[-1]


def test_short_series_are_not_decimated() -> None:
    t, v = np.arange(10.0), np.arange(10.0) ** 2
    td, vd = decimate(t, v, 999)
    assert np.array_equal(td, t) and np.array_equal(vd, v)


def test_spike_in_the_journal_survives_into_the_svg(
    run_id: str, build_run: Callable[..., Journal], tmp_path: Path
) -> None:
    j = build_run(tmp_path / "j.sqlite", samples=20_000, spike_at=12_345)
    series = {s.name: s for s in load_series(j, run_id)}
    current = series["pack.current"]
    assert len(current) == 20_000 and current.v.max() == 95.0
    assert decimate(current.t, current.v, MAX_PLOT_POINTS // 2 - 1)[1].max() == 95.0
    plot = plot_series(current, [], {})
    assert plot.points <= MAX_PLOT_POINTS
    result = render_report(j, run_id, tmp_path / "run", pdf=False)
    html = result.html.read_text(encoding="utf-8")
    assert "charge.max_current" in html and "FAIL" in html
    j.close()


def test_nan_samples_are_kept_in_csv_and_skipped_in_plots() -> None:
    s = SeriesData("x", "V", np.arange(5.0), np.array([1.0, np.nan, 3.0, 2.0, 1.0]), np.zeros(5, dtype=np.int32), ["s"])
    plot = plot_series(s, [], {})
    assert plot.points == 4 and "nan" not in plot.svg.lower()
    assert s.stats()["max"] == 3.0


def test_ticks_are_round_numbers() -> None:
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(49.7, 54.3)[0] == 50.0
