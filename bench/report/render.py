"""Render a run's report folder from the journal: record.json, report.html, report.pdf, attachments.

The folder is what gets hashed into the manifest and signed, so every artifact is written
deterministically from the journal (no render time, no host names beyond what the journal
holds), and a folder that already carries signatures is never written over.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from bench.errors import BenchError
from bench.journal import Journal
from bench.report import captured
from bench.report.figures import build_plots
from bench.report.record import build_record, safe_name, validate_record
from bench.report.series import load_series, write_telemetry_csv
from bench.signing.errors import SigningError
from bench.signing.files import remove_in, replace_in, replace_with
from bench.signing.manifest import canonical_json

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("bench.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["clip"] = lambda text: clip(text)
SIGNATURES_DIR = "signatures"


class SignedReportError(BenchError):
    """The output folder is signed: writing into it would silently break the signatures."""


def num(value: Any, spec: str = ".6g") -> str:
    """Numbers as the report shows them; missing values as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format(value, spec)
    return str(value)


def step_table(rows: list[dict[str, str]]) -> str:
    """One step's measurements (name, value, limit, verdict as text) as an HTML table, from a template:
    the extra `bench run --html` adds to each step of the engineers' pytest-html report."""
    return _env.get_template("step_table.html.j2").render(rows=rows)


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
    if limit.get("marginal") is not None:
        text += f" (marginal band {limit['marginal']:g} {unit})"
    grades = limit.get("grades") or []
    if grades:
        text += "; grades " + ", ".join(str(g["grade"]) for g in grades)
    return text


def flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested passport data as dotted key/value rows."""
    if isinstance(data, dict):
        rows: list[tuple[str, str]] = []
        for key in sorted(data, key=str):
            rows.extend(flatten(data[key], f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(data, list) and any(isinstance(x, dict | list) for x in data):
        return [row for i, x in enumerate(data) for row in flatten(x, f"{prefix}[{i}]")]
    if isinstance(data, list):
        return [(prefix, ", ".join(str(x) for x in data))]
    return [(prefix, "—" if data is None else str(data))]


CLIP_CHARS = 256


def clip(text: Any, limit: int = CLIP_CHARS) -> str:
    """A value the page can lay out: a longer one is cut, saying so (record.json keeps it whole).

    A single unbroken token of tens of thousands of characters (a pasted log as a DUT serial)
    otherwise costs WeasyPrint minutes of line breaking and the page says nothing useful anyway.
    """
    value = str(text)
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… [cut: {len(value):,} characters in all; the full value is in record.json]"


def css_string(text: str) -> str:
    """Text safe inside a CSS string in the @page rules."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3C ")


@dataclass
class RenderResult:
    out_dir: Path
    html: Path
    report_id: str
    pdf: Path | None = None
    pdf_pages: int | None = None
    pdf_error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    samples: int = 0


def render_run(
    journal: Journal,
    run_id: str,
    out_dir: str | Path,
    *,
    signatures: list[dict[str, Any]] | None = None,
    pdf: bool = True,
) -> Path:
    """Write the report folder; returns the path of report.html (see render_report for details)."""
    return render_report(journal, run_id, out_dir, signatures=signatures, pdf=pdf).html


def render_report(
    journal: Journal,
    run_id: str,
    out_dir: str | Path,
    *,
    signatures: list[dict[str, Any]] | None = None,
    pdf: bool = True,
    pdf_timeout_s: float | None = None,
    csv: bool | None = None,
) -> RenderResult:
    """Write record.json, attachments, report.html and report.pdf; a PDF failure is journalled, not fatal.

    Nothing in the folder is written through a link (a planted `report.html -> elsewhere` is
    refused, see bench.signing.files). The PDF is laid out in a child process given at most
    `pdf_timeout_s` seconds (default DEFAULT_PDF_TIMEOUT_S); a failure or timeout journals a
    `report_failed` event with the reason and leaves the HTML and record.json in place.
    `csv`: also write attachments/telemetry.csv with every sample (plan series and captured channels);
    None follows the run's `[telemetry] csv` setting (off when the run had no capture).
    """
    out = Path(out_dir)
    if os.path.lexists(out / SIGNATURES_DIR):
        raise SignedReportError(
            f"{out} is signed ({SIGNATURES_DIR}/ present); render into another folder "
            "(an amendment goes to RUN_DIR-amend-N)"
        )
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    run_id = journal.run(run_id)["run_id"]
    series = load_series(journal, run_id)
    run_dir = journal.path.parent / run_id  # where the capture wrote its files
    reader, notes, problems = captured.prepare(journal, run_id, run_dir)
    lap("read")
    telemetry = captured.section(journal, run_id, reader, notes, journal.events(run_id), problems)
    record = build_record(journal, run_id, series, telemetry=telemetry)
    validate_record(record)
    record_bytes = canonical_json(record)
    replace_in(out, "record.json", record_bytes)
    lap("record")
    captured.copy_files(run_dir, out, telemetry)
    if csv is None:
        csv = bool(((telemetry or {}).get("capture") or {}).get("csv"))
    samples = _write_attachments(journal, run_id, out, series, reader if csv else None, csv)
    lap("csv")
    step_names = {s["nodeid"]: s["name"] for s in record["steps"]}
    plots = build_plots(series, record["measurements"], step_names)
    plots += captured.plots(reader, telemetry, record["measurements"], record["steps"])
    lap("decimate_plot")
    html = _html(record, plots, signatures or [], step_names, _figures(journal, run_id), _tables(journal, run_id), csv)
    html_path = replace_in(out, "report.html", html.encode("utf-8"))
    lap("html")
    result = RenderResult(out_dir=out, html=html_path, report_id=record["report_id"], timings=timings, samples=samples)
    pdf_path = out / "report.pdf"
    remove_in(out, "report.pdf")  # never leave a PDF that disagrees with the HTML
    if pdf:
        from bench.report.archive import evidence_files, run_time
        from bench.report.pdf import DEFAULT_PDF_TIMEOUT_S, PdfUnavailable, write_pdf

        try:
            result.pdf_pages = write_pdf(
                html,
                pdf_path,
                embedded=evidence_files(journal, run_id, record, record_bytes),
                when=run_time(record),
                timeout_s=pdf_timeout_s or DEFAULT_PDF_TIMEOUT_S,
            )
            result.pdf = pdf_path
        except (PdfUnavailable, SigningError) as exc:
            result.pdf_error = str(exc)
            journal.add_event(
                run_id,
                "report_failed",
                f"report.pdf not rendered: {exc}",
                data={"artifact": "report.pdf", "error": str(exc), "report_id": record["report_id"]},
            )
            print(
                f"warning: {record['report_id']}: report.pdf not rendered: {exc} (HTML and JSON are complete)",
                file=sys.stderr,
            )
        lap("pdf")
    return result


