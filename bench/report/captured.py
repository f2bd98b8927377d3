"""The report's view of high-rate capture: record section, plots from summaries, files, CSV.

Everything comes from the journal (capture events, anomaly events, file records with SHA-256) and
the Parquet files it lists, read through the summaries so the cost follows the plot width, not
the run length. A live segment left by a killed run is converted first (bench.telemetry.store
.recover), so the report and its manifest cover every chunk that reached the disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from bench.journal import Journal
from bench.plotting import Marker, Trace
from bench.report.figures import Plot, checks_by_series, trace_plot
from bench.telemetry.layout import DATA_DIR
from bench.telemetry.reader import StoreReader
from bench.telemetry.store import recover

PLOT_BUCKETS = 900
PACK_SIGNALS = ("BatteryVoltage", "Current")  # foxBMS pack values plotted on their own
FAMILY_TITLES = {"cell_voltage": "cell voltages", "cell_temperature": "cell temperatures"}
ALARM_SIGNALS = ("GeneralError",)  # foxBMS 0x220: any latched error; marked on the cell plots
FLAG_COLORS = ("#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#2e7d32")


def prepare(journal: Journal, run_id: str, run_dir: Path) -> tuple[StoreReader | None, list[str], list[str]]:
    """(reader, notes, integrity problems) of the run's store, after converting any live segment a killed
    run left. Files missing or not matching their journalled SHA-256 are reported and not read."""
    notes: list[str] = []
    if not journal.chunks(run_id, kind="segment") and not (run_dir / "telemetry-wal").exists():
        return None, notes, []
    for rec in recover(run_dir, journal, run_id, on_error=lambda msg, data: notes.append(msg)):
        if rec["kind"] == "segment":
            notes.append(f"converted {rec['file']} ({rec['rows']} rows) left by an interrupted run")
    reader = StoreReader(journal, run_id, run_dir)
    problems = reader.verify()
    if problems:
        bad = {p.split(":", 1)[0] for p in problems}
        reader.parts = [
            p
            for p in reader.parts
            if p.rel not in bad and (p.summary is None or p.summary.relative_to(reader.run_dir).as_posix() not in bad)
        ]
    return (reader if reader.parts else None), notes, problems


def _capture_event(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    for e in events:
        if e["kind"] == "telemetry" and "can_roles" in (e.get("data") or {}):
            return e["data"]
    return None


def _num(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def section(
    journal: Journal,
    run_id: str,
    reader: StoreReader | None,
    notes: list[str],
    events: list[dict[str, Any]],
    problems: list[str] | None = None,
) -> dict[str, Any] | None:
    """The record's `telemetry` section (None for a run without high-rate capture)."""
    capture = _capture_event(events)
    if reader is None and capture is None:
        return None
    records = journal.chunks(run_id, kind="segment") + journal.chunks(run_id, kind="summary")
    records.sort(key=lambda r: r["id"])
    files = [
        {
            "path": r["file"],
            "kind": r["kind"],
            "group": r["grp"],
            "step": r["step"],
            "rows": r["rows"],
            "samples": r["samples"],
            "t_first": _num(r["t_first"]),
            "t_last": _num(r["t_last"]),
            "sha256": r["sha256"],
            "size": r["size"],
        }
        for r in records
    ]
    with journal.reader() as db:  # a long run has hundreds of thousands of chunk records: count them in SQL
        count, rows, samples, t_first, t_last = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(rows), 0), COALESCE(SUM(samples), 0), MIN(t_first), MAX(t_last) "
            "FROM telemetry_chunks WHERE run_id = ? AND kind = 'chunk'",
            (run_id,),
        ).fetchone()
        chunk_files = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT file FROM telemetry_chunks WHERE run_id = ? AND kind = 'chunk' ORDER BY file",
                (run_id,),
            )
        ]
    channels = []
    for ch in reader.channels() if reader is not None else []:
        tot = reader.totals(ch.name)
        channels.append(
            {
                "name": ch.name,
                "group": ch.group,
                "unit": ch.unit,
                "family": ch.family or None,
                "index": ch.index,
                "samples": int(tot["count"]),
                **{k: _num(tot.get(k)) for k in ("min", "max", "mean", "t_first", "t_last")},
            }
        )
    anomalies = [
        {
            "t": _num(e["t"]),
            "step": e["step"],
            "message": e["message"],
            **{k: e["data"].get(k) for k in ("detector", "family", "cell", "channel", "t_onset")},
        }
        for e in events
        if e["kind"] == "anomaly"
    ]
    if problems is None:
        problems = reader.verify() if reader is not None else []
    segments = {f["path"] for f in files if f["kind"] == "segment"}
    problems = problems + [
        f"{f}: chunks journalled but no Parquet file (the live file was lost)" for f in chunk_files if f not in segments
    ]
    return {
        "store": DATA_DIR,
        "capture": capture,
        "files": files,
        "chunks": {
            "count": int(count),
            "rows": int(rows),
            "samples": int(samples),
            "t_first": _num(t_first),
            "t_last": _num(t_last),
        },
        "channels": channels,
        "anomalies": anomalies,
        "integrity": problems,
        "notes": notes,
    }


def copy_files(run_dir: Path, out: Path, sec: dict[str, Any] | None) -> None:
    """Put the store's files into a report folder other than the run folder (`bench report --out`);
    nothing is written through a link planted in that folder (bench.signing.files)."""
    from bench.signing.files import replace_with

    if sec is None or run_dir.resolve() == out.resolve():
        return
    for f in sec["files"]:
        src = run_dir / f["path"]
        if src.is_file() and not src.is_symlink():
            replace_with(out, f["path"], lambda tmp, src=src: shutil.copyfile(src, tmp))


