"""The columnar store's writer: chunks flushed every fraction of a second, Parquet per segment.

Why two files per segment. Parquet writes its footer last, so an open Parquet file killed
mid-run is unreadable; Arrow IPC stream files are readable up to the last complete batch. So each
group's live segment is an IPC stream (`telemetry-wal/...arrows`): every flush (at most
`flush_s` of wall time apart, 0.5 s by default) appends one record batch, fsyncs it, and
journals the chunk (rows, time span, content digest). A kill loses only rows not yet flushed.
When a segment closes (at every step boundary, every `segment_s` of run time, or at
`max_samples`), a compactor thread turns it into Parquet (delta-encoded integers, zstd) plus its
summary file, journals both files' SHA-256, and deletes the IPC file. `recover()` does the same for
segments a killed run left behind, and checks every chunk digest against the journal.

Appends come from any thread (the CAN receive thread, the clock's poll callback); each group has
its own short lock, and flushing swaps the buffer out under it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.journal import Journal
from bench.telemetry.layout import (
    DATA_DIR,
    TIME_COLUMN,
    US,
    WAL_DIR,
    GroupSpec,
    chunk_digest,
    data_path,
    digest_arrays,
    group_meta,
    segment_stem,
    summary_path,
    wal_path,
)
from bench.telemetry.summary import summarize, summary_schema

ROW_GROUP_ROWS = 1 << 20
MAX_SEGMENT_SAMPLES = 16_000_000
_STEM = re.compile(r"^(\d{5})-")

ErrorSink = Callable[[str, dict[str, Any]], None]
BLOCK = "block"  # marks a pending item holding many rows (append_block)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Delta encoding for integer columns (time, raw values), byte-stream-split for floats, zstd on top."""
    enc = {}
    for f in schema:
        if pa.types.is_integer(f.type):
            enc[f.name] = "DELTA_BINARY_PACKED"
        elif pa.types.is_floating(f.type):
            enc[f.name] = "BYTE_STREAM_SPLIT"
    return {"compression": "zstd", "use_dictionary": False, "column_encoding": enc, "write_statistics": True}


@dataclass
class _Segment:
    index: int
    stem: str
    step: str | None
    wal: Path
    file: Any
    schema: pa.Schema
    writer: pa.ipc.RecordBatchStreamWriter
    chunks: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    samples: int = 0
    t_first_us: int | None = None
    t_last_us: int | None = None


@dataclass
class _Group:
    spec: GroupSpec
    quantize: bool  # values arrive physical (polled) and are quantised at flush, else raw integers
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[tuple[str | None, list[tuple[int, Sequence[int] | None, Any]]]] = field(default_factory=list)
    segment: _Segment | None = None
    next_index: int = 1
    rows_total: int = 0
    samples_total: int = 0


