"""Telemetry for the page's live plots, read through one adapter and drawn by the report's code.

Today's series live in the journal's `series` table and are read with the report's loader
(`bench.report.series.load_series`); the plots are the report's own figures (`bench.report.figures`,
drawn by `bench.plotting`, min/max decimated to `MAX_PLOT_POINTS`), so the page and the report draw the same picture.
When telemetry moves to Parquet chunks with summaries, only `SeriesSource` changes.
"""

from __future__ import annotations

import time
from typing import Any

from bench.journal import Journal
from bench.report.figures import build_plots
from bench.report.series import SeriesData, load_series

MIN_INTERVAL_S = 2.0  # plots are redrawn at most this often per viewer (more when loading is slow)


class SeriesSource:
    """The telemetry series of one run, with a cheap test for new samples."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.journal = journal
        self.run_id = run_id
        self._mark = -1

    def changed(self) -> bool:
        mark = self.journal.series_rowid()
        if mark != self._mark:
            self._mark = mark
            return True
        return False

    def load(self) -> list[SeriesData]:
        return load_series(self.journal, self.run_id)


class LivePlots:
    """SVG plots of a run's series, redrawn when samples arrive, no more often than the load allows."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.source = SeriesSource(journal, run_id)
        self.journal = journal
        self.run_id = run_id
        self._next = 0.0
        self._interval = MIN_INTERVAL_S
        self.svgs: dict[str, str] = {}

    def poll(self, force: bool = False) -> dict[str, str] | None:
        """{series: svg} of the plots that changed, or None when nothing is due."""
        now = time.monotonic()
        if not force and now < self._next:
            return None
        if not self.source.changed() and not force:
            self._next = now + self._interval
            return None
        start = time.monotonic()
        series = self.source.load()
        measurements = [_with_check(m) for m in self.journal.measurements(self.run_id)]
        names = {s["nodeid"]: s["name"] for s in self.journal.steps(self.run_id)}
        plots = build_plots(series, measurements, names)
        took = time.monotonic() - start
        self._interval = max(MIN_INTERVAL_S, 5 * took)
        self._next = time.monotonic() + self._interval
        out = {}
        for p in plots:
            if self.svgs.get(p.series) != p.svg:
                self.svgs[p.series] = p.svg
                out[p.series] = p.svg
        return out


def _with_check(m: dict[str, Any]) -> dict[str, Any]:
    """A journal measurement in the record's shape the plot code reads (`series_check`)."""
    return {**m, "series_check": {"series": m["series"], "aggregate": m["aggregate"]} if m.get("series") else None}