def plots(
    reader: StoreReader | None,
    sec: dict[str, Any] | None,
    measurements: list[dict[str, Any]],
    steps: list[dict[str, Any]],
) -> list[Plot]:
    """Cell families as a band across cells (flagged cells drawn on their own), pack values, polled
    channels and every channel an aggregate check names; all from the summaries."""
    if reader is None or sec is None:
        return []
    span = reader.span()
    if span is None:
        return []
    t0, t1 = span
    step_times = sorted({float(s["started_t"]) for s in steps if s.get("started_t") is not None})
    checks = checks_by_series(measurements)
    flagged: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in sec["anomalies"]:
        if a.get("channel"):
            flagged.setdefault((a["family"], a["channel"]), []).append(a)
    alarm_markers = []
    for ch in reader.channels():
        if ch.column in ALARM_SIGNALS:
            t = reader.first_reaching(ch.name, 1.0)
            if t is not None:
                alarm_markers.append(Marker(t, f"BMS {ch.column} ({ch.name.split('.')[0]})", "#000"))
    out: list[Plot] = []
    families: dict[tuple[str, str], list[Any]] = {}
    singles = []
    for ch in reader.channels():
        if ch.family in FAMILY_TITLES:
            families.setdefault((ch.group, ch.family), []).append(ch)
        if ch.column in PACK_SIGNALS or ch.group == "poll" or ch.name in checks:
            singles.append(ch)
    for (group, family), chans in families.items():
        chans.sort(key=lambda c: (c.index is None, c.index))
        env = reader.envelopes([c.name for c in chans], PLOT_BUCKETS, t0, t1)
        bins = np.unique(np.concatenate([e.t for e in env.values()])) if env else np.empty(0)
        lo = np.full(bins.size, np.inf)
        hi = np.full(bins.size, -np.inf)
        msum, mn = np.zeros(bins.size), np.zeros(bins.size)
        for e in env.values():
            k = np.searchsorted(bins, e.t)
            np.minimum.at(lo, k, e.lo)
            np.maximum.at(hi, k, e.hi)
            np.add.at(msum, k, e.mean)
            np.add.at(mn, k, 1)
        unit = chans[0].unit
        traces = [
            Trace(bins, lo, hi, kind="band", label=f"range across {len(chans)} cells", color="#1f5fa8"),
            Trace(bins, msum / np.maximum(mn, 1), label="mean of the cells", color="#1f5fa8", width=1.0),
        ]
        markers = list(alarm_markers)
        names = []
        for k, c in enumerate(ch for ch in chans if (family, ch.name) in flagged):
            e = env[c.name]
            color = FLAG_COLORS[k % len(FLAG_COLORS)]
            traces.append(Trace(e.t, e.lo, e.hi, kind="envelope", label=f"cell {c.index} (flagged)", color=color))
            names.append(f"cell {c.index}")
            for a in flagged[(family, c.name)]:
                if a["t"] is not None:
                    markers.append(Marker(a["t"], f"{a['detector']} cell {c.index}", color))
        samples = sum(e.samples for e in env.values())
        role = group.split(".")[0]
        level = next((e.level_s for e in env.values() if e.level_s), None)
        title = (
            f"{role} {FAMILY_TITLES[family]} ({len(chans)} cells) [{unit}]: range and mean across cells"
            + (f", {level:g} s summaries" if level else ", every sample")
            + (f"; flagged: {', '.join(names)}" if names else "; no cell flagged")
        )
        out.append(
            trace_plot(
                f"{role} {FAMILY_TITLES[family]}",
                unit,
                traces,
                step_times=step_times,
                markers=markers,
                span=(t0, t1),
                title=title,
                samples=samples,
            )
        )
    for ch in singles:
        e = reader.envelope(ch.name, PLOT_BUCKETS, t0, t1)
        plot = trace_plot(
            ch.name,
            ch.unit,
            [Trace(e.t, e.lo, e.hi, kind="envelope")],
            checks=checks.get(ch.name, []),
            step_times=step_times,
            span=(t0, t1),
            samples=e.samples,
            title=f"{ch.name} [{ch.unit}] (captured"
            + (f", {e.level_s:g} s summaries)" if e.level_s else ", every sample)"),
        )
        out.append(plot)
    return out


def write_csv(reader: StoreReader | None, path: Path) -> int:
    """Every captured sample appended to the report CSV (series, unit, step, t_s, value); returns rows."""
    import polars as pl

    if reader is None:
        return 0
    rows = 0
    with open(path, "ab") as f:
        for p in reader.parts:
            meta_channels = [c for c in reader.channels() if c.group == p.group]
            table = p.table([c.column for c in meta_channels])
            t = table.column(0).to_numpy() / 1e6
            for c in meta_channels:
                col = table.column(c.column)
                valid = col.is_valid().to_numpy(zero_copy_only=False)
                if not valid.any():
                    continue
                raw = col.fill_null(0).to_numpy(zero_copy_only=False)[valid]
                frame = pl.DataFrame(
                    {
                        "series": pl.repeat(c.name, int(valid.sum()), eager=True, dtype=pl.String),
                        "unit": pl.repeat(c.unit, int(valid.sum()), eager=True, dtype=pl.String),
                        "step": pl.repeat(p.step or "", int(valid.sum()), eager=True, dtype=pl.String),
                        "t_s": t[valid],
                        "value": c.physical(raw),
                    }
                )
                frame.write_csv(f, include_header=False, line_terminator="\n")
                rows += frame.height
    return rows
