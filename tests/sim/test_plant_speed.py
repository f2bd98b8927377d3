"""Sim-speed sanity: a 16S5P pack at 1 s steps simulates 4 h quickly (printed, not asserted)."""

from __future__ import annotations

import time

from instruments.sim.plant import Plant, get_preset


def test_four_hours_of_16s5p_at_one_second_steps() -> None:
    p = Plant.from_config(get_preset("lfp_16s5p", pack={"soc0": 0.95}), seed=0)
    p.bms.request_state("discharge")
    p.step(2.0)
    p.load.set_level("CC", 50.0)
    p.load.set_input(True)
    t0 = time.perf_counter()
    for _ in range(4 * 3600):
        p.step(1.0)
    wall = time.perf_counter() - t0
    print(f"\n16S5P: 4 h simulated in {wall:.2f} s wall = {4 * 3600 / wall:,.0f}x real time")
    assert p.pack.charge_out_Ah > 199.0 and p.bms.contactor_closed
