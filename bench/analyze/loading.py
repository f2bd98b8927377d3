"""Loading BMS logs (daily CSV folders, one big CSV, Parquet) into compact per-row arrays.

Polars parses the files and computes, per row, only what the analysis needs (charge-positive
current in A, cell max/min, out-of-window cell bit masks, temperatures), streamed in batches so a
7-million-row log stays well under 2 GB. Rows that cannot be used are kept aside with their file
and row number for the data-quality report, never silently dropped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from bench.analyze.profile import LogProfile
from bench.analyze.progress import SILENT, Progress
from bench.errors import BenchError

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
BAD_TS, BAD_VALUE, BAD_RANGE = 1, 2, 4
MAX_BAD_ROWS_KEPT = 10_000


class LogInputError(BenchError):
    """The log cannot be analysed as the profile describes it; names file, column and profile key."""


@dataclass
class FileInfo:
    path: Path
    kind: str  # "csv" | "parquet"
    rows: int = 0
    empty: bool = False
    from_folder: bool = False  # found by searching a folder (not named by the user): may be a non-log


@dataclass
class LoadedLog:
    """Usable rows in file order (not yet sorted), plus the rows that were set aside."""

    files: list[FileInfo]
    t_us: np.ndarray  # int64 instants, µs (UTC when zoned/localised, else the BMS's wall clock)
    current: np.ndarray  # float64 A, charge positive
    pack: np.ndarray  # float64 V
    vmax: np.ndarray  # float32 V, highest cell
    vmin: np.ndarray  # float32 V, lowest cell
    window: pl.DataFrame  # rows with a cell outside the chemistry window: _i (index), above, below bit masks
    temps: np.ndarray  # float32 (k, n) degC, one row per sensor
    bad: (
        pl.DataFrame
    )  # set-aside rows (first MAX_BAD_ROWS_KEPT): _fid, _row (in its file), raw timestamp, flags, values
    bad_global: np.ndarray  # int64, running row number (over all files) of every set-aside row, ascending
    file_first: np.ndarray  # int64, running row number of each file's first data row (-1: no rows)
    bad_counts: dict[str, int] = field(default_factory=dict)  # per reason and per channel
    skipped: list[Path] = field(default_factory=list)  # files in the given folders that are not logs
    zoned: bool = False
    timezone: str | None = None
    stuck_blocks: pl.DataFrame | None = None  # per (block, channel) min/max for stuck detection
    total_rows: int = 0

    def locate(self, i: int) -> tuple[int, int]:
        """(file number, 0-based data row in that file) of usable row `i`.

        Only the few rows a finding points at are located, so no per-row file/row arrays are kept:
        usable row i is running row i + (set-aside rows before it).
        """
        shifted, order, firsts = self._locator
        g = int(i) + int(np.searchsorted(shifted, i, side="right"))
        f = int(order[max(int(np.searchsorted(firsts, g, side="right")) - 1, 0)])
        return f, g - int(self.file_first[f])

    @cached_property
    def _locator(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        has = np.flatnonzero(self.file_first >= 0)
        order = has[np.argsort(self.file_first[has], kind="stable")]
        return self.bad_global - np.arange(len(self.bad_global)), order, self.file_first[order]


def expand_paths(paths: list[str | Path], skipped: list[Path] | None = None) -> list[FileInfo]:
    """Files from arguments: files, folders (searched recursively) or glob patterns, sorted by name.

    In a folder only .csv/.parquet files are logs; the others (a README.txt, a photo of the rack)
    are appended to `skipped` so the analysis can say what it left out."""
    out: list[Path] = []
    in_folders: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(x for x in p.rglob("*") if x.is_file())
            found = [x for x in files if x.suffix.lower() in CSV_SUFFIXES | PARQUET_SUFFIXES]
            if skipped is not None:
                skipped.extend(x for x in files if x.suffix.lower() not in CSV_SUFFIXES | PARQUET_SUFFIXES)
            if not found:
                raise LogInputError(f"{p}: folder holds no .csv or .parquet files")
            out.extend(found)
            in_folders.update(found)
        elif p.exists():
            out.append(p)
        elif any(ch in str(raw) for ch in "*?["):
            found = sorted(Path().glob(str(raw))) if not p.is_absolute() else sorted(Path("/").glob(str(raw)[1:]))
            if not found:
                raise LogInputError(f"{raw}: pattern matches no files")
            out.extend(found)
        else:
            raise LogInputError(f"{raw}: no such file or folder")
    infos = []
    for p in out:
        suffix = p.suffix.lower()
        kind = "parquet" if suffix in PARQUET_SUFFIXES else "csv"
        infos.append(FileInfo(path=p, kind=kind, from_folder=p in in_folders))
    return infos


def _not_a_log(info: FileInfo, profile: LogProfile) -> bool:
    """A text file found in a folder whose first line lacks the profile's timestamp column (a README,
    notes, an export of something else) is not a log; a file the user named is always read."""
    if not info.from_folder or info.kind != "csv":
        return False
    try:
        with info.path.open("r", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline(64 * 1024)
    except (OSError, UnicodeDecodeError):
        return True
    if not first.strip():
        return False  # an empty file is an empty log (its own finding), not something else
    return profile.ts_column not in [h.strip().strip('"') for h in first.split(profile.delimiter)]


def _csv_header(info: FileInfo, profile: LogProfile) -> list[str] | None:
    """The header row (csv module, BOM-tolerant); None for an empty file."""
    if info.path.stat().st_size == 0:
        return None
    try:
        with info.path.open("r", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
            second = fh.readline()
    except UnicodeDecodeError as exc:
        raise LogInputError(f"{info.path}: not UTF-8 text ({exc.reason}); is this a CSV log?") from exc
    header = next(csv.reader([first], delimiter=profile.delimiter), [])
    if not second.strip():
        info.empty = True
    return [h.strip() for h in header]


def _check_columns(info: FileInfo, header: list[str], profile: LogProfile) -> None:
    keys = [
        (profile.ts_column, "columns/timestamp.column"),
        (profile.pack_voltage, "columns.pack_voltage"),
        (profile.current, "columns.current"),
    ]
    keys += [(c, "columns.cell_voltages") for c in profile.cells]
    keys += [(c, "columns.temperatures") for c in profile.temperatures]
    missing = [(c, k) for c, k in keys if c not in header]
    if missing:
        names = ", ".join(f"{c!r} ({k})" for c, k in missing[:6]) + (" ..." if len(missing) > 6 else "")
        shown = ", ".join(header[:12]) + (" ..." if len(header) > 12 else "")
        raise LogInputError(
            f"{info.path}: {len(missing)} column(s) named in profile {profile.source} not found: {names}; "
            f"the file has: {shown}" + ("; is the delimiter right (file.delimiter)?" if len(header) == 1 else "")
        )
    dupes = sorted({h for h in header if header.count(h) > 1 and h in profile.all_columns})
    if dupes:
        raise LogInputError(f"{info.path}: column(s) appear twice in the header: {', '.join(dupes)}")


def _ts_expr(profile: LogProfile, dtype: pl.DataType) -> tuple[pl.Expr, bool]:
    """Expression giving int64 µs instants, and whether the source is zoned."""
    col = pl.col(profile.ts_column)
    fmt = profile.ts_format
    if fmt in ("epoch_s", "epoch_ms"):
        scale = 1e6 if fmt == "epoch_s" else 1e3
        num = col.cast(pl.Float64, strict=False) if dtype == pl.String else col.cast(pl.Float64)
        return (num * scale).round(0).cast(pl.Int64), True
    if isinstance(dtype, pl.Datetime):
        dt, zoned = col.cast(pl.Datetime("us", dtype.time_zone)), dtype.time_zone is not None
    elif dtype == pl.String:
        if fmt == "iso":
            dt = col.str.strip_chars().str.to_datetime(time_unit="us", strict=False, cache=False)
            zoned = False  # decided from the result dtype by the caller
        else:
            dt = col.str.strip_chars().str.strptime(
                pl.Datetime("us"), fmt, strict=False, cache=False
            )  # timestamps are unique: no cache
            zoned = "%z" in fmt or "%Z" in fmt
    else:
        raise LogInputError(
            f"timestamp column {profile.ts_column!r} has type {dtype}; with timestamp.format = {fmt!r} in "
            f'{profile.source} it must be text or a datetime (use "epoch_s"/"epoch_ms" for numbers)'
        )
    if zoned:
        return dt.dt.convert_time_zone("UTC").dt.epoch("us"), True
    if profile.timezone:
        dt = dt.dt.replace_time_zone(profile.timezone, ambiguous="earliest", non_existent="null")
    return dt.dt.epoch("us"), False


def _schema_of(info: FileInfo, profile: LogProfile) -> tuple[tuple[str, ...] | None, pl.DataType]:
    """Header (CSV) or schema (Parquet) of one file, checked against the profile; None if empty."""
    if info.kind == "csv":
        header = _csv_header(info, profile)
        if header is None or info.empty:
            info.empty = True
            return None, pl.String
        _check_columns(info, header, profile)
        return tuple(header), pl.String
    try:
        schema = dict(pl.scan_parquet(info.path).collect_schema())
    except Exception as exc:
        raise LogInputError(f"{info.path}: cannot read as Parquet: {exc}") from exc
    _check_columns(info, list(schema), profile)
    for c in profile.numeric_columns:
        if not schema[c].is_numeric() and schema[c] != pl.String:
            raise LogInputError(f"{info.path}: column {c!r} has type {schema[c]}, expected numbers")
    return tuple(schema), schema[profile.ts_column]


def _lazy_group(infos: list[FileInfo], fids: list[int], header: tuple[str, ...], profile: LogProfile) -> pl.LazyFrame:
    """One scan over files sharing a header; `_fid` is the global file number.

    The per-row file path (and its conversion to a number) is only asked for when there are several files.
    """
    paths = [str(i.path) for i in infos]
    by_path = {"include_file_paths": "_path"} if len(paths) > 1 else {}
    if infos[0].kind == "csv":
        schema: dict[str, pl.DataType] = {h: pl.String for h in header}
        for c in profile.numeric_columns:
            schema[c] = pl.Float64
        lf = pl.scan_csv(
            paths,
            schema=schema,
            separator=profile.delimiter,
            ignore_errors=True,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
            raise_if_empty=False,
            **by_path,
        )
    else:
        lf = pl.scan_parquet(paths, **by_path)
        lf = lf.with_columns([pl.col(c).cast(pl.Float64, strict=False) for c in profile.numeric_columns])
    if not by_path:
        return lf.select(pl.lit(fids[0], pl.UInt32).alias("_fid"), *profile.all_columns)
    local = pl.col("_path").cast(pl.Enum(paths)).to_physical().cast(pl.UInt32)
    if fids == list(range(fids[0], fids[0] + len(fids))):
        fid = local + fids[0]
    else:
        fid = local.replace_strict(list(range(len(fids))), fids, return_dtype=pl.UInt32)
    return lf.select(fid.alias("_fid"), *profile.all_columns)


def _converted(profile: LogProfile, column: str) -> pl.Expr:
    conv = profile.conversions[profile.channel_kind(column)]
    e = pl.col(column)
    if conv.scale != 1.0 or conv.offset != 0.0:
        e = e * conv.scale + conv.offset
    return e.alias(column)


def _plan(lf: pl.LazyFrame, ts_expr: pl.Expr, profile: LogProfile) -> pl.LazyFrame:
    """Per-row columns the analysis keeps, plus a flags byte saying why a row is unusable."""
    p = profile
    lo_w, hi_w = (float(q.to("V").magnitude) for q in p.cell_window)
    lf = lf.with_columns([_converted(p, c) for c in p.numeric_columns])
    lf = lf.with_columns((pl.col(p.current) * p.current_sign).alias(p.current))
    checks = []
    for c in p.numeric_columns:
        lo, hi = p.valid_range[p.channel_kind(c)]
        checks.append(pl.col(c).is_between(lo, hi).not_())  # null stays null, NaN counts as outside
    cells = [pl.col(c) for c in p.cells]
    temps = [pl.col(c) for c in p.temperatures]
    return lf.with_columns(
        ts_expr.alias("_t"),
        pl.max_horizontal(cells).cast(pl.Float32).alias("_vmax"),
        pl.min_horizontal(cells).cast(pl.Float32).alias("_vmin"),
        *[t.cast(pl.Float32).alias(f"_T{k}") for k, t in enumerate(temps)],
    ).with_columns(
        (
            pl.col("_t").is_null().cast(pl.UInt8) * BAD_TS
            + pl.any_horizontal(checks).fill_null(True).cast(pl.UInt8) * BAD_RANGE
        ).alias("_flags")
    )


def _masks(batch: pl.DataFrame, profile: LogProfile, first: int) -> pl.DataFrame:
    """Which cells are outside the chemistry window, only for rows where any cell is (rare)."""
    lo_w, hi_w = (float(q.to("V").magnitude) for q in profile.cell_window)
    idx = np.flatnonzero((batch["_vmax"].to_numpy() > hi_w) | (batch["_vmin"].to_numpy() < lo_w))
    above = pl.sum_horizontal([(pl.col(c) > hi_w).cast(pl.UInt64) * (1 << j) for j, c in enumerate(profile.cells)])
    below = pl.sum_horizontal([(pl.col(c) < lo_w).cast(pl.UInt64) * (1 << j) for j, c in enumerate(profile.cells)])
    sub = batch.select(profile.cells)[idx]
    return sub.select(pl.Series("_i", idx + first, pl.Int64), above.alias("above"), below.alias("below"))


def load_log(
    paths: list[str | Path], profile: LogProfile, progress: Progress = SILENT, batch_rows: int = 250_000
) -> LoadedLog:
    """Read every file, in name order, into one LoadedLog."""
    skipped: list[Path] = []
    files = expand_paths(paths, skipped)
    skipped += [f.path for f in files if _not_a_log(f, profile)]
    files = [f for f in files if f.path not in skipped]
    if not files:
        raise LogInputError(f"no log files: every file found was skipped as not a log (first: {skipped[0]})")
    if len(files) > 1 and len({f.kind for f in files}) > 1:
        raise LogInputError("mixing CSV and Parquet inputs in one analysis is not supported; give one kind")
    n_cells = len(profile.cells)
    if n_cells > 64:
        raise LogInputError(f"{profile.source}: columns.cell_voltages lists {n_cells} cells; at most 64 are supported")
    groups: dict[tuple, list[int]] = {}
    ts_dtypes = set()
    for fid, info in enumerate(files):
        header, ts_dtype = _schema_of(info, profile)
        if header is not None:
            groups.setdefault((info.kind, header), []).append(fid)
            ts_dtypes.add(str(ts_dtype))
    if not groups:
        raise LogInputError(f"no data: all {len(files)} input file(s) are empty (first: {files[0].path})")
    if len(ts_dtypes) > 1:
        raise LogInputError(
            f"timestamp column {profile.ts_column!r} has different types across files: {sorted(ts_dtypes)}"
        )
    frames = [_lazy_group([files[f] for f in fids], fids, header, profile) for (_, header), fids in groups.items()]
    ts_expr, zoned = _ts_expr(profile, frames[0].collect_schema()[profile.ts_column])
    if profile.ts_format == "iso":
        probe = (
            frames[0]
            .head(200)
            .select(pl.col(profile.ts_column).str.strip_chars().str.to_datetime(time_unit="us", strict=False))
            .collect()
        )
        tz = probe.schema[profile.ts_column]
        if isinstance(tz, pl.Datetime) and tz.time_zone is not None:
            zoned = True
            ts_expr = (
                pl.col(profile.ts_column)
                .str.strip_chars()
                .str.to_datetime(time_unit="us", strict=False, cache=False)
                .dt.convert_time_zone("UTC")
                .dt.epoch("us")
            )
    lf = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    lf = lf.select("_fid", *profile.all_columns)  # batches come in order: running row numbers are counted here
    lf = _plan(lf, ts_expr, profile)
    n_temps = len(profile.temperatures)
    sink = _Sink(
        {"_t": np.int64, "current": np.float64, "pack": np.float64, "_vmax": np.float32, "_vmin": np.float32},
        n_temps,
        _expected_rows(files, groups),
    )
    sources = {"_t": "_t", "current": profile.current, "pack": profile.pack_voltage, "_vmax": "_vmax", "_vmin": "_vmin"}
    bad_parts: list[pl.DataFrame] = []
    bad_global: list[np.ndarray] = []
    stuck_parts: list[pl.DataFrame] = []
    mask_parts: list[pl.DataFrame] = []
    bad_kept = 0
    bad_counts: dict[str, int] = {}
    rows_per_file = np.zeros(len(files), np.int64)
    file_first = np.full(len(files), -1, np.int64)
    total = 0
    block_us = max(int(profile.stuck_duration.to("s").magnitude * 1e6 / 6), 1_000_000)
    stride = stuck_stride(profile)
    channels = profile.numeric_columns
    progress.phase(f"loading {len(files)} file(s) with profile {profile.name}")
    for batch in lf.collect_batches(chunk_size=batch_rows):
        first_row = total
        total += batch.height
        _note_files(batch["_fid"].to_numpy(), first_row, rows_per_file, file_first)
        is_bad = batch["_flags"] != 0
        if is_bad.any():
            bad = batch.with_row_index("_row", offset=first_row).filter(is_bad)
            bad = bad.with_columns(pl.col("_row").cast(pl.Int64))
            bad_global.append(bad["_row"].to_numpy().copy())
            _count_bad(bad, profile, bad_counts)
            if bad_kept < MAX_BAD_ROWS_KEPT:
                bad_parts.append(
                    bad.select(
                        "_fid", "_row", pl.col(profile.ts_column).cast(pl.String).alias("_ts"), "_flags", *channels
                    ).head(MAX_BAD_ROWS_KEPT - bad_kept)
                )
                bad_kept += bad_parts[-1].height
            batch = batch.filter(~is_bad)
        if batch.height:
            stuck_parts.append(_stuck_part(batch, channels, stride, block_us))
            mask_parts.append(_masks(batch, profile, sink.n))
            sink.append(batch, sources, [f"_T{k}" for k in range(n_temps)])
        del batch
        progress.update(f"{total:,} rows read")
    progress.done(f"read {total:,} rows from {len(files)} file(s)")
    if not sink.n:
        raise LogInputError(
            f"no usable rows in {len(files)} file(s): every row was set aside ({_reason_text(bad_counts)}); "
            f"check timestamp.format = {profile.ts_format!r} and [units]/[valid_range] in {profile.source}"
        )
    bad_df = pl.concat(bad_parts) if bad_parts else pl.DataFrame()
    if bad_df.height:  # running row number -> row within the file
        bad_df = bad_df.with_columns(pl.col("_row") - pl.Series(file_first[bad_df["_fid"].to_numpy()]))
    for fid, info in enumerate(files):
        info.rows = int(rows_per_file[fid])
    a = sink.arrays()
    return LoadedLog(
        files=files,
        t_us=a["_t"],
        current=a["current"],
        pack=a["pack"],
        vmax=a["_vmax"],
        vmin=a["_vmin"],
        window=pl.concat(mask_parts),
        temps=sink.temps(),
        bad=bad_df,
        bad_global=np.concatenate(bad_global) if bad_global else np.zeros(0, np.int64),
        file_first=file_first,
        bad_counts=bad_counts,
        skipped=skipped,
        zoned=zoned,
        timezone=profile.timezone,
        stuck_blocks=pl.concat(stuck_parts),
        total_rows=total,
    )


class _Sink:
    """Per-row columns that each batch is copied into as it arrives, so no batch outlives its turn.

    Sized from the expected row count; pages past the rows actually written are never touched,
    so an estimate on the high side costs address space, not memory. Grows if the estimate was low.
    """

    def __init__(self, dtypes: dict[str, type], n_temps: int, capacity: int):
        self.dtypes, self.n_temps, self.n = dtypes, n_temps, 0
        try:
            self._alloc(max(capacity, 1))
        except MemoryError:  # a wild CSV estimate on a small machine: start small and grow
            self._alloc(min(max(capacity, 1), 1_000_000))

    def _alloc(self, capacity: int) -> None:
        old_cols, old_temps = getattr(self, "_cols", {}), getattr(self, "_temps", None)
        self.capacity = capacity
        self._cols = {k: np.empty(capacity, d) for k, d in self.dtypes.items()}
        self._temps = np.empty((self.n_temps, capacity), np.float32)
        for k, col in old_cols.items():
            self._cols[k][: self.n] = col[: self.n]
        if old_temps is not None:
            self._temps[:, : self.n] = old_temps[:, : self.n]

    def append(self, batch: pl.DataFrame, sources: dict[str, str], temp_columns: list[str]) -> None:
        a, b = self.n, self.n + batch.height
        if b > self.capacity:
            self._alloc(max(b, self.capacity + self.capacity // 2))
        for key, name in sources.items():
            self._cols[key][a:b] = batch[name].to_numpy()
        for k, name in enumerate(temp_columns):
            self._temps[k, a:b] = batch[name].to_numpy()
        self.n = b

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v[: self.n] for k, v in self._cols.items()}

    def temps(self) -> np.ndarray:
        return self._temps[:, : self.n]


def _expected_rows(files: list[FileInfo], groups: dict[tuple, list[int]]) -> int:
    """Exact for Parquet (footer metadata); for CSV, bytes over the mean line length of the first file, +15 %."""
    used = [files[f] for fids in groups.values() for f in fids]
    if used[0].kind == "parquet":
        return int(pl.scan_parquet([str(f.path) for f in used]).select(pl.len()).collect().item())
    size = sum(f.path.stat().st_size for f in used)
    with used[0].path.open("rb") as fh:
        fh.readline()  # the header is no data row
        head = fh.read(1 << 16)
    lines = max(head.count(b"\n"), 1)
    return int(size / max(len(head) / lines, 1.0) * 1.15) + 1024


def _note_files(fid: np.ndarray, first_row: int, rows_per_file: np.ndarray, file_first: np.ndarray) -> None:
    """Rows per file and each file's first running row number (a file's rows are one contiguous run)."""
    if not len(fid):
        return
    runs = np.concatenate([[0], np.flatnonzero(fid[1:] != fid[:-1]) + 1])
    ends = np.append(runs[1:], len(fid))
    for f, a, b in zip(fid[runs].tolist(), runs.tolist(), ends.tolist(), strict=True):
        if file_first[f] < 0:
            file_first[f] = first_row + a
        rows_per_file[f] += b - a


def stuck_stride(profile: LogProfile) -> int:
    """Every k-th row is enough to see a channel frozen for `stuck_duration` (>= 64 looks per window)."""
    per_window = profile.stuck_duration.to("s").magnitude / max(profile.nominal_interval.to("s").magnitude, 1e-3)
    return int(max(1, min(8, per_window // 64)))


def _stuck_part(batch: pl.DataFrame, channels: list[str], stride: int, block_us: int) -> pl.DataFrame:
    """Per-block min/max of every channel on every `stride`-th row; blocks are runs of `_t // block_us`.

    Strided numpy views of the batch's columns (no copy: usable rows have no nulls), one channel at a time.
    """
    blk = batch["_t"].to_numpy()[::stride] // block_us
    first = np.concatenate([[0], np.flatnonzero(blk[1:] != blk[:-1]) + 1])
    out = {"_blk": blk[first]}
    for c in channels:
        v = batch[c].to_numpy()[::stride]
        out[f"{c}\x00min"] = np.minimum.reduceat(v, first)
        out[f"{c}\x00max"] = np.maximum.reduceat(v, first)
    return pl.DataFrame(out)


def _count_bad(bad: pl.DataFrame, profile: LogProfile, counts: dict[str, int]) -> None:
    """Tally set-aside rows by reason and by channel (bad rows only, so it is cheap)."""
    f = bad["_flags"]
    counts["timestamp"] = counts.get("timestamp", 0) + int(((f & BAD_TS) != 0).sum())
    for c in profile.numeric_columns:
        lo, hi = profile.valid_range[profile.channel_kind(c)]
        col = bad[c]
        n_null = int(col.is_null().sum() + col.is_nan().sum())
        n_range = int(((col < lo) | (col > hi)).sum())
        if n_null:
            counts["missing_or_unparseable"] = counts.get("missing_or_unparseable", 0) + n_null
            counts[f"missing:{c}"] = counts.get(f"missing:{c}", 0) + n_null
        if n_range:
            counts["out_of_range"] = counts.get("out_of_range", 0) + n_range
            counts[f"range:{c}"] = counts.get(f"range:{c}", 0) + n_range


def _reason_text(counts: dict[str, int]) -> str:
    parts = [f"{k.replace('_', ' ')}: {v:,}" for k, v in counts.items() if ":" not in k and v]
    return ", ".join(parts) or "no rows"
