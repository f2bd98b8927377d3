"""Render a run's report folder from the journal: record.json, report.html, attachments.

The folder is what gets hashed into the manifest and signed, so every artifact is written
deterministically from the journal.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import jinja2

from bench.journal import Journal
from bench.report.record import build_record

_env = jinja2.Environment(loader=jinja2.PackageLoader("bench.report", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.ChainableUndefined)


def canonical_json(obj: Any) -> bytes:
    try:
        from bench.signing.manifest import canonical_json as cj

        return cj(obj)
    except ImportError:  # pragma: no cover
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def limit_text(limit: dict[str, Any] | None) -> str:
    if not limit:
        return "no limit"
    lo, hi, unit = limit.get("low"), limit.get("high"), limit.get("unit", "")
    if lo is not None and hi is not None:
        text = f"{lo:g} … {hi:g} {unit}"
    elif lo is not None:
        text = f"≥ {lo:g} {unit}"
    elif hi is not None:
        text = f"≤ {hi:g} {unit}"
    else:
        text = "graded"
    grades = limit.get("grades") or []
    if grades:
        text += "; grades " + ", ".join(g["grade"] for g in grades)
    return text


def render_run(journal: Journal, run_id: str, out_dir: str | Path, *, signatures: list[dict[str, Any]] | None = None
               ) -> Path:
    """Write the report folder; returns the path of report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = build_record(journal, run_id)
    (out / "record.json").write_bytes(canonical_json(record))
    _write_attachments(journal, run_id, out)
    step_names = {s["nodeid"]: s["name"] for s in record["steps"]}
    view = dict(record)
    view["measurements"] = [{**m, "limit_text": limit_text(m["limit"]), "step_name": step_names.get(m["step"], "")}
                            for m in record["measurements"]]
    html = _env.get_template("report.html.j2").render(r=view, plots=[], signatures=signatures or [])
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _write_attachments(journal: Journal, run_id: str, out: Path) -> None:
    att = out / "attachments"
    att.mkdir(exist_ok=True)
    with journal.iter_series(run_id) as cur, (att / "telemetry.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["series", "unit", "step", "t_s", "value"])
        for name, unit, step, t, value in cur:
            w.writerow([name, unit, step or "", repr(t), repr(value)])
    for a in journal.attachments(run_id):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in a["name"])
        # Limit sets are stored as the exact bytes in force at run start, so their hash matches the record.
        folder = out / "limits" if a["kind"] == "limit-set" else att
        folder.mkdir(exist_ok=True)
        (folder / safe).write_bytes(a["content"])
