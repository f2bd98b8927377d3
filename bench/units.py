"""The one pint registry of the bench, and parsing of quantity strings from config files.

Every value with a unit crosses module boundaries as a `Q_`; config files write "3.65 V".
Offset units (degC) are converted to base units on multiplication so ΔT arithmetic works.
"""

from __future__ import annotations

import math
from typing import Any

import pint

from bench.errors import ConfigError


def _new_registry() -> pint.UnitRegistry:
    """The registry, with pint's parsed definitions cached on disk (saves ~0.1 s on every start).

    The cache lives in the user's cache folder; any problem with it (read-only home, a file half
    written by a parallel process) falls back to parsing the definitions afresh.
    """
    try:
        return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=":auto:")
    except Exception:  # noqa: BLE001 - the cache is an optimisation only
        return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def _memoise_unit_parsing(registry: pint.UnitRegistry, limit: int = 4096) -> None:
    """Parse each unit string once per process.

    pint parses the unit text again on every `Q_(x, "V")` and `q.to("mV")` (10-15 us each; a
    simulated safety-chain run does it about 40,000 times). The bench never redefines a unit after
    the registry is built, and pint treats a UnitsContainer as immutable, so a parse can be reused.
    Errors are not remembered: a bad unit string fails every time, with pint's own message.
    """
    parse = registry.parse_units_as_container
    memo: dict[tuple[Any, Any, Any], Any] = {}

    def parse_units_as_container(input_string: str, as_delta: bool | None = None, case_sensitive: bool | None = None):  # noqa: ANN202
        key = (input_string, as_delta, case_sensitive)
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # not hashable: not a unit string, let pint say what it is
            return parse(input_string, as_delta, case_sensitive)
        units = parse(input_string, as_delta, case_sensitive)
        if len(memo) < limit:
            memo[key] = units
        return units

    registry.parse_units_as_container = parse_units_as_container  # type: ignore[method-assign]


ureg = _new_registry()
ureg.formatter.default_format = "~P"
_memoise_unit_parsing(ureg)
Q_ = ureg.Quantity
Quantity = pint.Quantity

# Named dimensions used in limit files and checks; a dimension string is also accepted.
DIMENSIONS: dict[str, str] = {
    "voltage": "[electric_potential]",
    "current": "[current]",
    "resistance": "[resistance]",
    "power": "[power]",
    "energy": "[energy]",
    "charge": "[charge]",
    "temperature": "[temperature]",
    "time": "[time]",
    "frequency": "1/[time]",
    "length": "[length]",
    "area": "[length] ** 2",
    "volume": "[length] ** 3",
    "pressure": "[pressure]",
    "flow": "[length] ** 3 / [time]",
    "temperature_rate": "[temperature] / [time]",
    "current_rate": "[current] / [time]",
    "power_rate": "[power] / [time]",
    "capacity_rate": "1/[time]",
    "dimensionless": "[]",
}


def parse_quantity(
    value: Any,
    *,
    source: str | None = None,
    key: str | None = None,
    dimension: str | pint.Quantity | None = None,
    finite: bool = True,
) -> pint.Quantity:
    """Parse "3.65 V" (or a number, for dimensionless values) into a quantity.

    `dimension` may be a named dimension ("voltage"), a pint dimensionality string, or an
    example quantity/unit whose dimensionality the value must share. Non-finite magnitudes
    ("nan V", "inf A", "1e400 s") are refused: a NaN bound always passes and an infinite one
    never trips, so neither may come from a file.
    """
    if isinstance(value, pint.Quantity):
        q = value
    elif isinstance(value, bool):
        raise ConfigError(f'expected a quantity such as "3.65 V", got boolean {value!r}', source=source, key=key)
    elif isinstance(value, int | float):
        q = Q_(value, "dimensionless")
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ConfigError('expected a quantity such as "3.65 V", got an empty string', source=source, key=key)
        try:
            q = Q_(text)
        except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as exc:
            raise ConfigError(f"cannot parse quantity {value!r}: {exc}", source=source, key=key) from exc
        except Exception as exc:  # pint raises assorted errors on garbage (tokenize, ValueError)
            raise ConfigError(f"cannot parse quantity {value!r}: {exc}", source=source, key=key) from exc
        if not isinstance(q, pint.Quantity):
            q = Q_(q, "dimensionless")
    else:
        raise ConfigError(
            f'expected a quantity string such as "3.65 V", got {type(value).__name__} {value!r}',
            source=source,
            key=key,
        )
    if finite and not is_finite(q):
        raise ConfigError(
            f"non-finite value {value!r} refused (NaN or infinity is never a usable bound)", source=source, key=key
        )
    if dimension is not None:
        check_dimension(q, dimension, source=source, key=key)
    return q


