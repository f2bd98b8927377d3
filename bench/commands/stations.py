"""`bench stations check FILE...`: validate station files (every problem at once)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from bench.errors import ConfigError, ConfigErrors
from bench.station import load_station


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stations", help="work with station files", description="Validate station files.")
    s = p.add_subparsers(dest="stations_cmd", metavar="ACTION", required=True)
    c = s.add_parser("check", help="validate station files and show roles and calibration status")
    c.add_argument("files", nargs="+")
    c.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    bad = 0
    today = dt.date.today()
    for f in args.files:
        try:
            st = load_station(f)
        except (ConfigError, ConfigErrors) as exc:
            bad += 1
            print(f"FAIL {f}: {exc}", file=sys.stderr)
            continue
        print(f"OK   {f}: station {st.name!r} ({st.mode}{', simulated' if st.simulated else ''})")
        for name, r in st.roles.items():
            cal = r.calibration
            cal_text = (
                "no calibration record"
                if cal is None
                else (
                    f"cal {cal.certificate} due {cal.due}" + (" EXPIRED" if cal.status_on(today) == "EXPIRED" else "")
                )
            )
            print(f"       {name:<11} {r.driver}  {r.resource}  {r.make} {r.model} {r.serial}  {cal_text}")
    return 1 if bad else 0
