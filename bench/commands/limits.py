"""`bench limits check FILE...`: validate limit sets, print id, version and SHA-256."""

from __future__ import annotations

import argparse
import sys

from bench.errors import ConfigError, ConfigErrors
from bench.limits import load_limit_set


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("limits", help="work with limit sets", description="Validate and inspect limit sets.")
    s = p.add_subparsers(dest="limits_cmd", metavar="ACTION", required=True)
    c = s.add_parser("check", help="validate limit set files and print their SHA-256")
    c.add_argument("files", nargs="+")
    c.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            ls = load_limit_set(f)
        except (ConfigError, ConfigErrors) as exc:
            bad += 1
            print(f"FAIL {f}: {exc}", file=sys.stderr)
            continue
        print(f"OK   {f}: {ls.id} v{ls.version}, {len(ls.limits)} limits, {len(ls.parameters)} parameters, "
              f"sha256 {ls.sha256}")
    return 1 if bad else 0
