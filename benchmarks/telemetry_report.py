"""Benchmark: render the report of a 72 h run captured at 100 Hz on 34 channels (881 M samples).

Builds the run through the real store writer (Arrow IPC chunks of 10 s of data, Parquet segments
of 1 h with their summaries, every chunk and file journalled): 16 cell voltages, 16 cell
temperatures, pack voltage and current, a charge/discharge profile with rests, plus an aggregate
check on a captured channel and an anomaly flag. Then renders the report (record.json with the
store section, plots from summaries, HTML and PDF) in a child process and prints its wall time,
CPU time and peak memory.

    .venv/bin/python benchmarks/telemetry_report.py [--hours 72] [--workdir DIR] [--reuse] [--no-pdf]

Targets: render <= 30 s, peak memory <= 2 GB. Building the store takes minutes (not timed); keep it
with --workdir DIR and render again with --reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.journal import COMPLETED, Journal  # noqa: E402
from bench.telemetry.layout import US, Channel, GroupSpec  # noqa: E402
from bench.telemetry.store import StoreWriter  # noqa: E402

RUN_ID = "REPORT-72H"
RATE_HZ = 100
CELLS = 16
TARGET_S = 30.0
TARGET_GB = 2.0


def spec() -> GroupSpec:
    chans = [
        Channel(f"daq.v[{i}]", f"daq.v[{i}]", "V", 1e-3, 0.0, "int64", "cell_voltage", i, "poll") for i in range(CELLS)
    ]
    chans += [
        Channel(f"daq.t[{i}]", f"daq.t[{i}]", "degC", 0.01, 0.0, "int64", "cell_temperature", i, "poll")
        for i in range(CELLS)
    ]
    chans += [
        Channel("psu.voltage", "psu.voltage", "V", 1e-3, 0.0, "int64", "", None, "poll"),
        Channel("bms.current", "bms.current", "A", 1e-3, 0.0, "int64", "pack_current", None, "poll"),
    ]
    return GroupSpec("poll", f"polled at {RATE_HZ} Hz", tuple(chans))


def profile(t: np.ndarray) -> np.ndarray:
    """Pack current: 2 h cycles of 50 A discharge, rest, 50 A charge, rest."""
    phase = (t % 7200.0) / 7200.0
    return np.where(phase < 0.4, 50.0, np.where(phase < 0.5, 0.0, np.where(phase < 0.9, -50.0, 0.0)))


def build(base: Path, hours: float, chunk_s: float) -> None:
    journal = Journal(base / "journal.sqlite", synchronous="OFF")
    journal.start_run(
        RUN_ID,
        plan="endurance",
        plan_version="1",
        station="sim-bench",
        station_json={"name": "sim-bench", "roles": {}},
        dut_serial="ESS-72H",
        dut_json={"serial": "ESS-72H"},
        limits_json=[],
        simulated=1,
    )
    journal.add_event(
        RUN_ID,
        "telemetry",
        "high-rate capture started",
        t=0.0,
        data={
            "can_roles": [],
            "exact_cycles": [],
            "rate_hz": float(RATE_HZ),
            "flush_s": 0.5,
            "csv": False,
            "channels": [{"name": "daq.v"}, {"name": "daq.t"}, {"name": "psu.voltage"}, {"name": "bms.current"}],
            "utc_anchor": "2026-01-01T00:00:00.000Z",
        },
    )
    g = spec()
    w = StoreWriter(base / RUN_ID, RUN_ID, journal, segment_s=3600.0, durable=False)
    w.add_group(g, quantize=True)
    rng = np.random.default_rng(72)
    r_cell = 0.0008 * (1 + 0.03 * rng.standard_normal(CELLS))
    soc = 0.5
    t_end = hours * 3600.0
    step_s = 24 * 3600.0
    n_chunk = int(chunk_s * RATE_HZ)
    t0 = 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    day = -1
    while t0 < t_end - 1e-9:
        if int(t0 // step_s) != day:
            day = int(t0 // step_s)
            w.set_step(f"endurance.py::test_day_{day + 1}")
            if day:
                journal.end_step(RUN_ID, f"endurance.py::test_day_{day}", "passed", "PASS", "", t0)
            journal.start_step(
                RUN_ID, f"endurance.py::test_day_{day + 1}", f"test_day_{day + 1}", ["bench"], "module", t0
            )
        n = min(n_chunk, int(round((t_end - t0) * RATE_HZ)))
        t = t0 + np.arange(n) / RATE_HZ
        i = profile(t)
        soc_t = soc - np.cumsum(i) / RATE_HZ / 3600.0 / 100.0
        soc = float(soc_t[-1])
        ocv = 3.2 + 0.15 * (soc_t - 0.5)
        v = ocv[:, None] - i[:, None] * r_cell[None, :] + rng.normal(0, 0.0008, (n, CELLS))
        temp = 25.0 + 0.002 * (i**2)[:, None] * np.ones(CELLS) + rng.normal(0, 0.03, (n, CELLS))
        block = np.column_stack([v, temp, v.sum(axis=1), i + rng.normal(0, 0.02, n)])
        w.append_block("poll", np.round(t * US).astype(np.int64), block)
        w.flush()
        t0 += n / RATE_HZ
    w.set_step(None)
    journal.end_step(RUN_ID, f"endurance.py::test_day_{day + 1}", "passed", "PASS", "", t_end)
    w.close()
    journal.start_step(RUN_ID, "endurance.py::test_summary", "test_summary", ["bench"], "module", t_end)
    journal.add_measurement(
        RUN_ID,
        step="endurance.py::test_summary",
        name="endurance.max_cell_voltage",
        value=3.4,
        unit="V",
        verdict="PASS",
        reason="within limits",
        series="daq.v[3]",
        aggregate="max",
        limit_json={
            "name": "endurance.max_cell_voltage",
            "low": None,
            "high": 3.65,
            "unit": "V",
            "rule": "simple",
            "limit_set": "endurance",
            "limit_set_version": "1",
            "grades": [],
        },
        t=t_end,
    )
    journal.add_event(
        RUN_ID,
        "anomaly",
        "cell 7 voltage deviates from the pack median (example flag)",
        step="endurance.py::test_day_2",
        t=100_000.0,
        data={"detector": "deviation", "family": "cell_voltage", "cell": 7, "channel": "daq.v[7]", "t_onset": 99_990.0},
    )
    journal.end_step(RUN_ID, "endurance.py::test_summary", "passed", "PASS", "", t_end)
    journal.end_run(RUN_ID, COMPLETED, "PASS")
    st = w.stats
    print(
        f"built {st['samples']:,} samples ({hours:g} h x {RATE_HZ} Hz x {len(g.channels)} channels) in "
        f"{st['chunks']:,} chunks, {st['segments']} segments: {time.perf_counter() - wall:.0f} s wall, "
        f"{time.process_time() - cpu:.0f} s CPU",
        flush=True,
    )
    journal.close()


def render_child(base: Path, pdf: bool) -> None:
    from bench.report.render import render_report

    journal = Journal(base / "journal.sqlite")
    cpu, wall = time.process_time(), time.perf_counter()
    result = render_report(journal, RUN_ID, base / RUN_ID, pdf=pdf)
    out = {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "timings": result.timings,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pdf_pages": result.pdf_pages,
        "html_kb": result.html.stat().st_size / 1e3,
    }
    print("RESULT " + json.dumps(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=72.0)
    ap.add_argument("--chunk", type=float, default=10.0, help="seconds of data per journalled chunk")
    ap.add_argument("--workdir", help="build (or reuse) the run here and keep it")
    ap.add_argument("--reuse", action="store_true", help="render the run already built in --workdir")
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--_render", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._render:
        render_child(Path(args._render), not args.no_pdf)
        return 0
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="essbench-report72-"))
    if not (args.reuse and (base / "journal.sqlite").exists()):
        if base.exists():
            shutil.rmtree(base / RUN_ID, ignore_errors=True)
            (base / "journal.sqlite").unlink(missing_ok=True)
        base.mkdir(parents=True, exist_ok=True)
        build(base, args.hours, args.chunk)
    size = sum(p.stat().st_size for p in (base / RUN_ID).rglob("*.parquet"))
    cmd = [sys.executable, __file__, "--_render", str(base)] + (["--no-pdf"] if args.no_pdf else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    r = json.loads(line[7:])
    split = ", ".join(f"{k} {v:.2f} s" for k, v in r["timings"].items())
    print(
        f"report of a {args.hours:g} h run, 34 channels at {RATE_HZ} Hz ({size / 1e9:.2f} GB of Parquet): "
        f"rendered in {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU (target <= {TARGET_S:g} s); "
        f"peak memory {r['peak_mb']:.0f} MB (target <= {TARGET_GB * 1024:.0f} MB)"
    )
    print(
        f"  split: {split}; report.html {r['html_kb']:.0f} kB, PDF {r['pdf_pages']} pages; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    ok = r["wall"] <= TARGET_S and r["peak_mb"] <= TARGET_GB * 1024
    print("  result:", "OK" if ok else "BELOW TARGET")
    if not args.workdir:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
