"""`bench analyze bms-log PATH...`: field log analytics from BMS logs (see docs/log-analytics.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="analyse recorded data (BMS field logs)")
    sub = parser.add_subparsers(dest="analyze_command", metavar="WHAT")
    p = sub.add_parser("bms-log", help="health, usage and data-quality evidence from BMS logs")
    p.add_argument("paths", nargs="+", metavar="PATH", help="daily CSV folder, CSV file(s), Parquet file(s) or globs")
    p.add_argument(
        "--profile",
        default=None,
        metavar="FILE_OR_NAME",
        help="log-format profile: shipped name (default study_lfp_16s5p) or a TOML file",
    )
    p.add_argument(
        "--out",
        default="reports/bms-log",
        metavar="DIR",
        help="output folder (default reports/bms-log): result.json, annual/daily/findings/gaps/excursions/"
        "patterns CSV, report.html, dut_info.json (history for the intake plan's --dut-info)",
    )
    p.add_argument("--nominal-capacity", default=None, metavar="Q", help='override the profile, e.g. "250 A*h"')
    p.add_argument("--timezone", default=None, help="IANA zone for reading naive times and cutting days")
    p.add_argument("--drift-correction", choices=["auto", "always", "never"], default=None)
    p.add_argument(
        "--hash-inputs",
        action="store_true",
        help="record each input file's SHA-256 (and one over the set) in the result; reads the log again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run_bms_log)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run_bms_log(args: argparse.Namespace) -> int:
    from bench.analyze.output import write_all
    from bench.analyze.pipeline import analyze_bms_log
    from bench.analyze.profile import load_profile
    from bench.analyze.progress import SILENT, Progress

    profile = load_profile(args.profile, timezone=args.timezone, drift_correction=args.drift_correction)
    progress = SILENT if args.quiet else Progress(sys.stderr)
    result = analyze_bms_log(
        args.paths, profile, nominal_capacity=args.nominal_capacity, progress=progress, hash_inputs=args.hash_inputs
    )
    paths = write_all(result, Path(args.out))
    t = result.metrics.totals
    print(
        f"{result.quality.rows_used:,} rows, {t['days'].magnitude:.0f} days, coverage {100 * result.quality.coverage:.2f} %"
    )
    print(
        f"charge {t['charge'].magnitude:,.1f} Ah / {t['charge_energy'].magnitude:,.2f} kWh, discharge "
        f"{t['discharge'].magnitude:,.1f} Ah / {t['discharge_energy'].magnitude:,.2f} kWh, "
        f"{t['equivalent_full_cycles'].magnitude:,.1f} equivalent full cycles"
    )
    print(
        f"clock drift: {result.drift.rate.magnitude:+.2f} s/day, {result.drift.total.magnitude:+,.0f} s total "
        f"({result.drift.reason})"
    )
    for f in result.quality.findings:
        print(f"data quality [{f.severity}] {f.kind}: {f.count:,} - {f.message}")
    digest = result.input_files.get("set_sha256")
    if digest:
        print(f"inputs: {len(result.input_files['files'])} file(s), SHA-256 of the set {digest}")
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return 0
