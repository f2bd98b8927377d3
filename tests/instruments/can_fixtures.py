"""Shared set-up for the BMS-over-CAN tests: plant + SimClock + simulated BMS node + driver.

Imported explicitly by the test modules (not a conftest), so other engineers' fixtures stay apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import can
import pytest

from bench.clock import SimClock
from bench.units import Q_
from instruments.foxbms_can import FoxBmsCan
from instruments.sim.can_foxbms import SimFoxBmsCan, serve
from instruments.sim.plant import Plant, get_preset


@dataclass
class CanRig:
    clock: SimClock
    plant: Any
    node: SimFoxBmsCan
    bms: FoxBmsCan

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(Q_(seconds, "s"))


def make_rig(max_step_s: float = 1.0, **driver_options: Any) -> CanRig:
    clock = SimClock(max_step=Q_(max_step_s, "s"))
    plant = Plant.from_config(get_preset("lfp_16s5p"), seed=3)
    clock.add_listener(lambda t, dt: plant.step(dt))  # the plant first, as SimulatedStation does
    node = serve(plant, SimpleNamespace(role="bms_can", options={}), clock)
    bms = FoxBmsCan(node.resource, name="bms_can", timeout=Q_(2, "s"), **driver_options)
    bms.attach_clock(clock)
    return CanRig(clock, plant, node, bms)


@pytest.fixture
def rig() -> Iterator[CanRig]:
    r = make_rig()
    try:
        yield r
    finally:
        r.bms.close()
        r.node.stop()


@pytest.fixture
def raw_pair() -> Iterator[tuple[FoxBmsCan, can.BusABC]]:
    """The driver on a virtual channel of its own, and a bus to hand-build frames on.

    Its clock is a SimClock nobody else advances, so frame ages are exactly what the test makes them.
    """
    clock = SimClock(max_step=Q_(0.1, "s"))
    channel = f"virtual:essbench-raw-{id(clock):x}"
    bms = FoxBmsCan(channel, name="bms_can", timeout=Q_(0.3, "s"), state_timeout="0.3 s", rx_grace="0.2 s")
    bms.attach_clock(clock)
    sender = can.Bus(interface="virtual", channel=channel.split(":", 1)[1], receive_own_messages=False)
    try:
        yield bms, sender
    finally:
        bms.close()
        sender.shutdown()
