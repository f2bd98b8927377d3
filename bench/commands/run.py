"""`bench run PLAN`: run a test plan with pytest, with the bench's options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a test plan (wraps pytest)",
                       description="Run a test plan on a station. Options not listed here are passed to pytest "
                                   "after a '--'.")
    p.add_argument("plan", help="plan directory or file, e.g. test_plans/smoke")
    p.add_argument("--station", help="station file (default: the plan's plan.toml)")
    p.add_argument("--limits", action="append", default=[], help="limit set file (repeatable)")
    p.add_argument("--dut", default="", help="DUT serial number")
    p.add_argument("--operator", default="", help="operator name")
    p.add_argument("--report-dir", default="reports", help="journal and report folder (default: reports)")
    p.add_argument("--answers", help="TOML file with prepared operator answers")
    p.add_argument("--html", help="also write a pytest-html report for engineers to this file")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments after --")
    p.set_defaults(func=run)


def pytest_args(args: argparse.Namespace, plan: Path) -> list[str]:
    out = [str(plan), "-q", "-rN", "--rootdir", str(Path.cwd()), "-o", "addopts=",
           "-W", "ignore::pytest.PytestAssertRewriteWarning"]
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
    if getattr(args, "html", None):
        out += ["--html", args.html, "--self-contained-html"]
    extra = [a for a in (args.pytest_args or []) if a != "--"]
    return out + extra


def run(args: argparse.Namespace) -> int:
    plan = Path(args.plan)
    if not plan.exists():
        print(f"bench run: plan {plan} not found", file=sys.stderr)
        return 2
    return int(pytest.main(pytest_args(args, plan)))
