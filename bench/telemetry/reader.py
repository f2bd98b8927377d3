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
    """Per-bucket min, max and mean of one channel (physical units), or raw samples (`raw`)."""

    t: np.ndarray  # bucket start times (s), or sample times when raw
    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    level_s: float | None  # None when raw samples
    samples: int  # samples the envelope stands for

    @property
    def raw(self) -> bool:
        return self.level_s is None


class StoreReader:
    def __init__(self, journal: Journal, run_id: str, run_dir: str | Path | None = None, *, live: bool = False) -> None:
        self.journal = journal
        self.run_id = run_id
        self.run_dir = Path(run_dir) if run_dir is not None else journal.path.parent / run_id
        self.parts: list[Part] = []
        summaries = {r["file"]: r for r in journal.chunks(run_id, kind="summary")}
        for r in journal.chunks(run_id, kind="segment"):
            sum_rel = r["file"][: -len(".parquet")] + ".summary.parquet"
            self.parts.append(Part(r["grp"], r["step"], self.run_dir / r["file"], r["t_first"], r["t_last"], r["rows"],
                                   self.run_dir / sum_rel if sum_rel in summaries else None, sha256=r["sha256"],
                                   size=r["size"] or 0, rel=r["file"]))
        if live:
            for wal in sorted((self.run_dir / WAL_DIR).glob("*/*.arrows")):
                schema, batches, _ = read_wal(wal)
                if schema is None or not batches:
                    continue
                t0 = int(batches[0].column(0)[0].as_py())
                t1 = int(batches[-1].column(0)[-1].as_py())
                meta = group_meta(schema)
                self.parts.append(Part(meta["group"], meta.get("step"), wal, t0 / US, t1 / US,
                                       sum(b.num_rows for b in batches), live=True, _meta=meta))
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
                tot = {"count": 0} if t.size == 0 else {
                    "count": int(t.size), "min": float(raw.min()), "max": float(raw.max()), "sum": float(raw.sum()),
                    "t_first": int(t[0]), "first": float(raw[0]), "t_last": int(t[-1]), "last": float(raw[-1])}
            items.append(tot)
        tot = combine_totals(items)
        if not tot["count"]:
            return {"count": 0}
        phys = lambda x: float(x) * ch.scale + ch.offset  # noqa: E731
        lo, hi = phys(tot["min"]), phys(tot["max"])
        if ch.scale < 0:
            lo, hi = hi, lo
        return {"count": tot["count"], "min": lo, "max": hi, "mean": phys(tot["sum"] / tot["count"]),
                "first": phys(tot["first"]), "t_first": tot["t_first"] / US, "last": phys(tot["last"]),
                "t_last": tot["t_last"] / US, "unit": ch.unit}

    def _part_raw_int(self, p: Part, ch: Channel, t0: float | None, t1: float | None
                      ) -> tuple[np.ndarray, np.ndarray]:
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
    def envelope(self, name: str, buckets: int = 900, t0: float | None = None, t1: float | None = None) -> Envelope:
        """Min/max/mean per bucket at the coarsest summary level giving >= `buckets` buckets over the
        span, merged down to about `buckets`; raw samples when the span is too short for any level."""
        ch = self.channel(name)
        parts = [p for p in self.group_parts(ch.group)
                 if not ((t1 is not None and p.t_first > t1) or (t0 is not None and p.t_last < t0))]
        if not parts:
            return Envelope(*(np.empty(0),) * 4, level_s=None, samples=0)
        a = min(p.t_first for p in parts) if t0 is None else t0
        b = max(p.t_last for p in parts) if t1 is None else t1
        res = max(b - a, 1e-6) / max(buckets, 1)
        levels = [lv for lv in self.levels_s() if lv <= res]
        if not levels or any(p.live or p.summary is None for p in parts):
            t, v = self.raw(name, t0, t1)
            return Envelope(t, v, v, v, level_s=None, samples=int(t.size))
        level = levels[-1]
        level_us = int(round(level * US))
        col = [c.name for c in GroupSpec.from_meta(parts[0].meta()).channels].index(name)
        rows = []
        for p in parts:
            tab = p.level(level_us)
            if tab is None:
                continue
            sel = tab.column("channel").to_numpy() == col
            rows.append(tuple(tab.column(k).to_numpy()[sel] for k in ("bucket", "min", "max", "sum", "count")))
        bucket, mins, maxs, sums, counts = merge(rows)
        start = bucket * level
        keep = np.ones(bucket.size, dtype=bool)
        if t0 is not None:
            keep &= start + level > t0
        if t1 is not None:
            keep &= start <= t1
        bucket, start, mins, maxs, sums, counts = (x[keep] for x in (bucket, start, mins, maxs, sums, counts))
        # merge neighbouring buckets down to about `buckets` bins of width >= res
        group_of = np.floor((start - a) / res).astype(np.int64)
        starts = np.flatnonzero(np.r_[True, group_of[1:] != group_of[:-1]]) if group_of.size else np.empty(0, int)
        if starts.size:
            start = start[starts]
            mins, maxs = np.minimum.reduceat(mins, starts), np.maximum.reduceat(maxs, starts)
            sums, counts = np.add.reduceat(sums, starts), np.add.reduceat(counts, starts)
        lo, hi = ch.physical(mins), ch.physical(maxs)
        if ch.scale < 0:
            lo, hi = hi, lo
        mean = ch.physical(sums / np.maximum(counts, 1))
        return Envelope(start, lo, hi, mean, level_s=level, samples=int(counts.sum()))

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
                        problems.append(f"{rel}: chunk {c['idx']} (rows {off}..{off + c['rows'] - 1}) does not match "
                                        "its journalled digest")
                    off += c["rows"]
                if off != table.num_rows:
                    problems.append(f"{rel}: {table.num_rows} rows in the file, {off} in its journalled chunks")
        return problems
