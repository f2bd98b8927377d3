"""`bench report RUN_ID`: (re)render a run's report from the journal, aborted runs included."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.runs import open_journal
from bench.errors import BenchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render a run's report folder from the journal",
                       description="Render record.json, report.html (and PDF) for a run from the journal. A run "
                                   "that crashed or was killed renders as ABORTED.")
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    p.add_argument("--report-dir", default="reports", help="folder holding journal.sqlite (default: reports)")
    p.add_argument("--out", help="output folder (default: REPORT_DIR/RUN_ID)")
    p.set_defaults(func=report)


def report(args: argparse.Namespace) -> int:
    from bench.report.render import render_run

    journal = open_journal(args.report_dir)
    try:
        run = journal.run(args.run_id)
    except KeyError as exc:
        raise BenchError(str(exc.args[0])) from None
    if run["status"] == "ABORTED":  # persist what was inferred (a dead process), so the record says so
        journal.mark_aborted(run["run_id"], run["reason"] or "aborted")
    out = Path(args.out) if args.out else Path(args.report_dir) / run["run_id"]
    path = render_run(journal, run["run_id"], out)
    print(f"{run['run_id']}: {run['status']} {run['verdict']}\nreport: {path}")
    return 0
