"""Benchmark: the full SunSpec 802 + 803 map through the SunSpecBms driver vs raw pymodbus.

Both sides read the same registers with the same chunking (one FC3 per model, L <= 125) from
the same simulated BMS on 127.0.0.1; the driver additionally decodes and scales every point.
Prints both per-iteration times and their ratio (target <= 1.25x).

Run: .venv/bin/python benchmarks/modbus_sunspec.py [iterations]
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from pymodbus.client import ModbusTcpClient

from bench.clock import SimClock
from bench.units import Q_
from instruments.sim.modbus_sunspec import serve
from instruments.sim.plant import Plant
from instruments.sunspec_bms import SunSpecBms


def main(iterations: int = 2000) -> float:
    plant = Plant.from_config("lfp_16s5p", seed=1)
    clock = SimClock()
    clock.add_listener(lambda t, dt: plant.step(dt))
    role = SimpleNamespace(role="bms_modbus", options={}, make="", model="", serial="", firmware="")
    server = serve(plant, role, clock)
    try:
        drv = SunSpecBms(server.resource, timeout=Q_(2, "s"))
        blocks = [(a + 2, n) for mid in (802, 803) for a, n in drv.models[mid]]
        raw = ModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
        raw.connect()

        def run_raw() -> None:
            for addr, n in blocks:
                rr = raw.read_holding_registers(addr, count=n, device_id=1)
                assert not rr.isError() and len(rr.registers) == n

        def run_driver() -> None:
            drv.read_model(802)
            drv.read_model(803)

        results = {}
        for _ in range(2):  # warm up both, then interleave rounds so drift hits both alike
            run_raw()
            run_driver()
        rounds = 20
        per = max(1, iterations // rounds)
        totals = {"raw pymodbus": 0.0, "driver": 0.0}
        round_ratios = []
        for _ in range(rounds):  # interleaved rounds: scheduler/GIL drift hits both sides alike
            spent = {}
            for label, fn in (("raw pymodbus", run_raw), ("driver", run_driver)):
                t0 = time.perf_counter()
                for _ in range(per):
                    fn()
                spent[label] = time.perf_counter() - t0
                totals[label] += spent[label]
            round_ratios.append(spent["driver"] / spent["raw pymodbus"])
        n = per * rounds
        for label, total in totals.items():
            results[label] = total / n * 1e6
            print(
                f"{label:>13}: {results[label]:8.1f} us per 802+803 read ({n} iterations, "
                f"{len(blocks)} requests, {sum(b[1] for b in blocks)} registers)"
            )
        ratio = results["driver"] / results["raw pymodbus"]
        median = sorted(round_ratios)[len(round_ratios) // 2]
        print(
            f"        ratio: {ratio:.3f}x overall, {median:.3f}x median of {rounds} interleaved rounds "
            f"(target <= 1.25x)"
        )
        status_t0 = time.perf_counter()
        for _ in range(200):
            drv.status()
        print(f"status() with pint quantities: {(time.perf_counter() - status_t0) / 200 * 1e6:.1f} us")
        raw.close()
        drv.close()
        return ratio
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
