"""Wall and CPU time of a full intake of one module in simulation, on each intake station.

A full intake covers days of virtual time: OCV rest, chamber stabilisation, a CC-CV charge and
C/5 discharge, resistance and HPPC pulses at three SOC points, 24 h depolarisation plus a 24 h
self-discharge window, and four BMS protective-function provocations. Prints, per station, the
virtual hours of each step, the wall and CPU seconds of the module's process (CPU is what to
compare on a shared machine), the speed-up, and the grade.

    .venv/bin/python benchmarks/module_intake.py [--station FILE ... --limits FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.journal import Journal

ROOT = Path(__file__).resolve().parents[1]

STATIONS = ["stations/sim_module_intake.toml", "stations/sim_module_intake_fast.toml"]


def one(station: str, limits: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "test_plans/module_intake",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                "--rootdir",
                str(ROOT),
                "--station",
                station,
                "--limits",
                limits,
                "--report-dir",
                tmp,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        cpu = usage.ru_utime + usage.ru_stime
        j = Journal(Path(tmp) / "journal.sqlite")
        try:
            run = j.runs(1)[0]
            steps = j.steps(run["run_id"])
            grade = next((e["data"] for e in j.events(run["run_id"]) if e["kind"] == "grade"), {})
        finally:
            j.close()
        virtual_s = max((s["ended_t"] or 0.0) for s in steps) if steps else 0.0
        print(f"module intake on {station} with {limits}")
        for s in steps:
            print(f"  {s['name']:<40} {((s['ended_t'] or 0) - (s['started_t'] or 0)) / 3600:7.2f} h virtual")
        print(f"  run {run['status']}, grade {grade.get('grade', '-')} by {grade.get('rule', '-')}")
        print(
            f"  virtual {virtual_s / 3600:.1f} h, wall {wall:.1f} s, CPU {cpu:.1f} s, "
            f"speed-up {virtual_s / max(wall, 1e-9):,.0f}x wall / {virtual_s / max(cpu, 1e-9):,.0f}x CPU"
        )
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            print(out[-3000:])
        return 0 if run["status"] == "COMPLETED" else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--station", action="append", help="station file (repeatable; default: both LFP intake stations)")
    ap.add_argument("--limits", default="limits/module_intake_lfp.toml")
    args = ap.parse_args()
    return max(one(s, args.limits) for s in (args.station or STATIONS))


if __name__ == "__main__":
    raise SystemExit(main())
