"""`bench run PLAN`: run a test plan with pytest, with the bench's options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a test plan (wraps pytest)",
        description="Run a test plan on a station. Options not listed here are passed to pytest after a '--'.",
    )
    p.add_argument("plan", help="plan directory or file, e.g. test_plans/smoke")
    p.add_argument("--station", help="station file (default: the plan's plan.toml)")
    p.add_argument("--limits", action="append", default=[], help="limit set file (repeatable)")
    p.add_argument("--dut", default="", help="DUT serial number")
    p.add_argument("--operator", default="", help="operator name")
    p.add_argument("--report-dir", default="reports", help="journal and report folder (default: reports)")
    p.add_argument("--answers", help="TOML file with prepared operator answers")
    p.add_argument("--html", help="also write a pytest-html report for engineers to this file")
    p.add_argument("--dut-info", help="JSON file of DUT identity/history (imported passport) for this run")
    p.add_argument("--batch-id", help="batch id recorded with the run (set for you by --dut-list)")
    p.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted run (laptop slept, power lost, Ctrl-C): steps it completed are "
        "kept, the step it was cut in reruns from its start; same plan, station, limit sets, DUT",
    )
    p.add_argument(
        "--dut-list",
        help="CSV of modules (serial[, chemistry, limits, station, dut_info, simulation, "
        "sim_profile, sim_seed, sim_faults]): run the plan once per module, each in its own "
        "pytest process, then write a batch summary (see bench/batch.py)",
    )
    p.add_argument("--jobs", type=int, default=1, help="with --dut-list: modules run at the same time (default 1)")
    p.add_argument(
        "--module-timeout",
        type=float,
        default=None,
        help="with --dut-list: wall-clock seconds before one module's process is stopped",
    )
    p.add_argument(
        "--live",
        default="auto",
        choices=("auto", "tty", "plain", "off"),
        help="terminal view: a live panel on a terminal, one plain line per step and result otherwise "
        "(auto, the default), or pytest's dots (off)",
    )
    p.add_argument(
        "--prompt-wait",
        metavar="DURATION",
        help="how long a prompt without a prepared answer waits for the terminal or bench ui, e.g. "
        '"30 min" (default: not at all in simulation, 12 h on hardware; 1 h in simulation with --ui)',
    )
    p.add_argument("--ui", action="store_true", help="also serve the operator page (bench ui) while the plan runs")
    p.add_argument(
        "--ui-host",
        default="127.0.0.1",
        help="with --ui: address to bind (default 127.0.0.1; any other address requires the token printed at start)",
    )
    p.add_argument("--ui-port", type=int, default=8765, help="with --ui: port (default 8765; 0 picks a free one)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments after --")
    p.set_defaults(func=run)


def pytest_args(args: argparse.Namespace, plan: Path) -> list[str]:
    # no .pytest_cache in the operator's working folder (a commissioning laptop's Desktop, say)
    out = [
        str(plan),
        "-q",
        "-rN",
        "--rootdir",
        str(Path.cwd()),
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    if args.station:
        out += ["--station", args.station]
    for lim in args.limits:
        out += ["--limits", lim]
    if args.dut:
        out += ["--dut", args.dut]
    if args.operator:
        out += ["--operator", args.operator]
    out += ["--report-dir", args.report_dir]
    if args.answers:
        out += ["--answers", args.answers]
    if getattr(args, "dut_info", None):
        out += ["--dut-info", args.dut_info]
    if getattr(args, "batch_id", None):
        out += ["--batch-id", args.batch_id]
    if getattr(args, "resume", None):
        out += ["--resume", args.resume]
    if getattr(args, "html", None):
        out += ["--html", args.html, "--self-contained-html"]
    live = getattr(args, "live", "off") or "off"
    if live != "off":
        out += ["--live", live, "-o", "console_output_style=classic"]
    wait = getattr(args, "prompt_wait", None) or ("1 h" if getattr(args, "ui", False) else None)
    if wait:
        out += ["--prompt-wait", wait]
    extra = [a for a in (args.pytest_args or []) if a != "--"]
    return out + extra


def run(args: argparse.Namespace) -> int:
    plan = Path(args.plan)
    if not plan.exists():
        print(f"bench run: plan {plan} not found", file=sys.stderr)
        return 2
    from bench.journal import check_journal_file

    check_journal_file(
        Path(args.report_dir) / "journal.sqlite", deep=True
    )  # a damaged journal: one line, before pytest
    if getattr(args, "dut_list", None):
        return run_dut_list(args, plan)
    if (getattr(args, "live", "off") or "off") != "off":
        from bench.live.pytest_live import hand_over_terminal

        hand_over_terminal()
    if getattr(args, "ui", False):
        from bench.ui.server import serve_in_background

        with serve_in_background(
            Path(args.report_dir) / "journal.sqlite",
            host=args.ui_host,
            port=args.ui_port,
            report_dir=Path(args.report_dir),
        ):
            code = int(pytest.main(pytest_args(args, plan)))
            if sys.stdin is not None and sys.stdin.isatty():  # the operator may still be reading the page
                try:
                    input("bench ui: the run has ended; press Enter to stop serving the page ")
                except (EOFError, KeyboardInterrupt):
                    pass
            return code
    return int(pytest.main(pytest_args(args, plan)))


def run_dut_list(args: argparse.Namespace, plan: Path) -> int:
    """One pytest subprocess per module (a crash loses only that module), then the batch summary."""
    from bench.batch import run_batch

    extra: list[str] = []
    if args.station:
        extra += ["--station", args.station]
    for lim in args.limits:
        extra += ["--limits", lim]
    if args.operator:
        extra += ["--operator", args.operator]
    extra += [a for a in (args.pytest_args or []) if a != "--"]
    summary = run_batch(
        plan,
        Path(args.dut_list),
        report_dir=Path(args.report_dir),
        batch_id=args.batch_id,
        extra_args=extra,
        jobs=args.jobs,
        timeout_s=args.module_timeout,
    )
    print(f"batch summary: {Path(args.report_dir) / ('batch-' + summary['batch_id'] + '.html')}")
    return 0 if summary["not_completed"] == 0 else 1  # aborted modules are quarantined, but the batch did not complete
