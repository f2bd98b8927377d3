"""`bench runs list` / `bench runs show RUN_ID`: read runs back from the journal."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import BenchError
from bench.journal import Journal, check_journal_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list and show runs from the journal")
    p.add_argument("--report-dir", default="reports", help="folder holding journal.sqlite (default: reports)")
    s = p.add_subparsers(dest="runs_cmd", metavar="ACTION", required=True)
    ls = s.add_parser("list", help="most recent runs")
    ls.add_argument("-n", type=int, default=20, help="how many (default 20)")
    ls.set_defaults(func=list_runs)
    sh = s.add_parser("show", help="one run: steps, measurements, events")
    sh.add_argument("run_id", help="run id (a unique prefix is enough)")
    sh.set_defaults(func=show_run)


def open_journal(report_dir: str) -> Journal:
    path = Path(report_dir) / "journal.sqlite"
    if not path.exists():
        raise BenchError(f"no journal at {path} (run a plan first, or pass --report-dir)")
    check_journal_file(path, deep=True)  # a damaged or empty journal: one line naming it, never replaced
    return Journal(path)


def list_runs(args: argparse.Namespace) -> int:
    j = open_journal(args.report_dir)
    rows = j.runs(args.n)
    if not rows:
        print("no runs")
    for r in rows:
        print(
            f"{r['run_id']}  {r['status']:<9} {str(r['verdict'] or ''):<13} {r['plan'] or '':<16} "
            f"DUT {r['dut_serial']}  station {r['station']}  {r['started_wall']}"
        )
    return 0


def show_run(args: argparse.Namespace) -> int:
    j = open_journal(args.report_dir)
    try:
        r = j.run(args.run_id)
    except KeyError as exc:
        raise BenchError(str(exc.args[0])) from None
    rid = r["run_id"]
    print(f"run {rid}\n  plan {r['plan']} {r['plan_version']}  station {r['station']}  DUT {r['dut_serial']}")
    print(f"  status {r['status']}  verdict {r['verdict']}  {r['reason'] or ''}")
    print(f"  started {r['started_wall']}  ended {r['ended_wall'] or '-'}  code {r['code_version']}")
    for s in r.get("limits", []):
        print(f"  limits {s['id']} v{s['version']} sha256 {s['sha256'][:16]}…")
    for st in j.steps(rid):
        print(f"  step {st['name']}: {st['outcome'] or 'not finished'} ({st['verdict'] or '-'})")
    for m in j.measurements(rid):
        print(f"    {m['name']:<32} {m['value']:.6g} {m['unit']:<6} {m['verdict']:<13} {m['reason']}")
    for e in j.events(rid):
        print(f"  [{e['kind']}] {e['message']}")
    return 0
