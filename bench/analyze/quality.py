"""Data quality first: what is wrong with the log, where, and what was done about it.

Every problem is counted and located (file and data row, or time span); rows that are set aside
or re-ordered are reported, never silently dropped or silently kept. The clean, time-ordered
arrays the metrics use come out of here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from bench.analyze.loading import BAD_TS, LoadedLog
from bench.analyze.profile import LogProfile

MAX_LOCATIONS = 20
_OFFSET_RE = re.compile(r"(Z|[+-]\d\d:?\d\d)\s*$")


@dataclass
class Finding:
    """One kind of problem: how many, how bad, what was done, and where (first few)."""

    kind: str
    severity: str  # "info" | "warning" | "error"
    count: int
    message: str
    action: str
    locations: list[dict] = field(default_factory=list)


@dataclass
class CleanLog:
    """Time-ordered, de-duplicated usable rows (views into the loaded arrays)."""

    t_us: np.ndarray
    current: np.ndarray
    pack: np.ndarray
    vmax: np.ndarray
    vmin: np.ndarray
    temps: np.ndarray
    window: pl.DataFrame  # _i now indexes the clean arrays
    source: np.ndarray | None  # loaded-row index of each clean row; None when nothing was moved or dropped

    def loaded_index(self, i: int) -> int:
        return int(i) if self.source is None else int(self.source[i])


@dataclass
class QualityReport:
    findings: list[Finding]
    rows_total: int
    rows_used: int
    files: int
    empty_files: list[str]
    median_interval_s: float
    span_s: float
    covered_s: float
    gaps: list[dict]

    @property
    def coverage(self) -> float:
        return self.covered_s / self.span_s if self.span_s > 0 else 0.0


def fmt_time(t_us: int | float) -> str:
    """µs since the epoch as ISO text (UTC or the BMS wall clock, as loaded)."""
    return (datetime(1970, 1, 1) + timedelta(microseconds=int(t_us))).isoformat(sep=" ", timespec="seconds")


def _where_in_file(log: LoadedLog, fid: int, row: int) -> dict:
    return {"file": str(log.files[int(fid)].path), "line": int(row) + 2}  # header is line 1


def _where(log: LoadedLog, i: int) -> dict:
    """File and line of usable (loaded) row `i`."""
    return _where_in_file(log, *log.locate(i))


def _bad_rows(log: LoadedLog, profile: LogProfile) -> list[Finding]:
    out: list[Finding] = []
    bad = log.bad
    if not bad.height:
        return out
    ts_bad = bad.filter((pl.col("_flags") & BAD_TS) != 0)
    if ts_bad.height:
        raw = ts_bad["_ts"].fill_null("").to_list()
        zoned_fmt = "%z" in profile.ts_format or log.zoned
        mixed = [i for i, s in enumerate(raw) if s and bool(_OFFSET_RE.search(s)) != zoned_fmt]
        if mixed:
            rows = ts_bad[mixed]
            kind = "naive timestamps among zoned ones" if zoned_fmt else "timestamps with a UTC offset among naive ones"
            out.append(
                Finding(
                    "mixed_time_zones",
                    "error",
                    len(mixed),
                    f"{kind} (mixed time zones); timestamp.format is {profile.ts_format!r}",
                    "rows set aside; set timestamp.format/timezone in the profile to read them",
                    [
                        {**_where_in_file(log, f, r), "value": v}
                        for f, r, v in rows.select("_fid", "_row", "_ts").head(MAX_LOCATIONS).iter_rows()
                    ],
                )
            )
        other = ts_bad[[i for i in range(ts_bad.height) if i not in set(mixed)]]
        n_other = log.bad_counts.get("timestamp", 0) - len(mixed)
        if n_other > 0:
            out.append(
                Finding(
                    "unparseable_timestamp",
                    "warning",
                    n_other,
                    f"timestamp in column {profile.ts_column!r} does not match format {profile.ts_format!r}",
                    "rows set aside",
                    [
                        {**_where_in_file(log, f, r), "value": v}
                        for f, r, v in other.select("_fid", "_row", "_ts").head(MAX_LOCATIONS).iter_rows()
                    ],
                )
            )
    for reason, label, action in (
        ("missing", "missing or unparseable value", "rows set aside"),
        ("range", "value outside the plausible range [valid_range]", "rows set aside"),
    ):
        per_col = {k.split(":", 1)[1]: v for k, v in log.bad_counts.items() if k.startswith(reason + ":")}
        if not per_col:
            continue
        locs = []
        for c in per_col:
            col = pl.col(c)
            lo, hi = profile.valid_range[profile.channel_kind(c)]
            cond = (col.is_null() | col.is_nan()) if reason == "missing" else ((col < lo) | (col > hi))
            sub = bad.filter(cond).select("_fid", "_row", c).head(5)
            locs += [{**_where_in_file(log, f, r), "column": c, "value": v} for f, r, v in sub.iter_rows()]
        detail = ", ".join(f"{c}: {n:,}" for c, n in sorted(per_col.items(), key=lambda kv: -kv[1])[:8])
        rows = log.bad_counts.get("missing_or_unparseable" if reason == "missing" else "out_of_range", 0)
        out.append(
            Finding(f"{reason}_values", "warning", rows, f"{label}; by column: {detail}", action, locs[:MAX_LOCATIONS])
        )
    return out


def check(log: LoadedLog, profile: LogProfile) -> tuple[QualityReport, CleanLog]:
    """Order, de-duplicate and gap-check the usable rows; collect every finding."""
    findings = _bad_rows(log, profile)
    empty = [str(f.path) for f in log.files if f.empty]
    if empty:
        findings.append(
            Finding(
                "empty_files",
                "warning",
                len(empty),
                "files with no data rows",
                "skipped",
                [{"file": p} for p in empty[:MAX_LOCATIONS]],
            )
        )
    if log.skipped:
        findings.append(
            Finding(
                "skipped_files",
                "info",
                len(log.skipped),
                "files in the log folder that are not .csv or .parquet logs",
                "not read",
                [{"file": str(p)} for p in log.skipped[:MAX_LOCATIONS]],
            )
        )
    t = log.t_us
    d = np.diff(t)
    back = np.flatnonzero(d < 0)
    perm = None
    if back.size:
        findings.append(
            Finding(
                "non_monotonic",
                "warning",
                int(back.size),
                f"timestamp goes backwards (largest step back {-d[back].min() / 1e6:,.0f} s)",
                "rows sorted by time (stable)",
                [
                    {**_where(log, i + 1), "time": fmt_time(t[i + 1]), "previous": fmt_time(t[i])}
                    for i in back[:MAX_LOCATIONS]
                ],
            )
        )
        perm = np.argsort(t, kind="stable")
        t = t[perm]
        d = np.diff(t)
    dup = np.flatnonzero(d == 0) + 1
    take = None
    if dup.size:
        cur = log.current if perm is None else log.current[perm]
        vmx = log.vmax if perm is None else log.vmax[perm]
        same = (cur[dup] == cur[dup - 1]) & (vmx[dup] == vmx[dup - 1])
        n_conf = int((~same).sum())
        findings.append(
            Finding(
                "duplicate_timestamps",
                "warning",
                int(dup.size),
                f"{int(same.sum()):,} exact duplicate row(s), {n_conf:,} with the same time but different values",
                "first row at each time kept, later ones set aside",
                [
                    {**_where(log, i if perm is None else perm[i]), "time": fmt_time(t[i]), "identical": bool(s)}
                    for i, s in zip(dup[:MAX_LOCATIONS], same[:MAX_LOCATIONS], strict=True)
                ],
            )
        )
        keep = np.ones(len(t), bool)
        keep[dup] = False
        take = np.flatnonzero(keep) if perm is None else perm[keep]
        t = t[keep]
        d = np.diff(t)
    elif perm is not None:
        take = perm
    clean = _apply(log, t, take)
    gap_s = float(profile.gap_threshold.to("s").magnitude)
    gi = np.flatnonzero(d > gap_s * 1e6)  # d: µs steps of the clean rows, all > 0 now
    gap_dt = d[gi] / 1e6
    gaps = [
        {
            "start": fmt_time(t[i]),
            "end": fmt_time(t[i + 1]),
            "duration_s": float(x),
            **_where(log, clean.loaded_index(i + 1)),
        }
        for i, x in zip(gi, gap_dt, strict=True)
    ]
    if gi.size:
        findings.append(
            Finding(
                "gaps",
                "warning",
                int(gi.size),
                f"{gi.size:,} gap(s) longer than {gap_s:g} s, {gap_dt.sum() / 3600:,.2f} h in total",
                "not integrated across (charge and energy in a gap are unknown)",
                sorted(gaps, key=lambda g: -g["duration_s"])[:MAX_LOCATIONS],
            )
        )
    findings += _stuck(log, profile)
    span = float((t[-1] - t[0]) / 1e6) if len(t) > 1 else 0.0
    covered = float(d.sum() / 1e6 - gap_dt.sum()) if d.size else 0.0
    report = QualityReport(
        findings=findings,
        rows_total=log.total_rows,
        rows_used=len(t),
        files=len(log.files),
        empty_files=empty,
        median_interval_s=float(np.median(d)) / 1e6 if d.size else 0.0,
        span_s=span,
        covered_s=covered,
        gaps=gaps,
    )
    return report, clean


def _apply(log: LoadedLog, t: np.ndarray, take: np.ndarray | None) -> CleanLog:
    if take is None:
        return CleanLog(t, log.current, log.pack, log.vmax, log.vmin, log.temps, log.window, None)
    inverse = np.full(len(log.t_us), -1, np.int64)
    inverse[take] = np.arange(len(take))
    w = log.window
    if w.height:
        w = w.with_columns(pl.Series("_i", inverse[w["_i"].to_numpy()])).filter(pl.col("_i") >= 0).sort("_i")
    return CleanLog(t, log.current[take], log.pack[take], log.vmax[take], log.vmin[take], log.temps[:, take], w, take)


def _stuck(log: LoadedLog, profile: LogProfile) -> list[Finding]:
    """Channels frozen at one value for at least `stuck_duration`, from per-block min/max."""
    blocks = log.stuck_blocks
    if blocks is None or not blocks.height:
        return []
    block_s = max(profile.stuck_duration.to("s").magnitude / 6, 1.0)
    need = 6
    rest_a = float(profile.rest_current.to("A").magnitude)
    chans = profile.numeric_columns
    agg = (
        blocks.group_by("_blk")
        .agg(*[pl.col(f"{c}\x00min").min() for c in chans], *[pl.col(f"{c}\x00max").max() for c in chans])
        .sort("_blk")
    )
    blk = agg["_blk"].to_numpy()
    found = []
    for c in chans:
        lo = agg[f"{c}\x00min"].to_numpy()
        hi = agg[f"{c}\x00max"].to_numpy()
        const = lo == hi
        # a run: consecutive blocks, each constant, same value as the previous
        same = np.zeros(len(blk), bool)
        same[1:] = const[1:] & const[:-1] & (lo[1:] == lo[:-1]) & (np.diff(blk) == 1)
        starts = np.flatnonzero(const & ~same)
        for s in starts:
            e = s
            while e + 1 < len(blk) and same[e + 1]:
                e += 1
            if c == profile.current and abs(lo[s]) <= rest_a:
                continue  # zero current for hours is a resting pack, not a frozen sensor
            if e - s + 1 >= need:
                found.append(
                    {
                        "column": c,
                        "value": float(lo[s]),
                        "start": fmt_time(blk[s] * block_s * 1e6),
                        "end": fmt_time((blk[e] + 1) * block_s * 1e6),
                        "duration_s": (e - s + 1) * block_s,
                    }
                )
    if not found:
        return []
    cols = sorted({f["column"] for f in found})
    return [
        Finding(
            "stuck_channels",
            "warning",
            len(found),
            f"channel(s) frozen at one value for >= {profile.stuck_duration:~P}: {', '.join(cols)}",
            f"kept (reported); span resolution is one block of {block_s / 3600:.2g} h",
            found[:MAX_LOCATIONS],
        )
    ]
