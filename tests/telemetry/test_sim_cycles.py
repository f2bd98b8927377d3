"""The simulated BMS node emits every frame at its DBC cycle while capture runs, deterministically."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from bench.clock import SimClock
from bench.units import Q_
from instruments.foxbms_can import FoxBmsCan
from instruments.sim.can_foxbms import SimFoxBmsCan
from instruments.sim.plant import Plant


def record(exact: bool, seconds: float = 30.0, max_step: float = 5.0) -> dict[int, list[tuple[float, tuple]]]:
    clock = SimClock(max_step=Q_(max_step, "s"))
    plant = Plant.from_config("lfp_module_16s1p", seed=5)
    clock.add_listener(lambda t, dt: plant.step(dt))
    node = SimFoxBmsCan(plant, clock).start()
    drv = FoxBmsCan(node.resource, timeout=Q_(2, "s"))
    drv.attach_clock(clock)
    got: dict[int, list[tuple[float, tuple]]] = defaultdict(list)
    drv.subscribe_frames(lambda fid, values, t: got[fid].append((t, tuple(sorted(values.items())))))
    try:
        clock.advance(1.0)
        node.exact_cycles(exact)
        plant.load.set_mode("CC", "H")  # a current flows, so frames change from one cycle to the next
        clock.advance(seconds)
        drv.flush_received()
    finally:
        drv.close()
        node.stop()
    return got


def test_every_frame_is_sent_at_its_dbc_cycle_with_its_virtual_send_time() -> None:
    got = record(True)
    for fid, cycle in ((0x220, 0.1), (0x233, 0.1), (0x240, 0.1), (0x235, 1.0), (0x250, 0.1), (0x260, 0.15)):
        t = np.array([x[0] for x in got[fid] if x[0] > 1.0])
        assert np.allclose(np.diff(t), cycle, atol=1e-9), hex(fid)
        assert abs(t.size - 30.0 / cycle) <= 1, (hex(fid), t.size)
    pages = [dict(v)["f_CellVoltages_Mux"] for _, v in got[0x250]][:8]
    assert pages == [pages[0], *[(pages[0] + k) % 4 for k in range(1, 8)]]  # one page per 100 ms, round robin


def test_exact_emission_is_deterministic_and_coalescing_stays_the_default() -> None:
    a, b = record(True, 10.0), record(True, 10.0)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    coalesced = record(False, 10.0)
    assert len(coalesced[0x220]) < len(a[0x220]) / 3  # 5 s clock steps: one frame per step and message