def is_finite(q: pint.Quantity | float) -> bool:
    """True for a finite real magnitude (scalar or array)."""
    mag = q.magnitude if isinstance(q, pint.Quantity) else q
    try:
        return bool(math.isfinite(mag))
    except TypeError:
        import numpy as np

        return bool(np.all(np.isfinite(np.asarray(mag, dtype=float))))


def non_finite_errors(node: Any, source: str, key: str) -> list[ConfigError]:
    """NaN or infinity anywhere in a free-form table or list ("nan", "inf V", 1e400): one error each."""
    out: list[ConfigError] = []
    if isinstance(node, float) and not math.isfinite(node):
        out.append(ConfigError(f"non-finite value {node!r} refused", source=source, key=key))
    elif isinstance(node, str) and _non_finite_text(node):
        out.append(ConfigError(f"non-finite value {node!r} refused", source=source, key=key))
    elif isinstance(node, dict):
        for k, v in node.items():
            out += non_finite_errors(v, source, f"{key}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += non_finite_errors(v, source, f"{key}[{i}]")
    return out


def _non_finite_text(text: str) -> bool:
    head = text.strip().split(" ", 1)[0].lower().lstrip("+-")
    if head in ("nan", "inf", "infinity"):
        return True
    if head[:1].isdigit() or head[:1] == ".":
        try:
            return not math.isfinite(float(head))
        except ValueError:
            return False
    return False


def dimensionality(dimension: str | pint.Quantity | pint.Unit) -> Any:
    """The pint dimensionality a named dimension, a dimension string, a unit or a quantity stands for."""
    if isinstance(dimension, pint.Quantity | pint.Unit):
        return dimension.dimensionality
    name = DIMENSIONS.get(dimension, dimension)
    if "[" in name:
        return ureg.get_dimensionality(name) if name != "[]" else ureg.dimensionless.dimensionality
    return ureg.Unit(name).dimensionality


def check_dimension(
    q: pint.Quantity,
    dimension: str | pint.Quantity | pint.Unit,
    *,
    source: str | None = None,
    key: str | None = None,
) -> None:
    """Raise ConfigError naming file and key when `q` does not have the wanted dimension."""
    want = dimensionality(dimension)
    if q.dimensionality != want:
        label = (
            dimension
            if isinstance(dimension, str)
            else f"{dimension:~P}"
            if isinstance(dimension, pint.Quantity)
            else str(dimension)
        )
        raise ConfigError(f"{q:~P} has dimension {q.dimensionality}, expected {label} ({want})", source=source, key=key)


def as_seconds(dt: pint.Quantity | float | int, *, what: str = "duration") -> float:
    """Seconds from a time quantity; bare numbers are refused so a unit is never guessed."""
    if not isinstance(dt, pint.Quantity):
        raise TypeError(f"{what} must be a time quantity such as Q_(10, 's'), got {dt!r}")
    if dt.dimensionality != ureg.second.dimensionality:
        raise pint.DimensionalityError(dt.units, ureg.second, extra_msg=f" ({what})")
    return float(dt.to("s").magnitude)


def fmt(q: pint.Quantity, digits: int = 6) -> str:
    """Human text for a quantity, e.g. '3.3012 V'."""
    return f"{q.magnitude:.{digits}g} {q.units:~P}".strip()
