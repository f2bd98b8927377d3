"""Point access on top of pysunspec2 models: names, units, symbols, "not implemented".

A point is named "<model>[<instance>].<point>", instance 1-based and omitted for the first;
points of repeating groups as "<model>.<Group>[<i>].<point>" (e.g. "64901.Blk[2].BmsVr").
Values come back as pint quantities in the unit the SunSpec definition gives (W, VA, Wh, V,
A, Hz, C -> degC, Pct -> percent, Secs -> s, kPa, %Max/Sec -> percent/s), enumerations and
bitfields with their symbol names. A point that reads "not implemented" (int16 0x8000, uint16
0xFFFF, ...) has value None and `implemented` False: never a made-up number.
"""

from __future__ import annotations

import re
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import SitePoint

UNITS = {
    "W": "W",
    "VA": "VA",
    "Var": "VA",
    "var": "VA",
    "Wh": "W*h",
    "WH": "W*h",
    "Varh": "VA*h",
    "A": "A",
    "V": "V",
    "Hz": "Hz",
    "C": "degC",
    "Pct": "percent",
    "Secs": "s",
    "kPa": "kPa",
    "%Max/Sec": "percent/s",
    "AH": "A*h",
    "Ah": "A*h",
    "S": "S",
    "Tmp": "degC",
    "%": "percent",
    "%WHRtg": "percent",
}
_NAME = re.compile(r"^(\d+)(?:\[(\d+)\])?\.(.+)$")
_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def parse_name(name: str) -> tuple[int, int, list[tuple[str, int | None]]]:
    """'802[2].SoC' -> (802, 2, [('SoC', None)]); raises ValueError for a malformed name."""
    m = _NAME.match(name.strip())
    if not m:
        raise ValueError(
            f"point name {name!r}: expected '<model>[<instance>].<point>', e.g. '704.WSet' or '802[2].SoC'"
        )
    parts: list[tuple[str, int | None]] = []
    for part in m.group(3).split("."):
        pm = _PART.match(part)
        if not pm:
            raise ValueError(f"point name {name!r}: bad part {part!r}")
        parts.append((pm.group(1), int(pm.group(2)) if pm.group(2) else None))
    return int(m.group(1)), int(m.group(2) or 1), parts


def locate(model: Any, parts: list[tuple[str, int | None]], name: str) -> Any:
    """The pysunspec2 point object for the parsed parts inside `model`."""
    node = model
    for i, (part, idx) in enumerate(parts):
        last = i == len(parts) - 1
        if last:
            p = node.points.get(part)
            if p is None:
                raise KeyError(f"{name}: model {model.model_id} has no point {part!r}")
            return p
        g = node.groups.get(part)
        if g is None:
            raise KeyError(f"{name}: model {model.model_id} has no group {part!r}")
        if isinstance(g, list):
            if idx is None or not 1 <= idx <= len(g):
                raise KeyError(f"{name}: group {part} has {len(g)} entries; give {part}[1..{len(g)}]")
            node = g[idx - 1]
        else:
            node = g
    raise KeyError(name)


def unit_of(point: Any) -> str | None:
    """The pint unit of a point; a unit string this table does not know is kept out (no guess)."""
    u = point.pdef.get("units")
    return UNITS.get(u) if u else None


def symbols(point: Any) -> dict[int, str]:
    return {int(s["value"]): str(s["name"]) for s in point.pdef.get("symbols", []) or []}


def bit_names(point: Any, value: int | None) -> list[str]:
    if not value:
        return []
    table = symbols(point)
    return [table.get(b, f"bit{b}") for b in range(32) if value >> b & 1]


def to_site_point(name: str, point: Any) -> SitePoint:
    """Decode the point's present value (read it first) into a SitePoint."""
    raw = point.value
    if raw is None:
        return SitePoint(name, None, implemented=False)
    typ = point.pdef["type"]
    if typ == "string":
        return SitePoint(name, str(raw), raw=str(raw))
    if typ.startswith("enum"):
        return SitePoint(name, int(raw), raw=int(raw), symbol=symbols(point).get(int(raw)))
    if typ.startswith("bitfield"):
        return SitePoint(name, int(raw), raw=int(raw), symbol=",".join(bit_names(point, int(raw))) or None)
    value = point.cvalue if point.sf_required else raw
    if value is None:  # its scale factor is not implemented
        return SitePoint(name, None, implemented=False, raw=int(raw))
    unit = unit_of(point)
    return SitePoint(
        name,
        Q_(float(value), unit) if unit else int(value) if float(value).is_integer() else float(value),
        raw=int(raw),
    )


def to_raw(point: Any, value: pint.Quantity | int | float | str) -> Any:
    """Engineering value (a quantity in any compatible unit) -> what pysunspec2's cvalue expects."""
    if isinstance(value, str):
        if point.pdef["type"].startswith("enum"):
            by_name = {v: k for k, v in symbols(point).items()}
            if value not in by_name:
                raise ValueError(f"{point.pdef['name']}: {value!r} is not one of {sorted(by_name)}")
            return by_name[value]
        return value
    if isinstance(value, pint.Quantity):
        unit = unit_of(point)
        if unit is None:
            raise ValueError(f"{point.pdef['name']} has no unit; got {value:~P}")
        return float(value.to(unit).magnitude)
    return value
