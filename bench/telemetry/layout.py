"""What the columnar store holds and how it is laid out, shared by the writer and the reader.

A *group* is a set of channels sampled together (one CAN message, or the polled channels): one
row per sample time, a `t_us` column (int64 microseconds of run time: virtual seconds in
simulation, monotonic seconds since the run started on hardware, with the UTC anchor in the file
metadata) and one nullable integer column per channel holding the raw value; physical value =
raw * scale + offset in `unit` (for CAN signals exactly the DBC's raw value and factor, for polled
channels the value quantised to the channel's resolution). Integers with delta encoding and zstd
are what make a cell-voltage sample cost about a byte on disk.

Paths, relative to the run folder (`reports/<run id>/`):
    attachments/telemetry/<group>/<segment>-<step>.parquet          data, one file per step and segment
    attachments/telemetry/<group>/<segment>-<step>.summary.parquet  min/max/sum/count per bucket and level
    telemetry-wal/<group>/<segment>-<step>.arrows                   the live segment (Arrow IPC stream),
                                                                    converted to Parquet when it closes
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

FORMAT = "ess-bench-telemetry/1"
META_KEY = b"ess-bench-telemetry"
DATA_DIR = "attachments/telemetry"
WAL_DIR = "telemetry-wal"
TIME_COLUMN = "t_us"
US = 1_000_000
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Channel:
    """One captured quantity: where it lives (group, column) and how raw integers become values."""

    name: str  # e.g. "bms_can.CellVoltage_003", "psu.voltage"
    column: str
    unit: str  # pint text of the physical unit
    scale: float = 1.0
    offset: float = 0.0
    dtype: str = "int32"  # numpy dtype of the raw column (float64 for float signals)
    family: str = ""  # cell_voltage | cell_temperature | pack_current | ""
    index: int | None = None  # cell number within the family
    group: str = ""

    def physical(self, raw: np.ndarray) -> np.ndarray:
        return raw.astype(np.float64) * self.scale + self.offset

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        return np.round((np.asarray(values, dtype=np.float64) - self.offset) / self.scale)


@dataclass(frozen=True)
class GroupSpec:
    name: str
    source: str  # "can bms_can 0x250 f_CellVoltages" / "poll 100 Hz"
    channels: tuple[Channel, ...] = field(default_factory=tuple)

    def schema(self, extra: dict[str, Any] | None = None) -> pa.Schema:
        fields = [pa.field(TIME_COLUMN, pa.int64(), nullable=False)]
        for c in self.channels:
            fields.append(
                pa.field(
                    c.column,
                    pa.from_numpy_dtype(np.dtype(c.dtype)),
                    nullable=True,
                    metadata={"unit": c.unit, "scale": repr(c.scale), "offset": repr(c.offset), "channel": c.name},
                )
            )
        meta = {"format": FORMAT, **self.describe(), **(extra or {})}
        return pa.schema(fields, metadata={META_KEY: json.dumps(meta, sort_keys=True).encode()})

    def describe(self) -> dict[str, Any]:
        return {"group": self.name, "source": self.source, "channels": [asdict(c) for c in self.channels]}

    @staticmethod
    def from_meta(meta: dict[str, Any]) -> GroupSpec:
        return GroupSpec(meta["group"], meta.get("source", ""), tuple(Channel(**c) for c in meta["channels"]))


def group_meta(schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError("not an ESS Bench telemetry file (no ess-bench-telemetry metadata)")
    return json.loads(raw)


def raw_dtype(lo: float, hi: float) -> str:
    """The smallest signed integer type holding raw values lo..hi."""
    for name in ("int8", "int16", "int32"):
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return name
    return "int64"


def safe(text: str, limit: int = 40) -> str:
    """A file-name-safe label (step names, group names)."""
    return (_SAFE.sub("_", text).strip("._") or "x")[:limit]


def step_label(nodeid: str | None) -> str:
    """Short label of a step for file names: the test function name, or "run" outside steps."""
    if not nodeid:
        return "run"
    return safe(nodeid.rsplit("::", 1)[-1].split("[", 1)[0])


def segment_stem(index: int, nodeid: str | None) -> str:
    return f"{index:05d}-{step_label(nodeid)}"


def data_path(group: str, stem: str) -> str:
    return f"{DATA_DIR}/{group}/{stem}.parquet"


def summary_path(group: str, stem: str) -> str:
    return f"{DATA_DIR}/{group}/{stem}.summary.parquet"


def wal_path(group: str, stem: str) -> str:
    return f"{WAL_DIR}/{group}/{stem}.arrows"


def chunk_digest(batch: pa.RecordBatch | pa.Table) -> str:
    """SHA-256 of a chunk's content, independent of the file format it sits in.

    Over b"ess-bench-telemetry-chunk/1\\0", then for every column in schema order: its name, NUL,
    its numpy dtype name, NUL, the validity bits (numpy packbits, little bit order) and the values
    as little-endian bytes with nulls written as 0. The same rows give the same digest whether read
    from the live Arrow IPC file or from the Parquet file it became, so a journalled chunk can be
    checked against the Parquet file years later (docs/telemetry.md gives the procedure).
    """
    return digest_arrays(batch.schema.names, [column_arrays(col) for col in batch.columns])


_LE = {}  # dtype -> (little-endian dtype, name bytes)


def digest_arrays(names: list[str], columns: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """chunk_digest of columns given as (values with nulls as 0, validity) numpy pairs."""
    h = hashlib.sha256(b"ess-bench-telemetry-chunk/1\0")
    for name, (values, valid) in zip(names, columns, strict=True):
        le = _LE.get(values.dtype)
        if le is None:
            le = _LE[values.dtype] = (values.dtype.newbyteorder("<"), values.dtype.name.encode())
        h.update(name.encode("utf-8") + b"\0" + le[1] + b"\0")
        h.update(np.packbits(valid, bitorder="little").tobytes())
        h.update(np.ascontiguousarray(values, dtype=le[0]).tobytes())
    return h.hexdigest()


def column_arrays(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(values with nulls as 0, validity mask) of an integer or float column."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    dtype = col.type.to_pandas_dtype()
    if col.null_count:
        valid = col.is_valid().to_numpy(zero_copy_only=False)
        values = col.fill_null(0).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    else:
        valid = np.ones(len(col), dtype=bool)
        values = col.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return values, valid
