"""Per-day and per-hour reductions of per-row arrays, computed once and shared by every metric.

Rows come time-ordered, so a day's (or an hour's) rows are one contiguous run: a sum over each run
is one `np.add.reduceat` pass, several times cheaper than a weighted `np.bincount` over millions of
rows. Keys that are not sorted (a DST change crossing midnight) fall back to a stable sort.
"""

from __future__ import annotations

import numpy as np

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


class Groups:
    """Row runs of an integer key: `ids` are the keys present, `starts` where each run begins."""

    @classmethod
    def of_sorted(cls, t: np.ndarray, unit: int, origin: int, n: int | None = None) -> Groups:
        """Runs of key = (t - origin) // unit for non-decreasing `t`, found by binary search of each
        unit's first instant: no per-row division or difference (a 7-million-row log has ~1,400 days).
        """
        g = cls.__new__(cls)
        g._set_sorted(t, unit, origin, n)
        return g

    def _set_sorted(self, t: np.ndarray, unit: int, origin: int, n: int | None = None) -> None:
        self.order = None
        first, last = (int(t[0]) - origin) // unit, (int(t[-1]) - origin) // unit
        pos = np.searchsorted(t, origin + unit * np.arange(first, last + 2, dtype=np.int64))
        pos[0] = 0
        present = np.flatnonzero(np.diff(pos) > 0)
        self.starts = pos[present].astype(np.intp)
        self.ids = (first + present).astype(np.int64)
        self.n = last + 1 if n is None else max(n, last + 1)

    def __init__(self, key: np.ndarray, n: int | None = None):
        step = np.diff(key)
        self.order = None
        if step.size and step.min() < 0:
            self.order = np.argsort(key, kind="stable")
            key = key[self.order]
            step = np.diff(key)
        self.starts = np.concatenate([[0], np.flatnonzero(step) + 1]).astype(np.intp)
        self.ids = np.asarray(key[self.starts], np.int64)
        last = int(key[-1]) + 1 if len(key) else 0
        self.n = last if n is None else max(n, last)

    def rows(self, a: np.ndarray) -> np.ndarray:
        return a if self.order is None else a[self.order]

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Float64 sum per key (0 where a key has no rows), like a weighted bincount."""
        out = np.zeros(self.n)
        out[self.ids] = np.add.reduceat(self.rows(a), self.starts, dtype=np.float64)
        return out

    def max(self, a: np.ndarray) -> np.ndarray:
        out = np.full(self.n, np.nan)
        out[self.ids] = np.maximum.reduceat(self.rows(a), self.starts)
        return out

    def min(self, a: np.ndarray) -> np.ndarray:
        out = np.full(self.n, np.nan)
        out[self.ids] = np.minimum.reduceat(self.rows(a), self.starts)
        return out

    def present(self) -> np.ndarray:
        out = np.zeros(self.n, bool)
        out[self.ids] = True
        return out


class Days(Groups):
    """Calendar days (of wall-clock µs) numbered from the first day, `d0` (days since the epoch)."""

    def __init__(self, local_us: np.ndarray):
        self.local_us = local_us
        self.ordered = bool(len(local_us)) and bool((local_us[1:] >= local_us[:-1]).all())
        if self.ordered:  # the usual case; a zoned log's wall clock goes back once a year (DST)
            self.d0 = int(local_us[0]) // DAY_US
            self._set_sorted(local_us, DAY_US, self.d0 * DAY_US)
            return
        day = local_us // DAY_US
        self.d0 = int(day.min())
        if self.d0:
            day -= self.d0
        super().__init__(day)

    def hours(self) -> Groups:
        """Hour-of-day runs: key = day number * 24 + hour."""
        if self.ordered:
            return Groups.of_sorted(self.local_us, HOUR_US, self.d0 * DAY_US, self.n * 24)
        return Groups((self.local_us - self.d0 * DAY_US) // HOUR_US, self.n * 24)

    def time_of_day_s(self, idx: np.ndarray) -> np.ndarray:
        """Seconds since local midnight of the rows `idx` (a subset, so no full-length temporary)."""
        t = self.local_us[idx]
        return (t - (t // DAY_US) * DAY_US) / 1e6

    def day_of(self, idx: np.ndarray) -> np.ndarray:
        return self.local_us[idx] // DAY_US - self.d0
