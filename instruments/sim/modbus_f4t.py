"""Simulated Watlow chamber controller over Modbus TCP, backed by the plant's chamber.

Two personalities, chosen by the role option `personality`:

* "f4t" (default): Watlow F4T loop-1 registers (ChamberConnectLibrary map, instruments.md §3.1),
  IEEE floats low word first. 2782 constant SP (rw), 2810 working SP, 2820 PV, 2774/2776 range
  min/max, 2730 loop mode write (10 auto = chamber runs, 62 off = stopped), 2814 loop mode read,
  2772 setpoint ramp rate in degC/min (0 = off) — the ramp register is our assumption, see
  instruments/watlow_f4t.py.
* "f4": classic Watlow Series F4 integer map (§3.2), values in tenths (606 = 1): 100 PV,
  300 static SP (rw), 602/603 SP low/high limit, 606 decimals, 901 units (1 = C), 200 profile
  status (0 = constant, no profile), 2000 event output 1 (rw, 1 = chamber on, TestEquity wiring).

A setpoint outside the range answers exception 3 and is not applied; writes to read-only
registers and reads of unmapped addresses answer exception 2 (pymodbus checks them).
"""

from __future__ import annotations

from typing import Any

from instruments.sim.modbus_server import ModbusSimServer, RegisterMap
from instruments.transports.modbus import float_to_registers, from_int16, registers_to_float, to_int16

LOOP_STRIDE = 160
MODE_AUTO, MODE_OFF = 10, 62


def _f(value: float) -> list[int]:
    return float_to_registers(value, "little")


def _from_f(regs: list[int]) -> float:
    value = registers_to_float(regs, "little")
    if value != value:  # NaN
        raise ValueError("NaN")
    return value


def f4t_map(chamber: Any, lock: Any = None, faults: list[Any] | None = None, loop: int = 1) -> RegisterMap:
    """Register map of an F4T loop over the plant chamber."""
    m = RegisterMap(lock, faults)
    o = (loop - 1) * LOOP_STRIDE
    ch = chamber

    def set_mode(regs: list[int]) -> None:
        if regs[0] not in (MODE_AUTO, MODE_OFF):
            raise ValueError(f"loop mode {regs[0]} not supported (10 auto, 62 off)")
        ch.set_running(regs[0] == MODE_AUTO)

    mode = lambda: [MODE_AUTO if ch.running else MODE_OFF]  # noqa: E731
    m.read(2730 + o, 1, mode)
    m.write(2730 + o, 1, set_mode)
    m.read(2772 + o, 6, lambda: _f(ch.ramp_rate_degC_per_min) + _f(ch.min_degC) + _f(ch.max_degC))
    m.write(2772 + o, 2, lambda r: ch.set_ramp_rate_degC_per_min(_from_f(r)))
    m.read(2782 + o, 2, lambda: _f(ch.setpoint_degC))
    m.write(2782 + o, 2, lambda r: ch.set_setpoint_degC(_from_f(r)))
    m.read(2810 + o, 2, lambda: _f(ch.working_setpoint_degC if ch.running else ch.setpoint_degC))
    m.read(2814 + o, 1, mode)
    m.read(2820 + o, 2, lambda: _f(ch.air_temperature_degC))
    m.read(16568, 1, lambda: [61])  # profile state: none (no profile engine simulated)
    return m


def f4_map(chamber: Any, lock: Any = None, faults: list[Any] | None = None) -> RegisterMap:
    """Register map of a classic F4 (tenths of a degree, signed) over the plant chamber."""
    m = RegisterMap(lock, faults)
    ch = chamber

    def tenths(value: float) -> list[int]:
        return [from_int16(max(-32768, min(32767, round(value * 10))))]

    def set_sp(regs: list[int]) -> None:
        ch.set_setpoint_degC(to_int16(regs[0]) / 10.0)

    def set_event(regs: list[int]) -> None:
        if regs[0] not in (0, 1):
            raise ValueError("event output takes 0 or 1")
        ch.set_running(regs[0] == 1)

    m.read(100, 1, lambda: tenths(ch.air_temperature_degC))
    m.read(200, 1, lambda: [1])  # profile status: constant set point, no profile running
    m.read(300, 1, lambda: tenths(ch.setpoint_degC))
    m.write(300, 1, set_sp)
    m.read(602, 2, lambda: tenths(ch.min_degC) + tenths(ch.max_degC))
    m.read(606, 1, lambda: [1])
    m.read(901, 1, lambda: [1])
    m.read(2000, 1, lambda: [1 if ch.running else 0])
    m.write(2000, 1, set_event)
    return m


def serve(plant: Any, role: Any, clock: Any) -> ModbusSimServer:
    """Start the simulated chamber controller for a station role; returns the running server."""
    opts = dict(getattr(role, "options", {}) or {})
    default = "f4" if str(getattr(role, "driver", "")).endswith(":WatlowF4") else "f4t"
    personality = str(opts.get("personality", default)).lower()
    faults = plant.instrument_faults.setdefault(role.role, [])
    if personality == "f4t":
        regmap = f4t_map(plant.chamber, clock.lock, faults, loop=int(opts.get("loop", 1)))
    elif personality == "f4":
        regmap = f4_map(plant.chamber, clock.lock, faults)
    else:
        raise ValueError(f"unknown Watlow personality {personality!r}; expected 'f4t' or 'f4'")
    server = ModbusSimServer(regmap.device(int(opts.get("device_id", 1))), name=f"watlow-{personality}")
    server.regmap = regmap  # type: ignore[attr-defined]
    return server.start()
