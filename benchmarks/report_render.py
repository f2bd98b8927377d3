"""Benchmark: render a report (record, CSV, plots, HTML, PDF) of a run with 1,000,000 telemetry samples.

Target: render_report < 10 s. Prints the total and the split (read, record, CSV, decimation and
plots, HTML, PDF). Usage: `.venv/bin/python benchmarks/report_render.py [--samples N] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.journal import COMPLETED, Journal  # noqa: E402
from bench.limits import Limit  # noqa: E402
from bench.report.render import render_report  # noqa: E402
from bench.units import Q_  # noqa: E402

TARGET_S = 10.0
SERIES = (
    ("pack.voltage", "V", 52.0, 3.0),
    ("pack.current", "A", 80.0, 20.0),
    ("pack.power", "kW", 4.2, 1.1),
    ("cell.max_voltage", "V", 3.3, 0.1),
    ("cell.min_voltage", "V", 3.2, 0.1),
    ("cell.max_temperature", "°C", 30.0, 8.0),
    ("chamber.temperature", "°C", 25.0, 0.5),
    ("bms.soc", "%", 50.0, 40.0),
)


def build(path: Path, samples: int) -> tuple[Journal, str]:
    """A three-step run: measurements with limits, aggregate checks, events, `samples` telemetry samples."""
    j = Journal(path, series_flush=200_000, synchronous="OFF")
    run_id = "BENCH-1M"
    roles = {
        "psu": {
            "role": "psu",
            "make": "Keysight",
            "model": "RP7952A",
            "serial": "MY1",
            "firmware": "B.01",
            "calibration": {"certificate": "C-1", "due": "2099-01-01", "lab": "lab"},
        }
    }
    j.start_run(
        run_id,
        plan="site_acceptance",
        plan_version="1.0",
        station="bench",
        station_json={"name": "bench", "site": "Site", "location": "Container 3", "roles": roles},
        dut_serial="ESS-1",
        dut_json={"serial": "ESS-1"},
        operator="bench",
        limits_json=[{"id": "site", "version": "1", "sha256": "0" * 64}],
        code_version="bench",
    )
    rng = np.random.default_rng(1)
    per = samples // len(SERIES)
    steps = [f"plan.py::test_step_{k}" for k in range(3)]
    t = np.arange(per, dtype=float)
    for k, st in enumerate(steps):
        j.start_step(run_id, st, st.split("::")[1], [f"clause {k}"], "site", float(k * per))
        for i in range(12):
            j.add_measurement(
                run_id,
                step=st,
                name=f"m{k}.{i}",
                value=float(i),
                unit="V",
                verdict="PASS",
                reason="within limits",
                limit_json=_limit(f"m{k}.{i}", Q_(0.0, "V"), Q_(20.0, "V")),
            )
        j.add_event(run_id, "note", f"step {k} running", step=st, t=float(k * per))
        j.end_step(run_id, st, "passed", "PASS", "", float((k + 1) * per))
    third = per // 3
    for name, unit, mid, amp in SERIES:
        v = mid + amp * np.sin(t / (per / 7)) + rng.normal(0, amp / 50, per)
        v[per // 2] = mid + 3 * amp  # a spike that must survive decimation
        for k, st in enumerate(steps):
            lo, hi = k * third, (per if k == 2 else (k + 1) * third)
            j.add_samples(run_id, st, name, unit, zip(t[lo:hi].tolist(), v[lo:hi].tolist(), strict=True))
        j.flush_series()
        j.add_measurement(
            run_id,
            step=steps[2],
            name=f"{name}.max",
            value=float(v.max()),
            unit=unit,
            verdict="PASS",
            reason="",
            note=f"max of series {name!r}",
            limit_json=_limit(f"{name}.max", None, Q_(mid + 4 * amp, unit)),
        )
    j.end_run(run_id, COMPLETED, "PASS")
    return j, run_id


def _limit(name: str, low: Any, high: Any) -> dict[str, Any]:
    """A limit as the recorder journals it (the record schema's limit object)."""
    return Limit(name, low, high, limit_set="site", limit_set_version="1").to_record()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the report folder here instead of a temporary folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        journal, run_id = build(Path(tmp) / "journal.sqlite", args.samples)
        print(f"journal built: {args.samples:,} samples in {time.perf_counter() - t0:.1f} s (not timed)")
        out = Path(args.keep) if args.keep else Path(tmp) / "run"
        t1 = time.perf_counter()
        result = render_report(journal, run_id, out, csv=True)  # the CSV is written on request only
        total = time.perf_counter() - t1
        journal.close()
        for name, secs in result.timings.items():
            print(f"  {name:<14} {secs:6.2f} s")
        pdf = f"{result.pdf_pages} pages" if result.pdf else f"NOT rendered ({result.pdf_error})"
        size = (out / "attachments" / "telemetry.csv").stat().st_size / 1e6
        print(
            f"render_report total {total:.2f} s for {result.samples:,} samples (target < {TARGET_S:.0f} s); "
            f"PDF {pdf}; telemetry.csv {size:.0f} MB; report.html {result.html.stat().st_size / 1e3:.0f} kB"
        )
        return 0 if total < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
