"""Multi-resolution summaries: min, max, sum and count of every channel per time bucket.

Computed once per segment (when its live file closes) at several bucket lengths (default 1 s,
10 s, 100 s, 1000 s), each level from the one below it, and written beside the data file. A plot
of any span then reads the coarsest level that still gives enough buckets for its width, so a 72 h
run at 100 Hz costs a few thousand rows per channel, not 26 million samples. Buckets are aligned
on absolute run time (bucket k of level L covers [k*L, (k+1)*L)), so buckets split by a segment
boundary merge exactly (min of mins, max of maxes, sums and counts added). Whole-segment totals
(with the first and last sample) go into the file metadata for exact aggregates over whole steps.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from bench.telemetry.layout import TIME_COLUMN, column_arrays

SCHEMA = pa.schema(
    [
        ("level_us", pa.int64()),
        ("channel", pa.int32()),
        ("bucket", pa.int64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("sum", pa.float64()),
        ("count", pa.int64()),
    ]
)
META_KEY = b"ess-bench-telemetry-summary"


def _reduce(
    bucket: np.ndarray, mins: np.ndarray, maxs: np.ndarray, sums: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Merge rows that share a bucket id (input sorted by bucket)."""
    if bucket.size == 0:
        return bucket, mins, maxs, sums, counts
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    if starts.size == bucket.size:
        return bucket, mins, maxs, sums, counts
    return (
        bucket[starts],
        np.minimum.reduceat(mins, starts),
        np.maximum.reduceat(maxs, starts),
        np.add.reduceat(sums, starts),
        np.add.reduceat(counts, starts),
    )


def channel_levels(t_us: np.ndarray, values: np.ndarray, levels_us: list[int]) -> list[tuple[np.ndarray, ...]]:
    """(bucket, min, max, sum, count) per level for one channel's valid samples, t sorted ascending."""
    out = []
    if t_us.size == 0:
        return [(np.empty(0, np.int64),) + (np.empty(0),) * 3 + (np.empty(0, np.int64),) for _ in levels_us]
    v = values.astype(np.float64, copy=False)
    b = t_us // levels_us[0]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    cur = (
        b[starts],
        np.minimum.reduceat(v, starts),
        np.maximum.reduceat(v, starts),
        np.add.reduceat(v, starts),
        np.diff(np.r_[starts, v.size]).astype(np.int64),
    )
    out.append(cur)
    for finer, level in zip(levels_us, levels_us[1:], strict=False):
        cur = _reduce(cur[0] * finer // level, *cur[1:])
        out.append(cur)
    return out


def summarize(table: pa.Table, levels_us: list[int]) -> tuple[pa.Table, dict[str, Any]]:
    """(summary rows sorted by level, channel, bucket; totals per column) of one time-sorted segment."""
    t = table.column(TIME_COLUMN).to_numpy()
    parts: dict[int, list[tuple[np.ndarray, ...]]] = {lv: [] for lv in levels_us}
    totals: dict[str, Any] = {}
    for ci, name in enumerate(table.column_names[1:]):
        values, valid = column_arrays(table.column(name))
        tv, vv = (t, values) if valid.all() else (t[valid], values[valid])
        if tv.size == 0:
            totals[name] = {"count": 0}
            continue
        finite = np.isfinite(vv) if vv.dtype.kind == "f" else None
        if finite is not None and not finite.all():
            tv, vv = tv[finite], vv[finite]
            if tv.size == 0:
                totals[name] = {"count": 0}
                continue
        for level, arrays in zip(levels_us, channel_levels(tv, vv, levels_us), strict=True):
            parts[level].append((np.full(arrays[0].size, ci, np.int32), *arrays))
        totals[name] = {
            "count": int(tv.size),
            "min": float(vv.min()),
            "max": float(vv.max()),
            "sum": float(vv.astype(np.float64).sum()),
            "t_first": int(tv[0]),
            "first": float(vv[0]),
            "t_last": int(tv[-1]),
            "last": float(vv[-1]),
        }
    tables = []
    for level in levels_us:
        rows = parts[level]
        if not rows:
            continue
        cols = [np.concatenate([r[i] for r in rows]) for i in range(6)]
        tables.append(
            pa.table(
                {
                    "level_us": np.full(cols[0].size, level, np.int64),
                    "channel": cols[0],
                    "bucket": cols[1],
                    "min": cols[2],
                    "max": cols[3],
                    "sum": cols[4],
                    "count": cols[5],
                },
                schema=SCHEMA,
            )
        )
    out = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    return out, totals


def summary_schema(meta: dict[str, Any]) -> pa.Schema:
    return SCHEMA.with_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})


def merge(arrays: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """One (bucket, min, max, sum, count) from several segments' rows of the same channel and level."""
    arrays = [a for a in arrays if a[0].size]
    if not arrays:
        return (np.empty(0, np.int64),) + (np.empty(0),) * 3 + (np.empty(0, np.int64),)
    cols = [np.concatenate([a[i] for a in arrays]) for i in range(5)]
    if any(np.any(np.diff(a[0]) < 0) for a in arrays) or len(arrays) > 1:
        order = np.argsort(cols[0], kind="stable")
        cols = [c[order] for c in cols]
    return _reduce(*cols)


def combine_totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals of several time-ordered segments of one channel (raw units)."""
    items = [x for x in items if x.get("count")]
    if not items:
        return {"count": 0}
    first = min(items, key=lambda x: x["t_first"])
    last = max(items, key=lambda x: x["t_last"])
    return {
        "count": sum(x["count"] for x in items),
        "min": min(x["min"] for x in items),
        "max": max(x["max"] for x in items),
        "sum": float(sum(x["sum"] for x in items)),
        "t_first": first["t_first"],
        "first": first["first"],
        "t_last": last["t_last"],
        "last": last["last"],
    }
