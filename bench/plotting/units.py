"""Axis units from bench's one pint registry: labels, conversion, and readable time units.

A trace may carry its own unit (or be a pint quantity array); it is converted to its axis's unit
here, so a figure never mixes V and mV on one scale by accident, and an incompatible unit is an
error naming the trace rather than a wrong picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pint

from bench.plotting.errors import PlotError
from bench.units import Q_, ureg

TIME_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0), ("d", 86400.0))


def parse_unit(unit: str, what: str) -> pint.Unit:
    try:
        return ureg.Unit(unit)
    except Exception as exc:  # pint raises several kinds for a bad string
        raise PlotError(f"{what}: {unit!r} is not a unit of the bench's registry ({exc})") from None


def is_unit(unit: str) -> bool:
    """True when `unit` parses in the bench's registry (a series unit may be free text)."""
    try:
        ureg.Unit(unit)
    except Exception:
        return False
    return True


def unit_label(unit: str, what: str = "axis") -> str:
    """Display text of a unit: '°C', 'kW', 'A·h' (the caller's order of factors is kept)."""
    if not unit:
        return ""
    parsed = parse_unit(unit, what)
    if "*" in unit or "·" in unit:  # pint would sort the factors: 'kW·h' must not read 'h·kW'
        return unit.replace("*", "·").replace(" ", "")
    return f"{parsed:~P}"


def magnitudes(values: Any, unit: str | None, axis_unit: str, what: str) -> np.ndarray:
    """Float array in the axis's unit from a pint quantity, or from numbers in `unit` (None: already
    in the axis unit)."""
    if isinstance(values, pint.Quantity):
        if not axis_unit:
            raise PlotError(f"{what}: values carry the unit {values.units:~P} but the axis has no unit")
        try:
            return np.asarray(values.to(axis_unit).magnitude, dtype=float)
        except pint.DimensionalityError:
            raise PlotError(f"{what}: {values.units:~P} does not convert to the axis unit {axis_unit!r}") from None
    arr = np.asarray(values, dtype=float)
    if unit is None or unit == axis_unit:
        return arr
    if not axis_unit:
        raise PlotError(f"{what}: values in {unit!r} but the axis has no unit")
    parse_unit(unit, what)
    try:
        return np.asarray(Q_(arr, unit).to(axis_unit).magnitude, dtype=float)
    except pint.DimensionalityError:
        raise PlotError(f"{what}: {unit!r} does not convert to the axis unit {axis_unit!r}") from None


def readable_time(unit: str, span: float) -> tuple[str, float]:
    """(display unit, divisor) so a time axis in `unit` reads in s, min, h or d: at least 3 of them."""
    seconds = float(Q_(span, unit).to("s").magnitude)
    per = float(Q_(1.0, unit).to("s").magnitude)
    name, size = TIME_UNITS[0]
    for cand, cand_s in TIME_UNITS:
        if seconds >= 3 * cand_s:
            name, size = cand, cand_s
    return name, size / per
