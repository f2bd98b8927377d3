"""Argument checks shared by every Stimulus backend (HIL device, operator prompt).

A stimulus argument is refused before anything is sent or asked, with an
`InstrumentRangeError` naming the backend (station role), the stimulus and what was expected,
so a plan fails the same way on every station. Names (gas sources, sensor channels, zones,
link roles) are checked for form only here; whether the device knows one is the device's
answer (the HIL's SCPI error names the known ones).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pint

from instruments.errors import InstrumentRangeError

NAME = re.compile(r"^[A-Za-z0-9_.,:\[\]-]{1,64}$")

# Wire unit of a value by its dimension: what `STIM:SENS` and the prompts write.
WIRE_UNITS: dict[str, tuple[str, str]] = {
    "[electric_potential]": ("V", "V"),
    "[current]": ("A", "A"),
    "[temperature]": ("degC", "CEL"),
    "[pressure]": ("Pa", "PA"),
    "[power]": ("W", "W"),
}


def check_name(backend: str, what: str, name: Any) -> str:
    """A channel/zone/source/role name: 1-64 characters of letters, digits and `_ . , : [ ] -`."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InstrumentRangeError(
            backend, f"{what} must be 1-64 characters of letters, digits and _.,:[]-, got {name!r}"
        )
    return name


def _quantity(backend: str, what: str, q: Any) -> pint.Quantity:
    if not isinstance(q, pint.Quantity):
        raise InstrumentRangeError(backend, f"{what} must be a quantity with a unit, got {q!r}")
    if not math.isfinite(float(q.magnitude)):
        raise InstrumentRangeError(backend, f"{what} must be finite, got {q!r}")
    return q


def in_unit(backend: str, what: str, q: Any, unit: str, *, minimum: float | None = None) -> float:
    """`q` as a float in `unit`; refuses a bare number, a wrong dimension, NaN, or a value below `minimum`."""
    q = _quantity(backend, what, q)
    try:
        value = float(q.to(unit).magnitude)
    except pint.DimensionalityError as exc:
        raise InstrumentRangeError(backend, f"{what} must be in {unit}, got {q:~P}") from exc
    if minimum is not None and value < minimum:
        raise InstrumentRangeError(backend, f"{what} must be >= {minimum:g} {unit}, got {q:~P}")
    return value


def sensor_value(backend: str, channel: str, q: Any) -> tuple[float, str, str]:
    """A sensor value as (number, display unit, wire suffix); its dimension picks the unit."""
    q = _quantity(backend, f"value for {channel}", q)
    for dimension, (unit, suffix) in WIRE_UNITS.items():
        if q.check(dimension):
            try:
                return float(q.to(unit).magnitude), unit, suffix
            except pint.DimensionalityError as exc:  # a temperature difference is not a reading
                raise InstrumentRangeError(
                    backend, f"value for {channel} must be an absolute {unit} value, got {q:~P}"
                ) from exc
    raise InstrumentRangeError(
        backend, f"value for {channel} must be a voltage, current, temperature, pressure or power, got {q:~P}"
    )


def gas_rates(backend: str, source: str, rates: Any) -> dict[str, float]:
    """Release rates per species in ppm/s (each >= 0, at least one > 0)."""
    if not isinstance(rates, Mapping) or not rates:
        raise InstrumentRangeError(
            backend,
            f"gas release {source!r}: rates must be a non-empty mapping "
            f"{{species: rate}}, got {rates!r}; None stops the release",
        )
    out: dict[str, float] = {}
    for species, rate in rates.items():
        check_name(backend, "gas species", species)
        out[str(species)] = in_unit(backend, f"gas release {source!r} {species} rate", rate, "ppm/s", minimum=0.0)
    if not any(out.values()):
        raise InstrumentRangeError(backend, f"gas release {source!r}: every rate is zero; None stops the release")
    return out


def cell_index(backend: str, cell: Any) -> int:
    if isinstance(cell, bool) or not isinstance(cell, int) or cell < 0:
        raise InstrumentRangeError(backend, f"cell must be a series-element index >= 0, got {cell!r}")
    return cell


def fmt(value: float, unit: str) -> str:
    """A value for a prompt or a description: 6 significant digits and the unit."""
    return f"{value:.6g} {unit}"
