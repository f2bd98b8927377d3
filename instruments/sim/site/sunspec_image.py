"""A SunSpec register image built from pysunspec2's model definitions, computed on every read.

The simulated device lays out its models from the same SunSpec JSON definitions a client reads
(pysunspec2's `sunspec2.device.Model`, vendor models included), so the layout, scale factors,
repeating groups and "not implemented" markers are SunSpec's, not a hand-written copy. Each
model has a `fill(model)` that sets its point values from the plant just before a read touches
it; writes are decoded per point (a write must cover whole points, every point written must be
writable, `access = RW` in the definition) and handed to `on_write(name, value)` with the value
scaled to engineering units, where a ValueError becomes Modbus exception 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sunspec2.device as ss_device

from instruments.sim.site.modbus_tcp import ModbusError

SUNS = [0x5375, 0x6E53]
END = [0xFFFF, 0x0000]
_RANGES = {
    "int16": (-0x7FFF, 0x7FFF),
    "uint16": (0, 0xFFFE),
    "int32": (-0x7FFFFFFF, 0x7FFFFFFF),
    "uint32": (0, 0xFFFFFFFE),
    "uint64": (0, 0xFFFFFFFFFFFFFFFE),
    "acc32": (0, 0xFFFFFFFF),
    "acc64": (0, 0x7FFFFFFFFFFFFFFF),
    "enum16": (0, 0xFFFE),
    "bitfield16": (0, 0x7FFF),
    "bitfield32": (0, 0x7FFFFFFF),
    "sunssf": (-10, 10),
    "count": (0, 0xFFFE),
}


class NotImplementedPointError(ValueError):
    """A write to a point the device marks not implemented (Modbus exception 2)."""


def put(group: Any, values: dict[str, Any]) -> None:
    """Set point values (engineering units; None = not implemented), clamped to the point type."""
    pts = group.points
    for name, v in values.items():
        p = pts[name]
        if v is None:
            p.set_value(None)
            continue
        if isinstance(v, str):
            p.set_value(v)
            continue
        sf = None
        if p.sf_required:
            if p.sf is None:
                sf = p.sf_value
            else:
                sfp = pts.get(p.sf) or group.model.points[p.sf]
                sf = sfp.value
        raw = round(float(v) / 10.0**sf) if sf is not None else int(round(float(v)))
        lo, hi = _RANGES.get(p.pdef["type"], (None, None))
        if lo is not None:
            raw = max(lo, min(hi, raw))
        p.set_value(raw)


@dataclass
class Slot:
    model_id: int
    model: Any
    addr: int  # address of the ID register
    length: int  # registers including ID and L
    fill: Callable[[Any], None]
    on_write: Callable[[str, Any], None] | None
    prefix: str
    points: list[tuple[int, int, Any, str]] = field(default_factory=list)  # (offset, len, point, name)


def _flatten(group: Any, prefix: str, out: list[tuple[int, int, Any, str]]) -> None:
    for name, p in group.points.items():
        out.append((p.offset, p.len, p, f"{prefix}{name}"))
    for gname, g in group.groups.items():
        items = g if isinstance(g, list) else [g]
        for i, sub in enumerate(items):
            _flatten(sub, f"{prefix}{gname}[{i + 1}].", out)


class SunSpecImage:
    """Models at consecutive addresses from `base` (SunS, models..., end model)."""

    def __init__(self, base: int = 40000, not_implemented: Callable[[], set[str]] | None = None) -> None:
        self.base = base
        self.slots: list[Slot] = []
        self.next = base + 2
        self.not_implemented = not_implemented or (lambda: set())
        self.count: dict[int, int] = {}

    def add(
        self,
        model_id: int,
        fill: Callable[[Any], None],
        *,
        data: dict[str, Any] | None = None,
        on_write: Callable[[str, Any], None] | None = None,
    ) -> Any:
        model = ss_device.Model(model_id, data={"ID": model_id, **(data or {})})
        if model.error_info:
            raise ValueError(f"SunSpec model {model_id}: {model.error_info.strip()}")
        self.count[model_id] = self.count.get(model_id, 0) + 1
        n = self.count[model_id]
        prefix = f"{model_id}." if n == 1 else f"{model_id}[{n}]."
        slot = Slot(model_id, model, self.next, int(model.len), fill, on_write, prefix)
        _flatten(model, "", slot.points)
        self.slots.append(slot)
        self.next += slot.length
        return model

    @property
    def end(self) -> int:
        return self.next + 2

    def _regs(self, slot: Slot) -> list[int]:
        slot.fill(slot.model)
        off = self.not_implemented()
        if off:
            for _, _, p, name in slot.points:
                if slot.prefix + name in off or f"{slot.model_id}.{name}" in off:
                    p.set_value(None)
        data = slot.model.get_mb()
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]

    def read(self, address: int, count: int) -> list[int]:
        end = address + count
        if address < self.base or end > self.end:
            raise ModbusError(2)
        out = [0] * count
        for a, vals in ((self.base, SUNS), (self.next, END)):
            for i, v in enumerate(vals):
                if address <= a + i < end:
                    out[a + i - address] = v
        for slot in self.slots:
            if slot.addr < end and address < slot.addr + slot.length:
                regs = self._regs(slot)
                lo, hi = max(address, slot.addr), min(end, slot.addr + slot.length)
                out[lo - address : hi - address] = regs[lo - slot.addr : hi - slot.addr]
        return out

    def write(self, address: int, values: list[int], peer: str) -> None:
        slot = next((s for s in self.slots if s.addr <= address < s.addr + s.length), None)
        if slot is None or slot.on_write is None or address + len(values) > slot.addr + slot.length:
            raise ModbusError(2)
        slot.fill(slot.model)  # scale factors current
        rel, end = address - slot.addr, address - slot.addr + len(values)
        chosen = [(o, n, p, name) for o, n, p, name in slot.points if o < end and rel < o + n]
        if not chosen or chosen[0][0] != rel or chosen[-1][0] + chosen[-1][1] != end:
            raise ModbusError(3)  # a write must cover whole points
        if any(p.pdef.get("access") != "RW" for _, _, p, _ in chosen):
            raise ModbusError(2)
        data = b"".join(int(v).to_bytes(2, "big") for v in values)
        for o, n, p, name in chosen:
            p.set_mb(data[2 * (o - rel) : 2 * (o - rel + n)])
            value = p.cvalue if p.sf_required else p.value
            if value is None:
                raise ModbusError(3)
            try:
                slot.on_write(slot.prefix + name, value)
            except NotImplementedPointError as exc:
                raise ModbusError(2) from exc
            except ValueError as exc:
                raise ModbusError(3) from exc
