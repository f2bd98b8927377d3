"""Benchmark: one SCPI query through the driver vs a bare pyvisa query, same simulated instrument.

Both talk to the simulated Chroma 63200A (plant-backed, 127.0.0.1) over their own VISA session:
the bare side is `resource.query("MEAS:VOLT?")`, the driver side is `Chroma63200A.measure_voltage()`
(query, trace, float parse, error naming, pint quantity). Blocks alternate between the two so drift
in the machine hits both alike; the figure per side is the median over blocks.
Target: driver / bare <= 1.5. Usage: `.venv/bin/python benchmarks/scpi_query.py [--n 2000] [--blocks 10]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyvisa  # noqa: E402

from bench.clock import SimClock  # noqa: E402
from bench.station import RoleConfig  # noqa: E402
from bench.units import Q_  # noqa: E402
from instruments.chroma_63200a import Chroma63200A  # noqa: E402
from instruments.sim.plant import Plant, get_preset  # noqa: E402
from instruments.sim.scpi_chroma63200a import serve  # noqa: E402

TARGET_RATIO = 1.5
WARMUP = 200


def per_query_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="queries per side")
    ap.add_argument("--blocks", type=int, default=10, help="alternating blocks the queries are split into")
    args = ap.parse_args()
    plant = Plant.from_config(get_preset("lfp_16s5p"), seed=1)
    clock = SimClock(max_step=Q_(1, "s"))
    clock.add_listener(lambda t, dt: plant.step(dt))
    role = RoleConfig(
        role="load", driver="", resource="sim", timeout=Q_(2, "s"), model="63206A-80-240", serial="BENCH0001"
    )
    server = serve(plant, role, clock)
    driver = Chroma63200A(server.resource, name="load")
    bare = pyvisa.ResourceManager("@py").open_resource(
        server.resource, read_termination="\n", write_termination="\n", timeout=2000
    )
    try:

        def bare_query() -> str:
            return bare.query("MEAS:VOLT?")

        for _ in range(WARMUP):
            bare_query()
            driver.measure_voltage()
        per_block = max(1, args.n // args.blocks)
        t_bare: list[float] = []
        t_drv: list[float] = []
        for _ in range(args.blocks):
            t_bare.append(per_query_us(bare_query, per_block))
            t_drv.append(per_query_us(driver.measure_voltage, per_block))
    finally:
        bare.close()
        driver.close()
        server.stop()
    b, d = statistics.median(t_bare), statistics.median(t_drv)
    ratio = d / b
    print(f"SCPI query MEAS:VOLT? against the simulated Chroma 63200A, {per_block * args.blocks} queries per side")
    print(f"  bare pyvisa query      : {b:8.1f} us/query")
    print(f"  driver measure_voltage : {d:8.1f} us/query (+{d - b:.1f} us)")
    print(
        f"  ratio driver/bare      : {ratio:8.2f} (target <= {TARGET_RATIO}) {'OK' if ratio <= TARGET_RATIO else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
