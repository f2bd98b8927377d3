"""Reading the columnar store: channels, exact aggregates, plot envelopes, raw samples.

The journal says which Parquet segments and summary files a run has (and their SHA-256); the
files say what their columns mean. Aggregates over a span are exact: whole segments inside the
span use their journalled totals, the (at most two) segments cut by the span's ends are read
raw. Plot envelopes read the summary level that gives enough buckets for the width (O(pixels)),
and raw data only for spans shorter than the finest bucket times the width. During a run, the
live segments (Arrow IPC) are read too when `live=True`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.journal import Journal
from bench.telemetry.layout import TIME_COLUMN, US, WAL_DIR, Channel, GroupSpec, column_arrays, group_meta
from bench.telemetry.store import read_wal, sha256_file
from bench.telemetry.summary import META_KEY as SUMMARY_META
from bench.telemetry.summary import combine_totals, merge

AGGREGATES = ("max", "min", "mean", "first", "last", "span", "count")


@dataclass
class Part:
    """One segment of one group: a Parquet file with its summary, or a live IPC file."""

    group: str
    step: str | None
    path: Path
    t_first: float
    t_last: float
    rows: int
    summary: Path | None = None
    live: bool = False
    sha256: str = ""
    size: int = 0
    rel: str = ""
    _meta: dict[str, Any] | None = field(default=None, repr=False)

    def meta(self) -> dict[str, Any]:
        """Group metadata (channels, levels) and, for a Parquet part, totals per column."""
        if self._meta is None:
            if self.summary is not None:
                schema = pq.read_schema(self.summary)
                self._meta = json.loads((schema.metadata or {})[SUMMARY_META])
            elif self.live:
                schema, _, _ = read_wal(self.path)
                self._meta = group_meta(schema) if schema is not None else {"channels": []}
            else:
                self._meta = group_meta(pq.read_schema(self.path))
        return self._meta

    def table(self, columns: list[str] | None = None) -> pa.Table:
        cols = None if columns is None else [TIME_COLUMN, *columns]
        if self.live:
            schema, batches, _ = read_wal(self.path)
            if schema is None:
                return pa.table({TIME_COLUMN: pa.array([], pa.int64())})
            t = pa.Table.from_batches(batches, schema=schema)
            return t.select(cols) if cols else t
        return pq.read_table(self.path, columns=cols)

    @functools.cache  # noqa: B019 - parts live as long as their reader
    def level(self, level_us: int) -> pa.Table | None:
        """Summary rows of one level (one row group of the summary file)."""
        if self.summary is None:
            return None
        f = pq.ParquetFile(self.summary)
        for i in range(f.num_row_groups):
            stats = f.metadata.row_group(i).column(0).statistics
            if stats is not None and stats.has_min_max and stats.min == level_us:
                return f.read_row_group(i)
        return None

    def __hash__(self) -> int:
        return id(self)


@dataclass
class Envelope:
    """Per-bin min, max and mean of one channel (physical units); `level_s` is the summary level read
    (None: binned from raw samples)."""

    t: np.ndarray  # bin start times (s)
    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    level_s: float | None
    samples: int  # samples the envelope stands for


def _bin(
    start: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    mean: np.ndarray,
    counts: np.ndarray,
    a: float,
    res: float,
    level: float | None,
) -> Envelope:
    """Buckets (or samples) merged into bins [a + k*res, a + (k+1)*res); t = bin start."""
    if start.size == 0:
        return Envelope(*(np.empty(0),) * 4, level_s=level, samples=0)
    order = np.argsort(start, kind="stable") if np.any(np.diff(start) < 0) else None
    if order is not None:
        start, lo, hi, mean, counts = (x[order] for x in (start, lo, hi, mean, counts))
    k = np.floor((start - a) / res).astype(np.int64)
    first = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sums = np.add.reduceat(mean * counts, first)
    n = np.add.reduceat(counts, first)
    return Envelope(
        a + k[first] * res,
        np.minimum.reduceat(lo, first),
        np.maximum.reduceat(hi, first),
        sums / np.maximum(n, 1),
        level_s=level,
        samples=int(counts.sum()),
    )


class StoreReader:
    def __init__(self, journal: Journal, run_id: str, run_dir: str | Path | None = None, *, live: bool = False) -> None:
        self.journal = journal
        self.run_id = run_id
        self.run_dir = Path(run_dir) if run_dir is not None else journal.path.parent / run_id
        self.parts: list[Part] = []
        summaries = {r["file"]: r for r in journal.chunks(run_id, kind="summary")}
        for r in journal.chunks(run_id, kind="segment"):
            sum_rel = r["file"][: -len(".parquet")] + ".summary.parquet"
            self.parts.append(
                Part(
                    r["grp"],
                    r["step"],
                    self.run_dir / r["file"],
                    r["t_first"],
                    r["t_last"],
                    r["rows"],
                    self.run_dir / sum_rel if sum_rel in summaries else None,
                    sha256=r["sha256"],
                    size=r["size"] or 0,
                    rel=r["file"],
                )
            )
        if live:
            for wal in sorted((self.run_dir / WAL_DIR).glob("*/*.arrows")):
                schema, batches, _ = read_wal(wal)
                if schema is None or not batches:
                    continue
                t0 = int(batches[0].column(0)[0].as_py())
                t1 = int(batches[-1].column(0)[-1].as_py())
                meta = group_meta(schema)
                self.parts.append(
                    Part(
                        meta["group"],
                        meta.get("step"),
                        wal,
                        t0 / US,
                        t1 / US,
                        sum(b.num_rows for b in batches),
                        live=True,
                        _meta=meta,
                    )
                )
        self.parts.sort(key=lambda p: (p.group, p.t_first))
        self._channels: dict[str, Channel] = {}
        for p in self.parts:
            for c in GroupSpec.from_meta(p.meta()).channels:
                self._channels.setdefault(c.name, c)

    # -- what is there -------------------------------------------------------------------
    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def channel(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise KeyError(f"no captured channel {name!r} in run {self.run_id}") from None

    def has(self, name: str) -> bool:
        return name in self._channels

    def group_parts(self, group: str) -> list[Part]:
        return [p for p in self.parts if p.group == group]

    def levels_s(self) -> list[float]:
        for p in self.parts:
            if p.summary is not None:
                return [x / US for x in p.meta().get("levels_us", [])]
        return []

    # -- exact aggregates ----------------------------------------------------------------
    def raw(self, name: str, t0: float | None = None, t1: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(t in s, physical values) of every sample of a channel in [t0, t1]."""
        ch = self.channel(name)
        ts, vs = [], []
        for p in self.group_parts(ch.group):
            if (t1 is not None and p.t_first > t1) or (t0 is not None and p.t_last < t0):
                continue
            t, v = self._part_raw(p, ch, t0, t1)
            ts.append(t)
            vs.append(v)
        if not ts:
            return np.empty(0), np.empty(0)
        return np.concatenate(ts), np.concatenate(vs)

    def _part_raw(self, p: Part, ch: Channel, t0: float | None, t1: float | None) -> tuple[np.ndarray, np.ndarray]:
        t, raw = self._part_raw_int(p, ch, t0, t1)
        return t / US, ch.physical(raw)

    def totals(self, name: str, t0: float | None = None, t1: float | None = None) -> dict[str, Any]:
        """count, min, max, mean, first/last (with times) of a channel over [t0, t1], physical units."""
        ch = self.channel(name)
        items = []
        for p in self.group_parts(ch.group):
            if (t1 is not None and p.t_first > t1) or (t0 is not None and p.t_last < t0):
                continue
            inside = (t0 is None or p.t_first >= t0) and (t1 is None or p.t_last <= t1)
            tot = p.meta().get("totals", {}).get(ch.column) if inside and not p.live else None
            if tot is None:
                t, raw = self._part_raw_int(p, ch, t0, t1)
                tot = (
                    {"count": 0}
                    if t.size == 0
                    else {
                        "count": int(t.size),
                        "min": float(raw.min()),
                        "max": float(raw.max()),
                        "sum": float(raw.sum()),
                        "t_first": int(t[0]),
                        "first": float(raw[0]),
                        "t_last": int(t[-1]),
                        "last": float(raw[-1]),
                    }
                )
            items.append(tot)
        tot = combine_totals(items)
        if not tot["count"]:
            return {"count": 0}
        phys = lambda x: float(x) * ch.scale + ch.offset  # noqa: E731
        lo, hi = phys(tot["min"]), phys(tot["max"])
        if ch.scale < 0:
            lo, hi = hi, lo
        return {
            "count": tot["count"],
            "min": lo,
            "max": hi,
            "mean": phys(tot["sum"] / tot["count"]),
            "first": phys(tot["first"]),
            "t_first": tot["t_first"] / US,
            "last": phys(tot["last"]),
            "t_last": tot["t_last"] / US,
            "unit": ch.unit,
        }

    def _part_raw_int(self, p: Part, ch: Channel, t0: float | None, t1: float | None) -> tuple[np.ndarray, np.ndarray]:
        table = p.table([ch.column])
        t = table.column(TIME_COLUMN).to_numpy()
        values, valid = column_arrays(table.column(ch.column))
        keep = valid.copy()
        if values.dtype.kind == "f":
            keep &= np.isfinite(values)
        if t0 is not None:
            keep &= t >= round(t0 * US)
        if t1 is not None:
            keep &= t <= round(t1 * US)
        return t[keep], values[keep].astype(np.float64)

    def aggregate(self, name: str, how: str, t0: float | None = None, t1: float | None = None) -> float:
        if how not in AGGREGATES:
            raise ValueError(f"unknown aggregate {how!r}; expected one of {list(AGGREGATES)}")
        tot = self.totals(name, t0, t1)
        if not tot["count"]:
            raise KeyError(f"no samples of captured channel {name!r} between {t0} and {t1} s")
        if how == "span":
            return tot["max"] - tot["min"]
        return float(tot[how])

    # -- plots ---------------------------------------------------------------------------
    def span(self) -> tuple[float, float] | None:
        """First and last sample time (s) over every group."""
        if not self.parts:
            return None
        return min(p.t_first for p in self.parts), max(p.t_last for p in self.parts)

    def envelopes(
        self, names: list[str], buckets: int = 900, t0: float | None = None, t1: float | None = None
    ) -> dict[str, Envelope]:
        """Per channel: min/max/mean per bin over [t0, t1], bins of equal width aligned for every channel
        (so channels combine bin by bin). Read from the coarsest summary level giving >= `buckets`
        buckets over the span; from raw samples when the span is too short for any level."""
        if not names:
            return {}
        whole = self.span() or (0.0, 1.0)
        a = whole[0] if t0 is None else t0
        b = whole[1] if t1 is None else t1
        res = max(b - a, 1e-6) / max(buckets, 1)
        levels = [lv for lv in self.levels_s() if lv <= res]
        out: dict[str, Envelope] = {}
        by_group: dict[str, list[Channel]] = {}
        for n in names:
            ch = self.channel(n)
            by_group.setdefault(ch.group, []).append(ch)
        for group, chans in by_group.items():
            parts = [p for p in self.group_parts(group) if not (p.t_first > b or p.t_last < a)]
            if not levels or any(p.live or p.summary is None for p in parts):
                for ch in chans:
                    t, v = self.raw(ch.name, a, b)
                    out[ch.name] = _bin(t, v, v, v, np.ones(t.size), a, res, None)
                continue
            level = levels[-1]
            level_us = int(round(level * US))
            cols = {c.name: i for i, c in enumerate(GroupSpec.from_meta(parts[0].meta()).channels)} if parts else {}
            rows: dict[str, list[tuple[np.ndarray, ...]]] = {ch.name: [] for ch in chans}
            for p in parts:
                tab = p.level(level_us)
                if tab is None:
                    continue
                chan = tab.column("channel").to_numpy()
                order = np.argsort(chan, kind="stable")
                sorted_chan = chan[order]
                arrays = [tab.column(k).to_numpy()[order] for k in ("bucket", "min", "max", "sum", "count")]
                for ch in chans:
                    ci = cols.get(ch.name)
                    if ci is None:
                        continue
                    lo_i, hi_i = np.searchsorted(sorted_chan, [ci, ci + 1])
                    if hi_i > lo_i:
                        rows[ch.name].append(tuple(x[lo_i:hi_i] for x in arrays))
            for ch in chans:
                bucket, mins, maxs, sums, counts = merge(rows[ch.name])
                start = bucket * level
                keep = (start + level > a) & (start <= b)
                lo, hi = ch.physical(mins[keep]), ch.physical(maxs[keep])
                if ch.scale < 0:
                    lo, hi = hi, lo
                mean = ch.physical(sums[keep] / np.maximum(counts[keep], 1))
                out[ch.name] = _bin(start[keep], lo, hi, mean, counts[keep].astype(np.float64), a, res, level)
        return out

    def envelope(self, name: str, buckets: int = 900, t0: float | None = None, t1: float | None = None) -> Envelope:
        return self.envelopes([name], buckets, t0, t1)[name]

    def first_reaching(self, name: str, level: float) -> float | None:
        """Run time of the first sample >= `level` (physical), reading raw only the segment that holds it."""
        ch = self.channel(name)
        for p in self.group_parts(ch.group):
            tot = None if p.live else p.meta().get("totals", {}).get(ch.column)
            if tot is not None:
                if not tot.get("count"):
                    continue
                hi = max(ch.physical(np.array([tot["min"], tot["max"]])))
                if hi < level:
                    continue
            t, v = self._part_raw(p, ch, None, None)
            hit = np.flatnonzero(v >= level)
            if hit.size:
                return float(t[hit[0]])
        return None

    # -- integrity -----------------------------------------------------------------------
    def verify(self, *, deep: bool = False) -> list[str]:
        """Problems found: files missing or changed against their journalled SHA-256; with `deep`,
        every chunk's digest recomputed from the Parquet rows (see layout.chunk_digest)."""
        from bench.telemetry.layout import chunk_digest

        problems = []
        records = {r["file"]: r for r in self.journal.chunks(self.run_id) if r["kind"] in ("segment", "summary")}
        for rel, r in sorted(records.items()):
            path = self.run_dir / rel
            if not path.exists():
                problems.append(f"{rel}: missing")
                continue
            sha, size = sha256_file(path)
            if sha != r["sha256"]:
                problems.append(f"{rel}: SHA-256 {sha[:12]}… differs from the journal's {r['sha256'][:12]}…")
        if deep:
            chunks: dict[str, list[dict[str, Any]]] = {}
            for c in self.journal.chunks(self.run_id, kind="chunk"):
                chunks.setdefault(c["file"], []).append(c)
            for rel, items in sorted(chunks.items()):
                if rel not in records:
                    problems.append(f"{rel}: {len(items)} journalled chunk(s) but no Parquet file (not converted)")
                    continue
                path = self.run_dir / rel
                if not path.exists():
                    continue
                table = pq.read_table(path)
                items.sort(key=lambda c: c["idx"])
                off = 0
                for c in items:
                    digest = chunk_digest(table.slice(off, c["rows"]))
                    if digest != c["sha256"]:
                        problems.append(
                            f"{rel}: chunk {c['idx']} (rows {off}..{off + c['rows'] - 1}) does not match "
                            "its journalled digest"
                        )
                    off += c["rows"]
                if off != table.num_rows:
                    problems.append(f"{rel}: {table.num_rows} rows in the file, {off} in its journalled chunks")
        return problems
