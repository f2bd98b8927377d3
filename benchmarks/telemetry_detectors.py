"""Benchmark: anomaly-flag lead time over the BMS's own alarms, and false flags on a healthy pack.

Each seeded fault of the simulator (weak cell, soft short, thermal-runaway precursor,
high-resistance cell) runs on the intake module (16S1P 100 Ah LFP) with high-rate capture of the
BMS broadcast at its DBC cycle, until the BMS trips. The detectors see only the captured frames.
Lead time = first captured BMS error frame (GeneralError) - first flag on the faulty cell. Then a
healthy module runs a full intake-like profile (CC-CV charge, rest, 0.2 C capacity discharge to
the 2.5 V cut-off, rest, recharge, DC-resistance pulses, HPPC at three states of charge) and
every flag is counted as a false positive. Also prints the CPU cost per virtual hour and the
bytes on disk per cell-voltage sample of the CAN capture.

    .venv/bin/python benchmarks/telemetry_detectors.py [--quick] [--only NAME ...] [--workdir DIR]

--quick runs the healthy profile at 0.5 C with 20-minute rests instead of 0.2 C and 1 h rests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "telemetry"))

import scenarios as S  # noqa: E402


def cell_voltage_bytes(run_dir: Path) -> tuple[float, int]:
    """Bytes on disk per cell-voltage sample in the f_CellVoltages files (time column included)."""
    size = samples = 0
    for f in (run_dir / "attachments" / "telemetry").glob("*CellVoltages/*.parquet"):
        if f.name.endswith(".summary.parquet"):
            continue
        size += f.stat().st_size
        meta = pq.ParquetFile(f).metadata
        for rg in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(rg).column(c)
                if col.path_in_schema.startswith("CellVoltage_"):
                    samples += col.num_values - (col.statistics.null_count if col.statistics else 0)
    return size / max(samples, 1), samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", help="scenario names (and/or 'healthy')")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="essbench-detectors-"))
    rows, ok = [], True
    for sc in S.full_scenarios():
        if args.only and sc.name not in args.only:
            continue
        r = S.run(sc, work)
        flag = r.first_flag(sc.cell)
        others = sorted({a["cell"] for a in r.anomalies if a["cell"] != sc.cell})
        alarm = next((text for t, text in r.bms_alarms), "none")
        good = flag is not None and r.bms_alarm_t is not None and r.lead_s > 0 and not others
        ok &= good
        rows.append((sc.name, flag, r, alarm, others, good))
        print(
            f"{sc.name}: {len(r.anomalies)} flag(s), virtual {r.virtual_s / 3600:.2f} h, "
            f"CPU {r.cpu_s:.0f} s, wall {r.wall_s:.0f} s",
            flush=True,
        )
    if rows:
        print(
            "\n| fault (cell) | first flag: detector @ t | BMS alarm (first error frame) | lead time | other cells "
            "flagged | flag first |"
        )
        print("|---|---|---|---|---|---|")
        for name, flag, r, alarm, others, good in rows:
            f = f"{flag['detector']} ({flag['family'].split('_')[1]}) @ {flag['t']:.1f} s" if flag else "none"
            a = f"{alarm.split(' (')[0].replace('alarm ', '')} @ {r.bms_alarm_t:.1f} s" if r.bms_alarm_t else "none"
            lead = f"{r.lead_s:.1f} s" if r.lead_s is not None else "-"
            print(
                f"| {name} (cell {r.scenario.cell}) | {f} | {a} | {lead} | {others or 'none'} | "
                f"{'yes' if good else 'NO'} |"
            )
    if not args.only or "healthy" in args.only:
        rate, rest = (0.5, 1200.0) if args.quick else (0.2, 3600.0)
        sc = S.Scenario("healthy_intake", [], S.intake_profile(rate, rest), soc0=0.5)
        r = S.run(sc, work)
        per_v, n_v = cell_voltage_bytes(r.run_dir)
        fp = len(r.anomalies)
        ok &= fp == 0 and r.bms_alarm_t is None
        print(
            f"\nhealthy module, intake-like profile at {rate:g} C ({r.virtual_s / 3600:.1f} h virtual, "
            f"{r.frames:,} CAN frames, {r.samples:,} samples captured): {fp} false flag(s)"
            + "".join(f"\n  {a['t']:.1f} s {a['message']}" for a in r.anomalies)
            + f"; BMS alarm: {r.bms_alarms[0][1] if r.bms_alarms else 'none'}"
        )
        print(
            f"  simulation cost with capture at the DBC cycle: {r.cpu_s / (r.virtual_s / 3600):.1f} s CPU and "
            f"{r.wall_s / (r.virtual_s / 3600):.1f} s wall per virtual hour (load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; benchmarks/telemetry_sim_cost.py compares "
            "with capture off)"
        )
        print(
            f"  CAN capture on disk: {per_v:.2f} bytes per cell-voltage sample ({n_v:,} samples, 1 mV as sent "
            "by the BMS; the data files with their time column, summaries not counted)"
        )
    print("result:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
