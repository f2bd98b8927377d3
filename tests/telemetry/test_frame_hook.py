"""FoxBmsCan.subscribe_frames: every good frame with its reception time, in the subscriber's time base."""

from __future__ import annotations

import time
import uuid

import can

from bench.clock import SimClock
from bench.units import Q_
from instruments.foxbms_can import FoxBmsCan


def frame(drv: FoxBmsCan, stamp: float = 0.0) -> can.Message:
    msg = drv.db.get_message_by_frame_id(0x233)
    data = msg.encode({"BatteryVoltage": 52.3, "BusVoltage": 52.2, "Power": 1.5, "Current": -12.34})
    return can.Message(arbitration_id=0x233, data=data, is_extended_id=False, timestamp=stamp)


def test_adapter_timestamps_become_run_time_by_their_age_and_bad_subscribers_are_contained() -> None:
    channel = f"essbench-hook-{uuid.uuid4().hex[:8]}"
    drv = FoxBmsCan(f"virtual:{channel}", timeout=Q_(1, "s"))
    sender = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)  # stamps in epoch seconds
    got: list[tuple[int, float, float]] = []
    drv.subscribe_frames(lambda fid, values, t: got.append((fid, values["Current"], t)), now=lambda: 1000.0)

    def broken(fid: int, values: dict, t: float) -> None:
        raise RuntimeError("a capture bug")

    stop = drv.subscribe_frames(broken)
    try:
        sender.send(frame(drv))
        time.sleep(0.2)
        drv.flush_received()
        stop()
        sender.send(frame(drv))
        time.sleep(0.2)
        drv.flush_received()
        assert [g[:2] for g in got] == [(0x233, -12.34), (0x233, -12.34)]
        assert all(999.0 < g[2] <= 1000.0 for g in got)  # received "now" minus the frame's age
        assert drv.counters()["subscriber_errors"] == 1 and drv.pack_values()["current"] == Q_(-12.34, "A")
    finally:
        drv.close()
        sender.shutdown()


def test_on_a_virtual_clock_the_simulators_send_time_is_the_reception_time() -> None:
    channel = f"essbench-hook-{uuid.uuid4().hex[:8]}"
    drv = FoxBmsCan(f"virtual:{channel}", timeout=Q_(1, "s"))
    drv.attach_clock(SimClock())
    sender = can.Bus(interface="virtual", channel=channel, receive_own_messages=False, preserve_timestamps=True)
    got: list[float] = []
    drv.subscribe_frames(lambda fid, values, t: got.append(t))
    try:
        sender.send(frame(drv, stamp=12.3))
        sender.send(
            can.Message(arbitration_id=0x233, data=frame(drv).data, is_extended_id=False, timestamp=time.time())
        )  # a wall-clock stamp on a virtual clock: not trusted
        time.sleep(0.2)
        drv.flush_received()
        assert got == [12.3, 0.0]
    finally:
        drv.close()
        sender.shutdown()
