"""Benchmark: what high-rate capture costs a simulated run (CAN frames at their DBC cycle).

The same virtual hour on the intake module (16S1P LFP on virtual CAN: 10 min rest, 40 min at
0.5 C, 10 min rest), driven through the foxBMS driver: without capture (frames coalesced per
clock step, at the intake station's 30 s and at 1 s steps) and with capture (every frame at its
DBC cycle, about 80 frames per virtual second, decoded, stored and judged by the detectors).
Prints CPU and wall seconds per virtual hour and the slowdown.

    .venv/bin/python benchmarks/telemetry_sim_cost.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "telemetry"))

import scenarios as S  # noqa: E402


def main() -> int:
    sc = S.Scenario(
        "sim_cost",
        [],
        [S.Phase("rest", seconds=600), S.Phase("discharge", 50.0, 2400), S.Phase("rest", seconds=600)],
        soc0=0.6,
    )
    work = Path(tempfile.mkdtemp(prefix="essbench-simcost-"))
    cases = [
        ("no capture, 30 s clock steps (coalesced frames)", False, 30.0),
        ("no capture, 1 s clock steps (coalesced frames)", False, 1.0),
        ("capture: frames at the DBC cycle, stored, detectors", True, 1.0),
    ]
    results = []
    for label, capture, step in cases:
        r = S.run(sc, work / label.split(":")[0].replace(" ", "_").replace(",", ""), capture=capture, max_step=step)
        hours = r.virtual_s / 3600.0
        results.append((label, r.cpu_s / hours, r.wall_s / hours, r.frames))
        print(
            f"{label}: {r.cpu_s / hours:.1f} s CPU, {r.wall_s / hours:.1f} s wall per virtual hour"
            + (f"; {r.frames / r.virtual_s:.0f} frames captured per virtual second" if capture else ""),
            flush=True,
        )
    base = results[0][1]
    print(
        f"\ncapture costs {results[2][1] / base:.0f}x the CPU of the intake station's coalesced run "
        f"({results[2][1] / results[1][1]:.0f}x that of 1 s steps): {results[2][1]:.0f} s CPU per virtual hour, "
        f"i.e. a virtual hour runs {3600 / results[2][1]:.0f}x faster than real time on one core "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
