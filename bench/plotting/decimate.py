"""Min/max decimation: a plot of a million samples keeps every peak and dip in a bounded size.

The point budget is shared by the whole trace: samples are grouped by x bucket (and by gap, so a
NaN still breaks the line), and only the minimum and maximum of each group are drawn, plus the
ends of each run between gaps. A trace with many gaps therefore costs its budget plus two points
per gap, never a budget per gap.
"""

from __future__ import annotations

import numpy as np

MAX_PLOT_POINTS = 2000


def group_starts(x: np.ndarray, buckets: int, run_id: np.ndarray | None = None) -> np.ndarray:
    """Index of the first sample of each group: `buckets` equal spans of x (increasing x; otherwise
    by sample position), split again wherever `run_id` changes."""
    n = x.size
    span = float(x[-1] - x[0])
    if span <= 0 or np.any(np.diff(x) < 0):
        idx = np.minimum((np.arange(n) * buckets) // n, buckets - 1)
    else:
        idx = np.minimum(((x - x[0]) * (buckets / span)).astype(np.int64), buckets - 1)
    change = idx[1:] != idx[:-1]
    if run_id is not None:
        change |= run_id[1:] != run_id[:-1]
    return np.flatnonzero(np.r_[True, change])


def _extremes(v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mask of the first sample reaching the minimum and the maximum of each group."""
    n = v.size
    group_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    keep = np.zeros(n, dtype=bool)
    for reduce in (np.minimum, np.maximum):
        extreme = reduce.reduceat(v, starts)
        pos = np.flatnonzero(v == extreme[group_of])
        _, first = np.unique(group_of[pos], return_index=True)
        keep[pos[first]] = True
    return keep


def decimate(t: np.ndarray, v: np.ndarray, buckets: int = MAX_PLOT_POINTS // 2) -> tuple[np.ndarray, np.ndarray]:
    """Keep the min and max sample of each time bucket (plus the ends), so peaks survive.

    Expects finite values. Returns at most 2 * buckets + 2 points in time order; short series come
    back unchanged.
    """
    n = t.size
    if n <= 2 * buckets + 2:
        return t, v
    if np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    keep = _extremes(v, group_starts(t, buckets))
    keep[0] = keep[-1] = True
    sel = np.flatnonzero(keep)
    return t[sel], v[sel]


def _runs(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the samples where every array is finite, the gap count before each of them)."""
    ok = np.ones(np.asarray(arrays[0]).shape, dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a)
    idx = np.flatnonzero(ok)
    return idx, np.cumsum(~ok)[idx]


def _split(run_id: np.ndarray, *arrays: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    cuts = np.flatnonzero(run_id[1:] != run_id[:-1]) + 1
    parts = [np.split(a, cuts) for a in arrays]
    return [tuple(p[k] for p in parts) for k in range(len(cuts) + 1)]


def finite_runs(*arrays: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the runs where every array is finite: a NaN (a gap) ends a run."""
    idx, run_id = _runs(*arrays)
    if not idx.size:
        return []
    return [part[0] for part in _split(run_id, idx)]


def decimate_runs(x: np.ndarray, y: np.ndarray, buckets: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) runs between gaps, min/max-decimated over the whole trace to about 2 * buckets points
    (plus both ends of every run)."""
    idx, run_id = _runs(x, y)
    if not idx.size:
        return []
    xs, ys = x[idx], y[idx]
    if xs.size > 2 * buckets + 2:
        keep = _extremes(ys, group_starts(xs, buckets, run_id))
        edge = run_id[1:] != run_id[:-1]
        keep |= np.r_[True, edge] | np.r_[edge, True]
        xs, ys, run_id = xs[keep], ys[keep], run_id[keep]
    return _split(run_id, xs, ys)  # type: ignore[return-value]


def reduce_envelope_runs(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, buckets: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(x, min, max) runs between gaps with at most about `buckets` groups over the whole trace:
    the minimum of `lo` and the maximum of `hi` per group, at the group's first x."""
    idx, run_id = _runs(x, lo, hi)
    if not idx.size:
        return []
    xs, los, his = x[idx], lo[idx], hi[idx]
    if xs.size > buckets:
        starts = group_starts(xs, buckets, run_id)
        xs, los, his, run_id = (
            xs[starts],
            np.minimum.reduceat(los, starts),
            np.maximum.reduceat(his, starts),
            run_id[starts],
        )
    return _split(run_id, xs, los, his)  # type: ignore[return-value]
