"""`bench ui`: the operator page for the runs in a journal (live runs, prompts, abort, reports)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import BenchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ui",
        help="serve the operator page (runs, live run, prompts, abort) on 127.0.0.1",
        description="Serve a local web page built on the run journal: the run list with reports and "
        "signature status, any run live (steps, measurements, plots, interlocks, safe "
        "state), prompts answered in the page and an abort that takes the safe-state path.",
    )
    p.add_argument(
        "--report-dir", default="reports", help="folder holding journal.sqlite and the run reports (default: reports)"
    )
    p.add_argument("--journal", help="journal file, when it is not REPORT_DIR/journal.sqlite")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any other address "
        "requires the token printed at start for every request",
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--trust", help="trust file for the signature status of signed runs (bench verify --trust)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.ui.server import UiServer

    report_dir = Path(args.report_dir)
    journal = Path(args.journal) if args.journal else report_dir / "journal.sqlite"
    if not journal.exists():
        raise BenchError(f"no journal at {journal} (run a plan first, or pass --report-dir / --journal)")
    if not 0 <= args.port <= 65535:
        raise BenchError(f"--port {args.port}: expected 0..65535")
    trust = Path(args.trust) if args.trust else None
    if trust is not None and not trust.is_file():
        raise BenchError(f"--trust {trust}: no such file")
    UiServer(journal, host=args.host, port=args.port, report_dir=report_dir, trust=trust).run()
    return 0
