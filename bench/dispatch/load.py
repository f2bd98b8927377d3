"""The site's load (and optional PV) as a regular series of intervals, with a data-quality summary.

A load file is CSV: a timestamp column (`time`, `timestamp` or `datetime`) and `load[<unit>]`, with an
optional `pv[<unit>]`; the unit is a power unit (mean power over the interval) or an energy unit
(energy per interval, as meters export it). `#` lines are comments. Hourly and 15-minute data (any
step that divides an hour) are accepted.

Time is handled as in the field-log analysis (bench/analyze): timestamps with a UTC offset are
instants; naive timestamps are wall-clock time in the tariff's zone. Unlike a BMS log, interval
data repeat the wall-clock hour when DST ends, so an ambiguous local time is the earlier instant at
its first occurrence and the later at its second (file order); a local time that does not exist
(DST start) is set aside and reported. Rows are ordered, de-duplicated and gap-checked; intervals
missing for up to `max_gap` are filled by linear interpolation and reported, longer gaps are an
error naming where they are. Nothing is dropped or filled silently.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pint
import polars as pl

from bench.analyze.quality import MAX_LOCATIONS, Finding, fmt_time
from bench.dispatch.errors import LoadDataError
from bench.units import Q_, ureg

_COLUMN = re.compile(r"^\s*(?P<name>[A-Za-z_]+)\s*(\[\s*(?P<unit>[^\]]*)\s*\])?\s*$")
TIME_NAMES = ("time", "timestamp", "datetime")
MAX_POWER_KW = 1e6  # 1 GW: above this the unit is wrong
US_PER_H = 3_600_000_000


@dataclass
class LoadQuality:
    """What was found in the load file and what was done about it."""

    rows: int
    rows_used: int
    step_s: float
    first: str
    last: str
    intervals: int
    filled: int
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rows_used": self.rows_used,
            "step": f"{self.step_s:g} s",
            "first": self.first,
            "last": self.last,
            "intervals": self.intervals,
            "filled_intervals": self.filled,
            "findings": [
                {
                    "kind": f.kind,
                    "severity": f.severity,
                    "count": f.count,
                    "message": f.message,
                    "action": f.action,
                    "locations": f.locations,
                }
                for f in self.findings
            ],
        }


@dataclass
class LoadSeries:
    """Regular intervals: start instants (UTC µs), their local wall clock (µs), load and PV in kW."""

    source: str
    t_us: np.ndarray
    local_us: np.ndarray
    step_s: float
    load_kw: np.ndarray
    pv_kw: np.ndarray | None
    timezone: str | None
    quality: LoadQuality

    @property
    def n(self) -> int:
        return int(self.load_kw.size)

    @property
    def step(self) -> pint.Quantity:
        return Q_(self.step_s, "s")

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0

    @property
    def net_kw(self) -> np.ndarray:
        """Load minus PV: what the site takes from the grid without a battery (negative = surplus)."""
        return self.load_kw if self.pv_kw is None else self.load_kw - self.pv_kw

    @property
    def hours(self) -> float:
        return self.n * self.step_h

    def months(self) -> tuple[np.ndarray, list[str]]:
        """Month number of each interval (0 = first month of the data) and the labels ("2025-01")."""
        m = self.local_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
        first = int(m.min())
        labels = [str(np.datetime64(int(k), "M")) for k in range(first, int(m.max()) + 1)]
        return (m - first).astype(np.int64), labels

    def slice(self, a: int, b: int) -> LoadSeries:
        """Intervals a..b-1, e.g. one day of the year for a short replay."""
        pv = None if self.pv_kw is None else self.pv_kw[a:b]
        return LoadSeries(
            self.source,
            self.t_us[a:b],
            self.local_us[a:b],
            self.step_s,
            self.load_kw[a:b],
            pv,
            self.timezone,
            self.quality,
        )


def _header(line: str, source: str, line_no: int) -> tuple[int, dict[str, tuple[int, pint.Unit | None]]]:
    names = [h.strip() for h in line.split(",")]
    cols: dict[str, tuple[int, pint.Unit | None]] = {}
    time_col = -1
    for j, h in enumerate(names):
        m = _COLUMN.match(h)
        if not m:
            raise LoadDataError(
                f"column header {h!r}: expected time, load[kW] or pv[kW]", source=source, key=f"line {line_no}"
            )
        name = m["name"].lower()
        if name in TIME_NAMES:
            time_col = j
            continue
        if name not in ("load", "pv"):
            continue  # other columns (meter ids, flags) are allowed and ignored
        if name in cols:
            raise LoadDataError(f"column {name!r} given twice", source=source, key=f"line {line_no}")
        unit_text = (m["unit"] or "").strip()
        if not unit_text:
            raise LoadDataError(
                f"column {h!r} has no unit; write e.g. {name}[kW] or {name}[kWh] (energy per interval)",
                source=source,
                key=f"line {line_no} column {name}",
            )
        try:
            unit = ureg.Unit(unit_text)
        except Exception as exc:  # noqa: BLE001 - pint raises assorted errors on garbage
            raise LoadDataError(
                f"unknown unit {unit_text!r}: {exc}", source=source, key=f"line {line_no} column {name}"
            ) from None
        if unit.dimensionality not in (ureg.kW.dimensionality, ureg.kWh.dimensionality):
            raise LoadDataError(
                f"{name} must be in a power unit (kW) or an energy unit per interval (kWh), got {unit_text!r}",
                source=source,
                key=f"line {line_no} column {name}",
            )
        cols[name] = (j, unit)
    if time_col < 0:
        raise LoadDataError(
            f"no timestamp column (one of {', '.join(TIME_NAMES)}); header is {line.strip()!r}",
            source=source,
            key=f"line {line_no}",
        )
    if "load" not in cols:
        raise LoadDataError(
            f"no load column (load[kW]); header is {line.strip()!r}", source=source, key=f"line {line_no}"
        )
    cols["time"] = (time_col, None)
    return len(names), cols


def _read_rows(path: Path) -> tuple[pl.DataFrame, np.ndarray, dict[str, tuple[int, pint.Unit | None]]]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LoadDataError("load file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadDataError(f"cannot read load file: {exc}", source=source) from None
    lines = text.splitlines()
    keep = [i for i, s in enumerate(lines) if s.strip() and not s.lstrip().startswith("#")]
    if not keep:
        raise LoadDataError("no header row (expected time,load[kW][,pv[kW]])", source=source)
    width, cols = _header(lines[keep[0]], source, keep[0] + 1)
    body = keep[1:]
    if not body:
        raise LoadDataError("no data rows", source=source)
    data = "\n".join(lines[i] for i in body)
    try:
        df = pl.read_csv(io.StringIO(data), has_header=False, infer_schema=False, truncate_ragged_lines=False)
    except Exception as exc:  # noqa: BLE001 - polars reports ragged rows and quoting problems with its own types
        raise LoadDataError(f"cannot parse as CSV: {exc}", source=source) from None
    if df.width != width:
        raise LoadDataError(f"rows have {df.width} columns, the header {width}", source=source)
    out = {name: df.to_series(j).str.strip_chars() for name, (j, _) in cols.items()}
    return pl.DataFrame(out), np.asarray(body, np.int64) + 1, cols


def _instants(times: pl.Series, timezone: str | None, source: str) -> tuple[np.ndarray, np.ndarray, bool, dict]:
    """UTC µs (int64, with a mask of unparseable/nonexistent rows), whether the file was zoned, DST notes."""
    parsed = times.str.to_datetime(time_unit="us", strict=False, cache=False)
    zoned = isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None
    notes: dict[str, Any] = {"folds": 0, "nonexistent": []}
    if zoned:
        if timezone is None:
            raise LoadDataError(
                "timestamps carry UTC offsets but the tariff names no timezone; set "
                "[tariff] timezone so time-of-use periods are placed in local time",
                source=source,
                key="time",
            )
        utc = parsed.dt.convert_time_zone("UTC").dt.epoch("us")
        return utc.to_numpy().astype(np.float64), utc.is_null().to_numpy(), True, notes
    naive = parsed
    if timezone is None:
        wall = naive.dt.epoch("us")
        return wall.to_numpy().astype(np.float64), wall.is_null().to_numpy(), False, notes
    early = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.epoch("us")
    late = naive.dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null").dt.epoch("us")
    frame = pl.DataFrame({"wall": naive, "early": early, "late": late})
    ambiguous = frame["early"].is_not_null() & (frame["early"] != frame["late"])
    occurrence = frame.select(pl.int_range(pl.len()).over("wall").alias("k"))["k"]
    use_late = ambiguous & (occurrence >= 1)
    utc = pl.when(use_late).then(frame["late"]).otherwise(frame["early"])
    utc = frame.select(utc.alias("u"))["u"]
    notes["folds"] = int(use_late.sum())
    bad_local = naive.is_not_null() & early.is_null()
    if bad_local.any():
        notes["nonexistent"] = np.flatnonzero(bad_local.to_numpy()).tolist()
    return utc.to_numpy().astype(np.float64), utc.is_null().to_numpy(), False, notes


def _values(col: pl.Series) -> np.ndarray:
    return col.cast(pl.Float64, strict=False).to_numpy().astype(np.float64)


def _locs(idx: np.ndarray, line: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    out = []
    for i in idx[:MAX_LOCATIONS]:
        d: dict[str, Any] = {"line": int(line[i])}
        for k, v in (extra or {}).items():
            d[k] = v[i].item() if hasattr(v[i], "item") else v[i]
        out.append(d)
    return out


def read_load(
    path: str | Path, *, timezone: str | None = None, max_gap: pint.Quantity = Q_(1, "h"), interval_ending: bool = False
) -> LoadSeries:
    """Read, check and regularise a load file; raises LoadDataError for what cannot be repaired."""
    p = Path(path)
    source = str(p)
    df, line, cols = _read_rows(p)
    n_rows = df.height
    findings: list[Finding] = []
    t, t_bad, zoned, notes = _instants(df["time"], timezone, source)
    raw = {name: _values(df[name]) for name in ("load", "pv") if name in cols}
    value_bad = np.zeros(n_rows, bool)
    for v in raw.values():
        value_bad |= ~np.isfinite(v)
    if notes["nonexistent"]:
        idx = np.asarray(notes["nonexistent"])
        findings.append(
            Finding(
                "nonexistent_local_time",
                "warning",
                int(idx.size),
                f"local times that do not exist in {timezone} (clocks moved forward)",
                "rows set aside",
                _locs(idx, line, {"time": df["time"].to_numpy()}),
            )
        )
    unparsed = t_bad & ~np.isin(np.arange(n_rows), notes["nonexistent"])
    if unparsed.any():
        idx = np.flatnonzero(unparsed)
        findings.append(
            Finding(
                "unparseable_timestamp",
                "warning",
                int(idx.size),
                "timestamp not ISO 8601 (e.g. 2025-01-31 13:45 or 2025-01-31T13:45+01:00)",
                "rows set aside",
                _locs(idx, line, {"time": df["time"].to_numpy()}),
            )
        )
    if value_bad.any():
        idx = np.flatnonzero(value_bad & ~t_bad)
        if idx.size:
            findings.append(
                Finding(
                    "missing_values",
                    "warning",
                    int(idx.size),
                    "empty, non-numeric or non-finite value",
                    "rows set aside (their intervals count as missing)",
                    _locs(idx, line, {c: df[c].to_numpy() for c in raw}),
                )
            )
    for name, v in raw.items():
        neg = np.flatnonzero(np.isfinite(v) & (v < 0))
        if neg.size:
            shown = ", ".join(f"line {line[i]}: {v[i]:g}" for i in neg[:5])
            hint = " (a site that exports gives its generation in a separate pv[kW] column)" if name == "load" else ""
            raise LoadDataError(f"negative {name} in {neg.size} row(s){hint}: {shown}", source=source, key=name)
    ok = ~(t_bad | value_bad)
    if not ok.any():
        raise LoadDataError(f"no usable rows among {n_rows}", source=source)
    idx = np.flatnonzero(ok)
    tu = t[idx].astype(np.int64)
    order = np.argsort(tu, kind="stable")
    if (np.diff(order) < 0).any():
        back = np.flatnonzero(np.diff(tu) < 0) + 1
        findings.append(
            Finding(
                "non_monotonic",
                "warning",
                int(back.size),
                "timestamps go backwards",
                "rows sorted by time (stable)",
                _locs(idx[back], line),
            )
        )
        idx, tu = idx[order], tu[order]
    dup = np.flatnonzero(np.diff(tu) == 0) + 1
    if dup.size:
        same = np.ones(dup.size, bool)
        for v in raw.values():
            same &= v[idx[dup]] == v[idx[dup - 1]]
        findings.append(
            Finding(
                "duplicate_timestamps",
                "warning",
                int(dup.size),
                f"{int(same.sum())} exact duplicate(s), {int((~same).sum())} with the same time but different values",
                "first row at each time kept",
                _locs(idx[dup], line),
            )
        )
        keep = np.ones(tu.size, bool)
        keep[dup] = False
        idx, tu = idx[keep], tu[keep]
    if tu.size < 2:
        raise LoadDataError("fewer than two usable rows: the interval length cannot be found", source=source)
    d = np.diff(tu)
    step_us = int(np.median(d))
    if step_us <= 0 or US_PER_H % step_us or step_us < 60_000_000:
        raise LoadDataError(
            f"the usual step is {step_us / 1e6:g} s; expected an interval that divides one hour "
            "(15 min, 30 min, 1 h, ...)",
            source=source,
            key="time",
        )
    off = np.flatnonzero(d % step_us != 0)
    if off.size:
        i = off[0]
        raise LoadDataError(
            f"{off.size} irregular step(s) (not a multiple of {step_us / 6e7:g} min), first between "
            f"line {line[idx[i]]} ({fmt_time(tu[i])}) and line {line[idx[i + 1]]} "
            f"({fmt_time(tu[i + 1])})",
            source=source,
            key="time",
        )
    missing = d // step_us - 1
    gaps = np.flatnonzero(missing > 0)
    limit = int(round(max_gap.to("s").magnitude * 1e6 / step_us))
    if gaps.size:
        long = gaps[missing[gaps] > limit]
        locs = [
            {"after_line": int(line[idx[i]]), "from": fmt_time(tu[i] + step_us), "missing_intervals": int(missing[i])}
            for i in (long if long.size else gaps)[:MAX_LOCATIONS]
        ]
        if long.size:
            raise LoadDataError(
                f"missing intervals: {long.size} gap(s) longer than {max_gap:~P} ({int(missing[long].sum())} intervals "
                f"in all); first after line {locs[0]['after_line']}, from {locs[0]['from']} "
                f"({locs[0]['missing_intervals']} intervals missing). Give the data or raise --max-gap.",
                source=source,
                key="time",
            )
        findings.append(
            Finding(
                "gaps_filled",
                "warning",
                int(gaps.size),
                f"{int(missing[gaps].sum())} missing interval(s) in {gaps.size} gap(s) of at most {max_gap:~P}",
                "filled by linear interpolation between the neighbours",
                locs,
            )
        )
    full = np.arange(tu[0], tu[-1] + step_us, step_us, dtype=np.int64)
    step_h = step_us / US_PER_H
    series: dict[str, np.ndarray] = {}
    for name, v in raw.items():
        unit = cols[name][1]
        vals = v[idx]
        if unit is not None and unit.dimensionality == ureg.kWh.dimensionality:
            vals = vals * float(Q_(1.0, unit).to("kWh").magnitude) / step_h
        else:
            vals = vals * float(Q_(1.0, unit).to("kW").magnitude)
        big = np.flatnonzero(vals > MAX_POWER_KW)
        if big.size:
            raise LoadDataError(
                f"{name} {vals[big[0]]:g} kW at line {line[idx[big[0]]]} is beyond any site (check the unit)",
                source=source,
                key=name,
            )
        series[name] = np.interp(full, tu, vals) if gaps.size else vals
    if interval_ending:
        full = full - step_us
    if zoned or timezone:
        local = pl.Series(full).cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(timezone or "UTC")
        local_us = local.dt.replace_time_zone(None).dt.epoch("us").to_numpy()
    else:
        local_us = full
    if notes["folds"]:
        findings.append(
            Finding(
                "dst_repeated_hour",
                "info",
                notes["folds"],
                f"wall-clock times repeated when DST ended in {timezone}",
                "second occurrence read as the later instant (file order)",
                [],
            )
        )
    quality = LoadQuality(
        rows=n_rows,
        rows_used=int(idx.size),
        step_s=step_us / 1e6,
        first=fmt_time(local_us[0]),
        last=fmt_time(local_us[-1]),
        intervals=int(full.size),
        filled=int(missing[gaps].sum()) if gaps.size else 0,
        findings=findings,
    )
    if not math.isfinite(float(series["load"].sum())):
        raise LoadDataError("load is not finite after filling", source=source)
    return LoadSeries(
        source=source,
        t_us=full,
        local_us=np.asarray(local_us, np.int64),
        step_s=step_us / 1e6,
        load_kw=series["load"],
        pv_kw=series.get("pv"),
        timezone=timezone,
        quality=quality,
    )


def load_from_arrays(
    load_kw: np.ndarray,
    *,
    step: pint.Quantity = Q_(15, "min"),
    start: str = "2025-01-01T00:00",
    pv_kw: np.ndarray | None = None,
    source: str = "<arrays>",
) -> LoadSeries:
    """A load series from arrays (tests, sweeps, the benchmark): wall clock from `start`, no time zone."""
    step_s = float(step.to("s").magnitude)
    n = len(load_kw)
    t0 = int(np.datetime64(start, "us").astype(np.int64))
    t = t0 + np.arange(n, dtype=np.int64) * int(step_s * 1e6)
    load = np.asarray(load_kw, float)
    if (load < 0).any() or not np.isfinite(load).all():
        raise LoadDataError("load must be finite and non-negative", source=source, key="load")
    q = LoadQuality(
        rows=n, rows_used=n, step_s=step_s, first=fmt_time(t[0]), last=fmt_time(t[-1]), intervals=n, filled=0
    )
    return LoadSeries(source, t, t.copy(), step_s, load, None if pv_kw is None else np.asarray(pv_kw, float), None, q)