def _html(
    record: dict[str, Any],
    plots: list[Any],
    signatures: list[dict[str, Any]],
    step_names: dict[str, str],
    figures: list[dict[str, str]] | None = None,
    tables: list[dict[str, Any]] | None = None,
    csv: bool = False,
) -> str:
    by_id = {m["id"]: m for m in record["measurements"]}
    view = dict(record)
    view["measurements"] = [
        {**m, "limit_text": limit_text(m["limit"]), "step_name": step_names.get(m["step"], "")}
        for m in record["measurements"]
    ]
    counts: dict[str, int] = {}
    for m in record["measurements"]:
        if not m["superseded"]:
            counts[m["verdict"]] = counts.get(m["verdict"], 0) + 1
    conditions = record["conditions"]
    cond_series = [s for s in record["series"] if s["name"] in conditions["series"]]
    return _env.get_template("report.html.j2").render(
        r=view,
        plots=plots,
        figures=figures or [],
        csv=csv,
        tables=tables or [],
        signatures=signatures,
        step_names=step_names,
        counts=sorted(counts.items()),
        passports=[{**p, "rows": flatten(p["data"])} for p in record["passports"]],
        cond_measurements=[by_id[i] for i in conditions["measurements"]],
        cond_series=cond_series,
        css_id=css_string(record["report_id"]),
        num=num,
        limit_text=limit_text,
        compact=lambda d: json.dumps(d, sort_keys=True, ensure_ascii=False, default=str) if d else "",
    )


def _write_attachments(journal: Journal, run_id: str, out: Path, series: list[Any], reader: Any, csv: bool) -> int:
    """Plan attachments and limit sets, and attachments/telemetry.csv when asked for; never through a link."""
    rows = 0
    if csv:

        def write(path: Path) -> int:
            return write_telemetry_csv(series, path) + captured.write_csv(reader, path)

        rows = replace_with(out, "attachments/telemetry.csv", write)
    else:
        remove_in(out, "attachments/telemetry.csv")  # never leave a CSV from an earlier render
    for a in journal.attachments(run_id):
        # Limit sets are stored as the exact bytes in force at run start, so their hash matches the record.
        folder = "limits" if a["kind"] == "limit-set" else "attachments"
        replace_in(out, f"{folder}/{safe_name(a['name'])}", bytes(a["content"]))
    return rows


MAX_TABLE_ROWS = 200


def _tables(journal: Journal, run_id: str) -> list[dict[str, Any]]:
    """CSV tables a plan attached (RTE table, alarm matrix, configuration comparison), shown in the
    report; at most MAX_TABLE_ROWS rows each (the file itself is in attachments/ and the manifest)."""
    import csv
    import io

    out = []
    for a in journal.attachments(run_id):
        if a["kind"] != "text/csv":
            continue
        text = bytes(a["content"]).decode("utf-8", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            continue
        out.append(
            {
                "title": a["name"],
                "step": a["step"],
                "header": rows[0],
                "rows": rows[1 : MAX_TABLE_ROWS + 1],
                "more": max(0, len(rows) - 1 - MAX_TABLE_ROWS),
            }
        )
    return out


def _figures(journal: Journal, run_id: str) -> list[dict[str, str]]:
    """SVG figures a plan attached (capacity curve, pulse test), shown inline under Time series.

    Only plain SVG is inlined: anything carrying script or external references stays an attachment.
    """
    out = []
    for a in journal.attachments(run_id):
        if a["kind"] != "image/svg+xml":
            continue
        text = bytes(a["content"]).decode("utf-8", errors="replace")
        lowered = text.lower()
        if not lowered.lstrip().startswith("<svg") or "<script" in lowered or 'href="http' in lowered:
            continue
        out.append({"title": a["name"], "svg": text})
    return out
