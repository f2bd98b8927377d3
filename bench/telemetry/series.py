"""Time series recorded during a step, and aggregate checks over them.

Samples go to the journal (buffered) and stay in memory for aggregate checks such as
"max cell temperature during discharge <= 45 degC". A sampler polls channels on the clock, so
in simulation it follows virtual time.
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
from bench.units import Q_

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

    def aggregate(self, series: str, how: str) -> pint.Quantity:
        s = self.series.get(series)
        if s is None or not s.v:
            raise KeyError(f"no samples recorded for series {series!r} (have: {sorted(self.series)})")
        if how not in AGGREGATES:
            raise ValueError(f"unknown aggregate {how!r}; expected one of {sorted(AGGREGATES)}")
        return Q_(AGGREGATES[how](s.values()), s.unit)

    def integral(self, series: str) -> pint.Quantity:
        """Trapezoidal time integral of a series (A -> A*s, W -> J), over non-uniform samples."""
        s = self.series.get(series)
        if s is None or len(s.v) < 2:
            raise KeyError(f"need at least two samples of series {series!r} to integrate")
        return Q_(float(np.trapezoid(s.values(), np.asarray(s.t, dtype=float))), s.unit * self.clock.now().units)

    def check(self, name: str, series: str, how: str, **kwargs: Any) -> Measurement:
        """Measure an aggregate of a series against limit `name` (e.g. max temperature)."""
        value = self.aggregate(series, how)
        return self.recorder.measure(name, value, series=series, aggregate=how, **kwargs)
