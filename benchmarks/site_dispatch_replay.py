"""A `bench dispatch` schedule replayed through the site plan's duty-cycle step: agreement with the optimiser.

    .venv/bin/python benchmarks/site_dispatch_replay.py [--days 3]

Makes a schedule for the simulated site (examples/dispatch/sim_site_battery.toml, the example load
and tariff, the first N days at 15 min), replays it with step 7 of test_plans/site_acceptance on the
simulated site, and prints the plan's measured energies and peak reduction against the optimiser's
prediction, the tolerance, and how much of the gap the plant's losses explain (the step's
"dispatch agreement" event), plus the wall and CPU time of the replay.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.journal import Journal  # noqa: E402
from instruments.sim.site.scenarios import (  # noqa: E402
    dispatch_schedule,
    limits_replaying,
    outcome,
    run_plan,
    write_station,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--days",
        type=int,
        default=3,
        help="days of the schedule (default 3; step 7 times out after 80 h of virtual time)",
    )
    days = ap.parse_args(argv).days
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        out = dispatch_schedule(d, days)
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = run_plan(
            d / "reports",
            write_station(d, []),
            limits=limits_replaying(d, out / "schedule.dutycycle.csv"),
            extra=["-k", "test_07"],
        )
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = outcome(d / "reports")
        if "test_07_duty_cycles" not in res["steps"]:
            print(proc.stdout[-3000:], proc.stderr[-2000:])
            return 1
        print(
            f"schedule: {days} days at 15 min ({days * 96} intervals); replay of step 7: wall {wall:.1f} s, "
            f"CPU {c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime:.1f} s; step verdict "
            f"{res['steps']['test_07_duty_cycles']['verdict']}"
        )
        if not any(m["name"].startswith("duty.") for m in res["measurements"]):
            print(proc.stdout[-4000:])
            return 1
        for m in res["measurements"]:
            if m["name"].startswith("duty."):
                print(f"  {m['name']:42s} {m['value']:>10.4g} {m['unit'] or '':>4s} {m['verdict']}")
        table = (
            (d / "reports" / res["run"]["run_id"] / "attachments" / "duty_schedule.dutycycle_dispatch_agreement.csv")
            .read_text()
            .splitlines()
        )
        print("\n".join("  " + ln for ln in table))
        j = Journal(d / "reports" / "journal.sqlite")
        try:
            ev = [e for e in j.events(res["run"]["run_id"]) if e["kind"] == "dispatch agreement"]
        finally:
            j.close()
        for e in ev:
            print("explained:", e["message"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
