"""Simulated seconds per wall second of the physics plant (target >= 5,000x).

A 16S5P LFP pack (80 cells) is discharged by the load at 0.2 C in 1 s steps, as the SimClock
drives it during a capacity test, with the BMS, thermal network and balancing all running.
Run: .venv/bin/python benchmarks/plant_speed.py [sim_hours]
"""

from __future__ import annotations

import sys
import time

from instruments.sim.plant import Plant, get_preset


def run(hours: float = 4.0, dt_s: float = 1.0) -> float:
    p = Plant.from_config(get_preset("lfp_16s5p", pack={"soc0": 0.95}), seed=0)
    p.bms.request_state("discharge")
    p.step(2.0)
    p.load.set_mode("CC", "H")
    p.load.set_level("CC", 50.0)
    p.load.set_input(True)
    p.chamber.set_running(True)
    n = int(hours * 3600 / dt_s)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(n):
        p.step(dt_s)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    speed = n * dt_s / wall
    print(
        f"16S5P LFP, {n} steps of {dt_s:g} s ({hours:g} h simulated) in {wall:.3f} s wall: "
        f"{speed:,.0f} simulated s per wall s ({wall / n * 1e6:.1f} us/step; "
        f"{n * dt_s / cpu:,.0f} per CPU second); "
        f"end SOC {p.pack.soc().mean():.3f}, Tmax {p.pack.cell_temperatures_degC().max():.2f} degC, "
        f"BMS {p.bms.state_name}"
    )
    return speed


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
