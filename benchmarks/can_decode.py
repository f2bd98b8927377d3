"""Frames per second decoded by FoxBmsCan on the virtual bus, and frames lost (must be 0).

Why: a saturated 1 Mbit/s CAN bus carries about 7,200 8-byte standard frames per second; the
driver must keep up with 1.8x that (>= 13,000 frames/s) with no frame lost, or a busy real bus
would age messages into false stale-data timeouts. No frame repeats the previous payload of its
id (so the driver's same-payload shortcut never applies; counted and printed), and the mix follows
the BMS broadcast:
BmsState, min/max, limits, pack values, state estimation, string state and mux pages.

    .venv/bin/python benchmarks/can_decode.py [frames]
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import can

from bench.units import Q_
from instruments.foxbms_can import FoxBmsCan

TARGET_FPS = 13_000


def payloads(db: Any, n: int) -> list[can.Message]:
    """n pre-encoded frames cycling over the broadcast messages, each differing from its id's last."""
    out: list[can.Message] = []
    for k in range(n):
        kind = k % 8
        if kind in (0, 4):
            fid, data = (
                0x233,
                {
                    "BatteryVoltage": 50 + (k % 3000) / 100,
                    "BusVoltage": 50.0,
                    "Power": (k % 50000) / 100 - 250,
                    "Current": (k % 60000) / 100 - 300,
                },
            )
        elif kind == 1:
            fid, data = (
                0x231,
                {
                    "MinimumCellVoltageCellIndex": 0,
                    "MaximumCellVoltageCellIndex": 0,
                    "MinimumCellVoltageModuleIndex": 0,
                    "MaximumCellVoltageModuleIndex": 0,
                    "MinimumCellVoltageStringIndex": 0,
                    "MaximumCellVoltageStringIndex": 0,
                    "MaximumCellVoltage": 3000 + k % 1000,
                    "MinimumCellVoltage": 2900 + k % 1000,
                },
            )
        elif kind == 2:
            m = db.get_message_by_frame_id(0x220)
            data = {s.name: 0 for s in m.signals}
            data.update({"BmsState": 5, "InsulationResistance": 200.0 * (k % 255)})
            fid = 0x220
        elif kind == 3:
            fid, data = (
                0x232,
                {
                    "MaximumDischargeCurrent": (k % 4000) / 4,
                    "MaximumChargeCurrent": 100.0,
                    "MaximumDischargePower": 10.0,
                    "MaximumChargePower": 5.0,
                    "MaximumBatteryVoltage": 60.0,
                    "MinimumBatteryVoltage": 40.0,
                },
            )
        elif kind == 5:
            page = (k // 8) % 4
            data = {"f_CellVoltages_Mux": page}
            for c in range(4):
                n_ = page * 4 + c
                data[f"CellVoltage_{n_:03d}"] = 3000 + (k + c) % 1000
                data[f"CellVoltage_{n_:03d}_invalidFlag"] = 1
            fid = 0x250
        elif kind == 6:
            m = db.get_message_by_frame_id(0x240)
            data = {s.name: 0 for s in m.signals if not s.multiplexer_ids or 0 in s.multiplexer_ids}
            data.update(
                {
                    "f_StringState_Mux": 0,
                    "IsStringConnected": k % 2,
                    "IsBalancingActive": (k // 2) % 2,
                    "OvervoltageMolWarning": (k // 4) % 2,
                    "UndervoltageMolWarning": (k // 8) % 2,
                    "OvervoltageMslError": (k // 16) % 2,
                    "UndervoltageMslError": (k // 32) % 2,
                    "StringOvercurrentError": (k // 64) % 2,
                    "OpenWireError": (k // 128) % 2,
                    "DeepDischargeError": (k // 256) % 2,
                    "NegativeContactorError": (k // 512) % 2,
                    "PositiveContactorError": (k // 1024) % 2,
                    "SlaveHardwareError": (k // 2048) % 2,
                }
            )
            fid = 0x240
        else:
            fid, data = (
                0x235,
                {
                    "MinimumSoc": (k % 1000) / 10,
                    "MaximumSoc": 50.0,
                    "MinimumSoe": 50.0,
                    "MaximumSoe": 50.0,
                    "Soh": 100.0,
                    "Energy": (k % 65535) / 10,
                },
            )
        out.append(
            can.Message(arbitration_id=fid, data=db.get_message_by_frame_id(fid).encode(data), is_extended_id=False)
        )
    return out


def run(n: int = 60_000) -> dict[str, float]:
    channel = f"essbench-bench-{uuid.uuid4().hex[:8]}"
    drv = FoxBmsCan(f"virtual:{channel}", name="bms_can", timeout=Q_(2, "s"))
    sender = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
    try:
        frames = payloads(drv.db, n)
        last: dict[int, bytes] = {}
        repeats = 0
        for m in frames:
            repeats += last.get(m.arbitration_id) == bytes(m.data)
            last[m.arbitration_id] = bytes(m.data)
        t0 = time.perf_counter()
        for m in frames:
            sender.send(m)
        t_sent = time.perf_counter()
        deadline = t_sent + 30.0
        while drv._seen < n and time.perf_counter() < deadline:  # bounded: 30 s at most
            time.sleep(0.001)
        t_done = time.perf_counter()
        c = drv.counters()
    finally:
        drv.close()
        sender.shutdown()
    handled = c["decoded"] + c["ignored"] + c["bad"]
    return {
        "frames_sent": n,
        "repeated_payloads": repeats,
        "frames_decoded": c["decoded"],
        "frames_bad": c["bad"],
        "frames_lost": n - handled,
        "seconds": t_done - t0,
        "send_seconds": t_sent - t0,
        "decoded_per_s": c["decoded"] / (t_done - t0),
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60_000
    r = run(n)
    print(
        f"FoxBmsCan decode on the virtual bus: {r['frames_decoded']:,} of {r['frames_sent']:,} frames "
        f"({r['repeated_payloads']} repeating their id's previous payload) in {r['seconds']:.3f} s "
        f"(sender alone {r['send_seconds']:.3f} s)"
    )
    print(f"  decoded per second: {r['decoded_per_s']:,.0f} (target >= {TARGET_FPS:,}; saturated 1 Mbit/s ~ 7,200)")
    print(f"  frames lost: {r['frames_lost']}  bad: {r['frames_bad']}")
    ok = r["decoded_per_s"] >= TARGET_FPS and r["frames_lost"] == 0 and r["frames_bad"] == 0
    print("  result:", "OK" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