class StoreWriter:
    """Writes one run's capture groups; `flush()` from one thread, `append*` from any."""

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        journal: Journal,
        *,
        segment_s: float = 3600.0,
        levels_s: Sequence[float] = (1.0, 10.0, 100.0, 1000.0),
        utc_anchor: str = "",
        max_samples: int = MAX_SEGMENT_SAMPLES,
        on_error: ErrorSink | None = None,
        durable: bool = True,
    ) -> None:
        """`durable=False` skips the fsync of each chunk: only for bulk imports and benchmarks that build a
        store, never for a capture (a power cut could then lose more than the flush interval)."""
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.journal = journal
        self.segment_us = int(round(segment_s * US))
        self.levels_us = [int(round(s * US)) for s in levels_s]
        self.utc_anchor = utc_anchor
        self.max_samples = max_samples
        self.durable = durable
        self.on_error = on_error or (lambda msg, data: None)
        self.groups: dict[str, _Group] = {}
        self._groups_lock = threading.Lock()  # groups appear from the CAN receive thread while others flush
        self._step: str | None = None
        self._flush_lock = threading.Lock()
        self._jobs: queue.Queue[tuple[str, _Segment] | None] = queue.Queue()
        self._compactor = threading.Thread(target=self._compact_loop, name="telemetry-compactor", daemon=True)
        self._compactor.start()
        self.stats = {
            "chunks": 0,
            "segments": 0,
            "rows": 0,
            "samples": 0,
            "flush_s": 0.0,
            "compact_s": 0.0,
            "errors": 0,
        }
        self._used = self._indices_in_journal()

    # -- set-up --------------------------------------------------------------------------
    def _indices_in_journal(self) -> dict[str, int]:
        """Highest segment number per group already journalled (a resumed run continues after it)."""
        used: dict[str, int] = {}
        for rec in self.journal.chunks(self.run_id):
            m = _STEM.match(Path(rec["file"]).name)
            if m:
                used[rec["grp"]] = max(used.get(rec["grp"], 0), int(m.group(1)))
        return used

    def add_group(self, spec: GroupSpec, *, quantize: bool = False) -> None:
        with self._groups_lock:
            if spec.name in self.groups:
                raise ValueError(f"telemetry group {spec.name!r} declared twice")
            g = _Group(spec, quantize, next_index=self._used.get(spec.name, 0) + 1)
            g.pending.append((self._step, []))
            self.groups = {**self.groups, spec.name: g}  # readers iterate a snapshot, never a changing dict

    def set_step(self, nodeid: str | None) -> None:
        """Rows appended from now on belong to this step (a new segment in every group)."""
        with self._groups_lock:
            self._step = nodeid
            for g in self.groups.values():
                with g.lock:
                    g.pending.append((nodeid, []))

    # -- appending (any thread) ----------------------------------------------------------
    def append(self, group: str, t_us: int, values: Any, cols: Sequence[int] | None = None) -> None:
        """One sample row: `values` for every channel (cols None) or for the channel indices `cols`.
        Raw integers for raw groups; physical floats (NaN = missing) for quantised groups."""
        g = self.groups[group]
        with g.lock:
            g.pending[-1][1].append((t_us, cols, values))

    def append_block(self, group: str, t_us: np.ndarray, values: np.ndarray) -> None:
        """Many rows at once: `t_us` (n,) and `values` (n, channels), raw or physical as for append."""
        values = np.asarray(values, dtype=np.float64)
        g = self.groups[group]
        if values.shape != (len(t_us), len(g.spec.channels)):
            raise ValueError(f"block of shape {values.shape} for {len(t_us)} rows of {len(g.spec.channels)} channels")
        with g.lock:
            g.pending[-1][1].append((np.asarray(t_us, dtype=np.int64), BLOCK, values))

    # -- flushing (one thread) -----------------------------------------------------------
    def flush(self) -> int:
        """Write every pending row as one chunk per group and step; returns the rows written."""
        with self._flush_lock:
            t0 = time.perf_counter()
            records: list[dict[str, Any]] = []
            rows = 0
            for name, g in self.groups.items():
                with g.lock:
                    runs, g.pending = g.pending, [(g.pending[-1][0], [])]
                for step, items in runs:
                    if g.segment is not None and g.segment.step != step:
                        self._close_segment(name, g)
                    if items:
                        records.append(self._write_chunk(name, g, step, items))
                        rows += records[-1]["rows"]
                if g.segment is not None and self._segment_full(g.segment):
                    self._close_segment(name, g)
            if records:
                try:
                    self.journal.add_chunks(self.run_id, records)
                except Exception as exc:  # noqa: BLE001 - the data is on disk; recovery re-journals it
                    self._error(f"chunk records not journalled: {type(exc).__name__}: {exc}", {})
            self.stats["flush_s"] += time.perf_counter() - t0
            return rows

    def _segment_full(self, seg: _Segment) -> bool:
        span = (seg.t_last_us - seg.t_first_us) if seg.t_first_us is not None and seg.t_last_us is not None else 0
        return span >= self.segment_us or seg.samples >= self.max_samples

    def _open_segment(self, name: str, g: _Group, step: str | None) -> _Segment:
        index = g.next_index
        g.next_index += 1
        stem = segment_stem(index, step)
        wal = self.run_dir / wal_path(name, stem)
        wal.parent.mkdir(parents=True, exist_ok=True)
        f = open(wal, "wb", buffering=0)  # noqa: SIM115 - closed in _close_segment
        schema = g.spec.schema(
            {
                "run_id": self.run_id,
                "utc_anchor": self.utc_anchor,
                "step": step,
                "segment": index,
                "levels_us": self.levels_us,
            }
        )
        return _Segment(index, stem, step, wal, f, schema, pa.ipc.new_stream(f, schema))

    def _batch(
        self, g: _Group, schema: pa.Schema, items: list[tuple[int, Sequence[int] | None, Any]]
    ) -> tuple[pa.RecordBatch, str]:
        """The chunk as a record batch, and its content digest (from the same numpy columns)."""
        m = len(g.spec.channels)
        n = sum(len(it[0]) if it[1] is BLOCK else 1 for it in items)
        t = np.empty(n, dtype=np.int64)
        data = np.full((n, m), np.nan)
        r = 0
        for t_item, cols, vals in items:
            if cols is BLOCK:
                k = len(t_item)
                t[r : r + k] = t_item
                data[r : r + k] = vals
                r += k
                continue
            t[r] = t_item
            if cols is None:
                data[r] = vals
            elif len(cols):
                data[r, cols] = vals
            r += 1
        arrays = [pa.array(t, type=pa.int64())]
        columns = [(t, np.ones(n, dtype=bool))]
        for j, ch in enumerate(g.spec.channels):
            col = data[:, j]
            valid = ~np.isnan(col)
            if g.quantize:
                col = ch.to_raw(np.where(valid, col, 0.0))
            dtype = np.dtype(ch.dtype)
            if dtype.kind == "i":
                info = np.iinfo(dtype)
                valid &= (col >= info.min) & (col <= info.max)
                col = np.where(valid, col, 0).astype(dtype)
            else:
                col = np.where(valid, col, 0.0).astype(dtype)
            arrays.append(pa.array(col, mask=~valid, type=pa.from_numpy_dtype(dtype)))
            columns.append((col, valid))
        return pa.RecordBatch.from_arrays(arrays, schema=schema), digest_arrays(schema.names, columns)

    def _write_chunk(self, name: str, g: _Group, step: str | None, items: list[Any]) -> dict[str, Any]:
        if g.segment is None:
            g.segment = self._open_segment(name, g, step)
        seg = g.segment
        batch, digest = self._batch(g, seg.schema, items)
        before = seg.file.tell()
        seg.writer.write_batch(batch)
        seg.file.flush()
        if self.durable:
            os.fsync(seg.file.fileno())
        t = batch.column(0).to_numpy()
        samples = sum(len(c) - c.null_count for c in batch.columns[1:])
        seg.t_first_us = int(t[0]) if seg.t_first_us is None else seg.t_first_us
        seg.t_last_us = int(t[-1])
        seg.rows += batch.num_rows
        seg.samples += samples
        g.rows_total += batch.num_rows
        g.samples_total += samples
        self.stats["chunks"] += 1
        self.stats["rows"] += batch.num_rows
        self.stats["samples"] += samples
        rec = {
            "step": step,
            "kind": "chunk",
            "grp": name,
            "file": data_path(name, seg.stem),
            "idx": len(seg.chunks),
            "rows": batch.num_rows,
            "samples": samples,
            "t_first": float(t[0]) / US,
            "t_last": float(t[-1]) / US,
            "sha256": digest,
            "size": seg.file.tell() - before,
        }
        seg.chunks.append(rec)
        return rec

    def _close_segment(self, name: str, g: _Group) -> None:
        seg, g.segment = g.segment, None
        if seg is None:
            return
        try:
            seg.writer.close()
            os.fsync(seg.file.fileno())
        finally:
            seg.file.close()
        self._jobs.put((name, seg))

    # -- compaction ----------------------------------------------------------------------
    def _compact_loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                name, seg = job
                t0 = time.perf_counter()
                try:
                    compact(self.run_dir, self.journal, self.run_id, seg.wal, expected=seg.chunks, on_error=self._error)
                    self.stats["segments"] += 1
                except Exception as exc:  # noqa: BLE001 - the IPC file stays; `recover` retries it
                    self._error(
                        f"segment {name}/{seg.stem} not converted to Parquet: {type(exc).__name__}: {exc}",
                        {"group": name, "wal": str(seg.wal)},
                    )
                self.stats["compact_s"] += time.perf_counter() - t0
            finally:
                self._jobs.task_done()

    def _error(self, message: str, data: dict[str, Any]) -> None:
        self.stats["errors"] += 1
        self.on_error(message, data)

    def close(self) -> None:
        """Flush, close every segment, wait for their conversion to Parquet."""
        try:
            self.flush()
        finally:
            for name, g in self.groups.items():
                self._close_segment(name, g)
            self._jobs.put(None)
            self._compactor.join()
            remove_empty_wal_dirs(self.run_dir)

    def wait_compacted(self) -> None:
        self._jobs.join()


