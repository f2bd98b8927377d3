"""`bench report RUN_ID`: (re)render a run's report from the journal, aborted runs included.

`--amends OLD_REPORT_ID --reason TEXT` issues an amended report (ISO/IEC 17025 §7.8.8): the
amendment is journalled first, so the record says which report it replaces and why, and a
signed original is never written over; the amendment then goes to RUN_DIR-amend-N.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.commands.runs import open_journal
from bench.errors import BenchError
from bench.journal import Journal

SIGNATURES_DIR = "signatures"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="render a run's report folder from the journal",
        description="Render record.json, report.html and report.pdf for a run from the journal. A run "
        "that crashed or was killed renders as ABORTED. A signed folder is never "
        "overwritten.",
    )
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    p.add_argument("--report-dir", default="reports", help="folder holding journal.sqlite (default: reports)")
    p.add_argument("--out", help="output folder (default: REPORT_DIR/RUN_ID)")
    p.add_argument("--amends", metavar="OLD_REPORT_ID", help="issue an amended report replacing this report id")
    p.add_argument("--reason", help="why the report is amended (required with --amends)")
    p.add_argument("--no-pdf", action="store_true", help="skip report.pdf (HTML and JSON only)")
    p.add_argument(
        "--pdf-timeout",
        type=float,
        metavar="SECONDS",
        default=None,
        help="time budget for laying out report.pdf (default 300); when spent the PDF is "
        "skipped and the failure journalled, HTML and record.json are kept",
    )
    p.add_argument(
        "--csv",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also write attachments/telemetry.csv with every sample (default: the run's [telemetry] csv "
        "setting, off without it); the Parquet files of a capture are always attached",
    )
    p.set_defaults(func=report)


def _signed(path: Path) -> bool:
    return os.path.lexists(path / SIGNATURES_DIR)


def amendment_dir(base: Path, number: int) -> Path:
    """RUN_DIR-amend-N: the first such folder from `number` on that is not signed."""
    n = max(number, 1)
    while _signed(base.with_name(f"{base.name}-amend-{n}")):
        n += 1
    return base.with_name(f"{base.name}-amend-{n}")


def record_amendment(journal: Journal, run_id: str, amends: str, reason: str) -> str:
    """Journal the amendment (runs.amends + an `amendment` event); returns the new report id."""
    from bench.report.record import report_id

    number = sum(1 for e in journal.events(run_id) if e["kind"] == "amendment") + 1
    new_id = report_id(run_id, number)
    journal.update_run(run_id, amends=amends)
    journal.add_event(
        run_id,
        "amendment",
        f"report {new_id} replaces {amends}: {reason}",
        data={"amends": amends, "reason": reason, "report_id": new_id},
    )
    return new_id


def report(args: argparse.Namespace) -> int:
    from bench.report.render import render_report

    if args.amends and not (args.reason or "").strip():
        raise BenchError("--amends needs --reason TEXT: an amended report states why it replaces the original")
    if args.reason and not args.amends:
        raise BenchError("--reason is only used with --amends OLD_REPORT_ID")
    journal = open_journal(args.report_dir)
    try:
        run = journal.run(args.run_id)
    except KeyError as exc:
        raise BenchError(str(exc.args[0])) from None
    run_id = run["run_id"]
    if run["status"] == "ABORTED":  # persist what was inferred (a dead process), so the record says so
        journal.mark_aborted(run_id, run["reason"] or "aborted")
    out = Path(args.out) if args.out else Path(args.report_dir) / run_id
    note = ""
    if args.amends:
        if _signed(out):
            number = sum(1 for e in journal.events(run_id) if e["kind"] == "amendment") + 1
            signed, out = out, amendment_dir(out, number)
            note = f"{signed} is signed and kept unchanged; the amended report goes to {out}"
        new_id = record_amendment(journal, run_id, args.amends, args.reason.strip())
        print(f"amendment recorded: {new_id} replaces {args.amends} ({args.reason.strip()})")
    elif _signed(out):
        raise BenchError(
            f"{out} is signed ({SIGNATURES_DIR}/ present) and is not overwritten; pass --out DIR for "
            "a copy, or --amends OLD_REPORT_ID --reason TEXT to issue an amended report"
        )
    if note:
        print(note)
    if args.pdf_timeout is not None and not args.pdf_timeout > 0:
        raise BenchError(f"--pdf-timeout: expected a positive number of seconds, got {args.pdf_timeout}")
    result = render_report(journal, run_id, out, pdf=not args.no_pdf, pdf_timeout_s=args.pdf_timeout, csv=args.csv)
    print(f"{run_id}: {run['status']} {run['verdict']}\nreport {result.report_id}: {result.html}")
    if result.pdf is not None:
        print(f"pdf: {result.pdf} ({result.pdf_pages} pages)")
    elif args.no_pdf:
        print("pdf: skipped (--no-pdf)")
    else:
        print(
            f"pdf: NOT rendered — {result.pdf_error}; report.html and record.json are complete "
            "(the failure is journalled)",
            file=sys.stderr,
        )
    return 0
