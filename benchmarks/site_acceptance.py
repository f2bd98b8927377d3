"""Site acceptance on the simulated site: wall time of the whole plan, and the fault table.

    .venv/bin/python benchmarks/site_acceptance.py            # healthy site: wall time, virtual time, verdict
    .venv/bin/python benchmarks/site_acceptance.py --faults   # + every seeded fault: the step that caught it

Prints, for the healthy run, the plan's wall time (first step start to last step end, from the
journal), the pytest process's wall time (with session start and report rendering), the virtual
time covered, and how the plan's RTE and usable energy compare with the plant's own energy
accounting. With --faults, one line per seeded fault: the fault, the step(s) that did not pass,
the measurement and its value.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from instruments.sim.site.scenarios import (  # noqa: E402
    SCENARIOS,
    compare_with_ledger,
    outcome,
    run_plan,
    write_station,
)


def _wall(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def healthy() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        station = write_station(d, [], ledger="ledger.json")
        t0 = time.perf_counter()
        proc = run_plan(d / "reports", station)
        wall_total = time.perf_counter() - t0
        res = outcome(d / "reports")
        steps = list(res["steps"].values())
        wall = (_wall(steps[-1]["ended_wall"]) - _wall(steps[0]["started_wall"])).total_seconds()
        print(
            f"healthy site: verdict {res['run']['verdict']}, {len(steps)} steps, plan wall {wall:.1f} s "
            f"(pytest process {wall_total:.1f} s incl. start-up and report), virtual "
            f"{steps[-1]['ended_t'] / 3600:.1f} h"
        )
        for s in steps:
            print(
                f"  {s['name']:<40} {(_wall(s['ended_wall']) - _wall(s['started_wall'])).total_seconds():6.2f} s wall "
                f"{(s['ended_t'] - s['started_t']) / 3600:7.2f} h virtual  {s['verdict']}"
            )
        ledger = json.loads((d / "ledger.json").read_text())
        dis, ch = compare_with_ledger(res["measurements"], ledger)
        plan_use = sum(v for v, _ in dis) / len(dis)
        plant_use = sum(p for _, p in dis) / len(dis)
        plan_rte = sum(v for v, _ in dis) / sum(v for v, _ in ch)
        plant_rte = sum(p for _, p in dis) / sum(p for _, p in ch)
        print(
            f"usable energy: plan {plan_use:.3f} kWh, plant {plant_use:.3f} kWh "
            f"({100 * (plan_use / plant_use - 1):+.4f} %)"
        )
        print(
            f"RTE (AC): plan {100 * plan_rte:.3f} %, plant {100 * plant_rte:.3f} % "
            f"({100 * (plan_rte / plant_rte - 1):+.4f} % relative)"
        )
        if proc.returncode != 0:
            print(proc.stdout[-3000:])


def _value(m: dict) -> str:
    """'name = value unit (verdict)'; a measurement without a value (not implemented) says so."""
    v = m["value"]
    shown = "not measured" if v is None else f"{v:.4g} {m['unit']}"
    return f"{m['name']} = {shown} ({m['verdict']})"


def faults(only: set[str] | None = None) -> None:
    print(f"{'fault':<22} {'expected step':<38} {'steps not passing':<40} measurement = value (verdict)")
    for sc in SCENARIOS:
        if only and sc.name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            station = write_station(d, sc.faults, role_timeout=sc.role_timeout)
            t0 = time.perf_counter()
            run_plan(d / "reports", station)
            res = outcome(d / "reports")
            failing = [n for n, s in res["steps"].items() if s["verdict"] not in ("PASS", "MARGINAL")]
            shown = [_value(m) for _, m in res["bad"] if m["name"] == sc.measurement] or [
                _value(m) for _, m in res["bad"][:1]
            ]
            ran = len(res["steps"])
            print(
                f"{sc.name:<22} {sc.step:<38} {','.join(f[5:7] for f in failing) or 'none':<40} "
                f"{shown[0] if shown else '-'}  [{ran} steps ran, {time.perf_counter() - t0:.0f} s]",
                flush=True,
            )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faults", action="store_true", help="also run every seeded fault")
    ap.add_argument("--only", default="", help="with --faults: comma-separated fault names; skip the healthy run")
    args = ap.parse_args()
    if not args.only:
        healthy()
    if args.faults or args.only:
        faults({n for n in args.only.split(",") if n} or None)