def read_wal(path: Path) -> tuple[pa.Schema | None, list[pa.RecordBatch], bool]:
    """(schema, complete batches, truncated?) of an IPC stream file, reading up to a cut-off batch."""
    batches: list[pa.RecordBatch] = []
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(path), "r"))
    except (pa.ArrowInvalid, OSError, EOFError):
        return None, batches, True
    truncated = False
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError, EOFError):
            truncated = True
            break
    return reader.schema, batches, truncated


def compact(
    run_dir: Path,
    journal: Journal,
    run_id: str,
    wal: Path,
    *,
    expected: list[dict[str, Any]] | None = None,
    on_error: ErrorSink | None = None,
) -> list[dict[str, Any]]:
    """Turn one live IPC segment into Parquet + summary, journal them, delete the IPC file.

    Each complete batch's digest is checked against the chunk records (`expected`, else those in
    the journal for the segment's data file); batches flushed but not journalled before a kill are
    journalled now; a journalled chunk missing from the file is reported. Returns the new records."""
    on_error = on_error or (lambda msg, data: None)
    run_dir = Path(run_dir)
    schema, batches, truncated = read_wal(wal)
    rel_wal = wal.relative_to(run_dir).as_posix()
    if schema is None:
        on_error(f"live telemetry file {rel_wal} is unreadable (killed before its first chunk); removed", {})
        wal.unlink(missing_ok=True)
        return []
    meta = group_meta(schema)
    group, stem, step = meta["group"], wal.name[: -len(".arrows")], meta.get("step")
    rel_data, rel_sum = data_path(group, stem), summary_path(group, stem)
    if expected is None:
        expected = journal.chunks(run_id, kind="chunk", grp=group)
        expected = [c for c in expected if c["file"] == rel_data]
        if any(r["file"] == rel_data for r in journal.chunks(run_id, kind="segment", grp=group)):
            wal.unlink(missing_ok=True)  # converted and journalled before the kill: only the IPC file was left
            return []
    records: list[dict[str, Any]] = []
    for i, batch in enumerate(batches):
        digest = chunk_digest(batch)
        if i < len(expected):
            if expected[i]["sha256"] != digest:
                on_error(f"chunk {i} of {rel_data} does not match its journalled digest", {"chunk": i})
        else:
            t = batch.column(0).to_numpy()
            records.append(
                {
                    "step": step,
                    "kind": "chunk",
                    "grp": group,
                    "file": rel_data,
                    "idx": i,
                    "rows": batch.num_rows,
                    "samples": sum(len(c) - c.null_count for c in batch.columns[1:]),
                    "t_first": float(t[0]) / US,
                    "t_last": float(t[-1]) / US,
                    "sha256": digest,
                    "size": None,
                }
            )
    if len(batches) < len(expected):
        on_error(
            f"{len(expected) - len(batches)} journalled chunk(s) of {rel_data} missing from {rel_wal}",
            {"missing": len(expected) - len(batches)},
        )
    if truncated:
        on_error(
            f"{rel_wal}: last chunk cut off by the interruption (not flushed); earlier chunks kept", {"file": rel_wal}
        )
    if not batches:
        wal.unlink(missing_ok=True)
        if records:
            journal.add_chunks(run_id, records)
        return records
    table = pa.Table.from_batches(batches, schema=schema)
    t = table.column(TIME_COLUMN).to_numpy()
    if t.size > 1 and np.any(np.diff(t) < 0):
        table = table.take(np.argsort(t, kind="stable"))
        t = table.column(TIME_COLUMN).to_numpy()
    levels_us = [int(x) for x in meta.get("levels_us") or [US, 10 * US, 100 * US, 1000 * US]]
    summary, totals = summarize(table, levels_us)
    out_data, out_sum = run_dir / rel_data, run_dir / rel_sum
    out_data.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_data.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, **parquet_options(table.schema))
    _fsync_file(tmp)
    os.replace(tmp, out_data)
    tmp = out_sum.with_suffix(".tmp")
    sum_meta = {**meta, "levels_us": levels_us, "totals": totals, "data": Path(rel_data).name}
    summary = summary.replace_schema_metadata(summary_schema(sum_meta).metadata)
    writer = pq.ParquetWriter(tmp, summary.schema, compression="zstd")
    for level in levels_us:  # one row group per level: a plot reads one level only
        part = summary.filter(pc.equal(summary.column("level_us"), level))
        if part.num_rows:
            writer.write_table(part)
    writer.close()
    _fsync_file(tmp)
    os.replace(tmp, out_sum)
    samples = int(sum(x.get("count", 0) for x in totals.values()))
    for kind, rel, path in (("segment", rel_data, out_data), ("summary", rel_sum, out_sum)):
        sha, size = sha256_file(path)
        records.append(
            {
                "step": step,
                "kind": kind,
                "grp": group,
                "file": rel,
                "idx": int(meta.get("segment", 0)),
                "rows": table.num_rows if kind == "segment" else summary.num_rows,
                "samples": samples,
                "t_first": float(t[0]) / US,
                "t_last": float(t[-1]) / US,
                "sha256": sha,
                "size": size,
            }
        )
    journal.add_chunks(run_id, records)
    wal.unlink(missing_ok=True)
    return records


def remove_empty_wal_dirs(run_dir: Path) -> None:
    """Drop the live-segment folders once nothing is left in them (after close or recovery)."""
    root = Path(run_dir) / WAL_DIR
    if not root.is_dir():
        return
    for d in sorted(root.glob("*"), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass
    try:
        root.rmdir()
    except OSError:
        pass


def recover(run_dir: Path, journal: Journal, run_id: str, on_error: ErrorSink | None = None) -> list[dict[str, Any]]:
    """Convert every live segment a killed or crashed session left in the run folder; returns the records."""
    root = Path(run_dir) / WAL_DIR
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for wal in sorted(root.glob("*/*.arrows")):
        out += compact(Path(run_dir), journal, run_id, wal, on_error=on_error)
    remove_empty_wal_dirs(Path(run_dir))
    return out


def store_dir(run_dir: Path) -> Path:
    return Path(run_dir) / DATA_DIR
