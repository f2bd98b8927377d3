"""Min/max decimation: a plot of a million samples keeps every peak and dip in a bounded size."""

from __future__ import annotations

import numpy as np

MAX_PLOT_POINTS = 2000


def bucket_starts(t: np.ndarray, buckets: int) -> np.ndarray:
    """Index of the first sample of each non-empty bucket, `buckets` equal spans of t (sorted)."""
    n = t.size
    span = float(t[-1] - t[0])
    if span <= 0:
        idx = np.minimum((np.arange(n) * buckets) // n, buckets - 1)
    else:
        idx = np.minimum(((t - t[0]) * (buckets / span)).astype(np.int64), buckets - 1)
    return np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])


def decimate(
    t: np.ndarray, v: np.ndarray, buckets: int = MAX_PLOT_POINTS // 2
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the min and max sample of each time bucket (plus the ends), so peaks survive.

    Expects finite values (the plot splits at NaN first). Returns at most 2 * buckets + 2 points in
    time order; short series come back unchanged.
    """
    n = t.size
    if n <= 2 * buckets + 2:
        return t, v
    if np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    starts = bucket_starts(t, buckets)
    bucket_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    keep = np.zeros(n, dtype=bool)
    for reduce in (np.minimum, np.maximum):
        extreme = reduce.reduceat(v, starts)
        pos = np.flatnonzero(v == extreme[bucket_of])
        _, first = np.unique(bucket_of[pos], return_index=True)  # first sample reaching the extreme
        keep[pos[first]] = True
    keep[0] = keep[-1] = True
    sel = np.flatnonzero(keep)
    return t[sel], v[sel]


def finite_runs(*arrays: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the runs where every array is finite: a NaN (a gap) ends a run."""
    ok = np.ones(np.asarray(arrays[0]).shape, dtype=bool)
    for a in arrays:
        ok &= np.isfinite(np.asarray(a, dtype=float))
    idx = np.flatnonzero(ok)
    if not idx.size:
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)


def reduce_envelope(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most `buckets` (x, min, max) per run: the minimum of `lo` and the maximum of `hi` per x
    bucket, at the bucket's first x. Expects finite values in x order; short inputs are unchanged."""
    n = x.size
    if n <= buckets:
        return x, lo, hi
    starts = bucket_starts(x, buckets)
    return x[starts], np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts)
