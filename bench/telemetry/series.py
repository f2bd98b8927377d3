"""Time series recorded during a step, and aggregate checks over them.

The plan's own series (`record`, `sampling`) are low-rate (a sample every second to minutes): they
go to the journal (SQLite, buffered at most a second) like measurements, and stay in memory for
aggregate checks such as "max cell temperature during discharge <= 45 degC". A sampler polls
channels on the clock, so in simulation it follows virtual time.

Channels captured at high rate (`[telemetry]`, capture.py) are checked the same way by name
(`check("discharge.max_cell_v", "bms_can.CellVoltage_003", "max")`): the aggregate is computed
exactly from the columnar store (whole segments from their summaries, cut segments from their
samples) over the current step, or from `since` to `until`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pint

from bench.clock import Clock
from bench.journal import Journal
from bench.recorder import Measurement, Recorder
from bench.units import Q_, as_seconds

AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "max": lambda a: float(np.max(a)),
    "min": lambda a: float(np.min(a)),
    "mean": lambda a: float(np.mean(a)),
    "last": lambda a: float(a[-1]),
    "first": lambda a: float(a[0]),
    "span": lambda a: float(np.max(a) - np.min(a)),
}


class Series:
    def __init__(self, name: str, unit: pint.Unit) -> None:
        self.name = name
        self.unit = unit
        self.t: list[float] = []
        self.v: list[float] = []

    def values(self) -> np.ndarray:
        return np.asarray(self.v, dtype=float)


class Telemetry:
    def __init__(self, journal: Journal, run_id: str, clock: Clock, recorder: Recorder) -> None:
        self.journal = journal
        self.run_id = run_id
        self.clock = clock
        self.recorder = recorder
        self.series: dict[str, Series] = {}
        self.capture: Any = None  # bench.telemetry.capture.Capture while high-rate capture runs

    def record(self, name: str, value: pint.Quantity, t: float | None = None) -> None:
        if not isinstance(value, pint.Quantity):
            raise TypeError(f"telemetry {name!r} needs a pint quantity, got {value!r}")
        s = self.series.get(name)
        if s is None:
            s = self.series[name] = Series(name, value.units)
        t = self.clock.now_s() if t is None else t
        mag = float(value.to(s.unit).magnitude)
        s.t.append(t)
        s.v.append(mag)
        self.journal.add_samples(self.run_id, self.recorder.step.nodeid, name, f"{s.unit:~P}", [(t, mag)])

    @contextmanager
    def sampling(self, channels: dict[str, Callable[[], pint.Quantity]], every: pint.Quantity) -> Iterator[None]:
        """Sample each channel every `every` while the block runs (and once at start and end)."""

        def sample(_t: float | None = None) -> None:
            for name, read in channels.items():
                self.record(name, read())

        sample()
        handle = self.clock.every(every, sample, name="telemetry")
        try:
            yield
        finally:
            self.clock.cancel(handle)
            sample()

    def channels(self) -> list[str]:
        """Names of the channels captured at high rate in this run (empty without `[telemetry]`)."""
        if self.capture is None or self.capture.store is None:
            return []
        return [c.name for g in self.capture.store.groups.values() for c in g.spec.channels]

    def _span(self, since: pint.Quantity | None, until: pint.Quantity | None) -> tuple[float | None, float | None]:
        t0 = as_seconds(since, what="since") if since is not None else self.capture.step_start()
        t1 = as_seconds(until, what="until") if until is not None else None
        return t0, t1

    def aggregate(
        self, series: str, how: str, *, since: pint.Quantity | None = None, until: pint.Quantity | None = None
    ) -> pint.Quantity:
        """An aggregate (max, min, mean, first, last, span) of a recorded series, or of a captured channel
        over the current step (or `since`..`until`, run time)."""
        if how not in AGGREGATES:
            raise ValueError(f"unknown aggregate {how!r}; expected one of {sorted(AGGREGATES)}")
        s = self.series.get(series)
        if (s is None or not s.v) and self.capture is not None and self.capture.has(series):
            reader = self.capture.reader()
            t0, t1 = self._span(since, until)
            value = reader.aggregate(series, how, t0, t1)
            unit = reader.channel(series).unit or "dimensionless"
            if how == "span" and unit in ("degC", "degF"):
                unit = "delta_" + unit
            return Q_(value, unit)
        if s is None or not s.v:
            raise KeyError(
                f"no samples recorded for series {series!r} (have: {sorted(self.series)}"
                + (f"; captured: {len(self.channels())} channels" if self.capture is not None else "")
                + ")"
            )
        return Q_(AGGREGATES[how](s.values()), s.unit)

    def integral(
        self, series: str, *, since: pint.Quantity | None = None, until: pint.Quantity | None = None
    ) -> pint.Quantity:
        """Trapezoidal time integral of a series (A -> A*s, W -> J), over non-uniform samples; a captured
        channel over the current step (or `since`..`until`)."""
        s = self.series.get(series)
        if (s is None or len(s.v) < 2) and self.capture is not None and self.capture.has(series):
            reader = self.capture.reader()
            t, v = reader.raw(series, *self._span(since, until))
            if t.size < 2:
                raise KeyError(f"need at least two samples of captured channel {series!r} to integrate")
            return Q_(
                float(np.trapezoid(v, t)),
                Q_(1.0, reader.channel(series).unit or "dimensionless").units * self.clock.now().units,
            )
        if s is None or len(s.v) < 2:
            raise KeyError(f"need at least two samples of series {series!r} to integrate")
        return Q_(float(np.trapezoid(s.values(), np.asarray(s.t, dtype=float))), s.unit * self.clock.now().units)

    def check(
        self,
        name: str,
        series: str,
        how: str,
        *,
        since: pint.Quantity | None = None,
        until: pint.Quantity | None = None,
        **kwargs: Any,
    ) -> Measurement:
        """Measure an aggregate of a series or captured channel against limit `name` (e.g. max temperature)."""
        value = self.aggregate(series, how, since=since, until=until)
        return self.recorder.measure(name, value, series=series, aggregate=how, **kwargs)
