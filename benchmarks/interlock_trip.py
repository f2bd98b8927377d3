"""Benchmark: time from an interlock trip to every simulated output off, in virtual and wall time.

A simulated session (stations/sim_safety.toml, limits/safety_chain_lfp.toml) is energised: BMS
contactors closed, load sinking 10 A, supply output on. A thermal-runaway precursor heats one
cell until an interlock trips. Measured per repetition:
  - detection: virtual time from the physical crossing (plant's true cell temperature over the
    interlock limit, or the rate limit) to the trip decision (bounded by the watch period);
  - trip -> off: virtual and wall time from the trip decision until load input off, supply output
    off and contactor open are all true in the plant (the safe-state sequence, read-back included).
Run: .venv/bin/python benchmarks/interlock_trip.py [repetitions]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.safety.interlocks import InterlockTrip  # noqa: E402
from bench.session import BenchSession  # noqa: E402
from bench.units import Q_  # noqa: E402


def one(rep: int, tmp: Path) -> dict[str, float]:
    s = BenchSession(
        station=ROOT / "stations" / "sim_safety.toml",
        limits=[ROOT / "limits" / "safety_chain_lfp.toml"],
        report_dir=tmp / f"r{rep}",
        interactive=False,
    ).open()
    plant = s.sim.plant
    marks: dict[str, Any] = {}
    original = s._on_trip

    def timed_on_trip(trip: Any) -> None:
        marks["trip_v"], marks["trip_w"] = s.clock.now_s(), time.perf_counter()
        original(trip)

    def all_off() -> bool:
        return not plant.supply.output_on and not plant.load.input_on and not plant.bms.contactor_closed

    for inst in s.instruments.values():  # note when the plant is all off, action by action
        fn = inst.safe_state

        def wrapped(fn: Any = fn) -> str:
            out = fn()
            if "off_v" not in marks and all_off():
                marks["off_v"], marks["off_w"] = s.clock.now_s(), time.perf_counter()
            return out

        inst.safe_state = wrapped
    s.interlocks.on_trip = timed_on_trip
    try:
        s.instruments["bms_can"].request_state("discharge")
        load, psu = s.instruments["load"], s.instruments["psu"]
        load.set_mode("CC")
        load.set_level(Q_(10, "A"))
        load.set_input(True)
        psu.set_voltage(Q_(52, "V"))
        psu.set_output(True)
        s.clock.sleep(Q_(10 + rep, "s"))
        s.sim.inject({"type": "thermal_runaway_precursor", "cell": rep % 16, "heat_rate_degC_per_min": 15.0})
        t_inject = s.clock.now_s()
        try:
            s.clock.sleep(Q_(2, "h"))
        except InterlockTrip as exc:
            marks["name"] = exc.trip.name
    finally:
        s.close()
        s.journal.close()
    return {
        "trip_to_off_virtual_s": marks["off_v"] - marks["trip_v"],
        "trip_to_off_wall_ms": 1000 * (marks["off_w"] - marks["trip_w"]),
        "inject_to_trip_virtual_s": marks["trip_v"] - t_inject,
        "interlock": marks.get("name", "?"),
    }


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as d:
        rows = [one(i, Path(d)) for i in range(reps)]
    print(f"interlock trip -> all simulated outputs off ({reps} repetitions, watch period 2 s virtual)")
    for key in ("trip_to_off_virtual_s", "trip_to_off_wall_ms", "inject_to_trip_virtual_s"):
        vals = [r[key] for r in rows]
        print(f"  {key:28s} median {statistics.median(vals):9.3f}  min {min(vals):9.3f}  max {max(vals):9.3f}")
    print("  interlocks tripped: " + ", ".join(sorted({r["interlock"] for r in rows})))


if __name__ == "__main__":
    main()
