"""Run every benchmark in this folder, one after the other, and print their figures.

    .venv/bin/python benchmarks/run_all.py [--only SUBSTRING ...] [--skip SUBSTRING ...] [ARGS...]

--only / --skip choose scripts by a part of their file name (e.g. --only telemetry); any other
argument is passed to every script run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=[], metavar="SUBSTRING")
    ap.add_argument("--skip", nargs="+", default=[], metavar="SUBSTRING")
    args, rest = ap.parse_known_args()
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name == Path(__file__).name or script.name.startswith("_"):
            continue
        if args.only and not any(s in script.name for s in args.only):
            continue
        if any(s in script.name for s in args.skip):
            continue
        print(f"\n=== {script.name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *rest], cwd=HERE.parent)
        print(f"--- {script.name}: exit {rc}, {time.perf_counter() - t0:.1f} s wall", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
