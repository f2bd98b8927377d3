"""Reading the dispatch TOML files: every value parsed with its unit, range-checked, every problem at once.

Why a reader object: a tariff or a battery file has many keys, and a user should fix them in one
pass, so problems are collected (each a ConfigError naming the file and the dotted key) and raised
together at the end. Money has no pint unit, so prices are written "0.31 EUR/kWh": the currency is
checked against the file's `currency` and the rest ("1/kWh") is parsed by `bench.units`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pint

from bench.errors import ConfigError, ConfigErrors
from bench.units import Q_, parse_quantity

_MONEY = re.compile(r"^\s*(?P<num>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*(?P<cur>[A-Za-z]{3})\s*(?P<per>/.*)?$")
MISSING = object()


class TomlReader:
    """Typed, unit-checked access to a parsed TOML table; errors are collected, not raised one by one."""

    def __init__(self, data: dict[str, Any], source: str):
        self.data, self.source = data, source
        self.errors: list[ConfigError] = []

    def error(self, message: str, key: str | None) -> None:
        self.errors.append(ConfigError(message, source=self.source, key=key))

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)

    def table(self, key: str, required: bool = True) -> dict[str, Any]:
        value = self.data.get(key, MISSING)
        if value is MISSING:
            if required:
                self.error("missing required table", key)
            return {}
        if not isinstance(value, dict):
            self.error(f"expected a table, got {type(value).__name__}", key)
            return {}
        return value

    def unknown(self, table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        """A typo is an error, not a silently ignored key."""
        for k in sorted(set(table) - allowed):
            self.error(f"unknown key (expected one of: {', '.join(sorted(allowed))})", f"{prefix}.{k}" if prefix else k)

    def _lookup(self, table: dict[str, Any], prefix: str, key: str, default: Any) -> tuple[bool, Any, str]:
        """(found, value or default, dotted key); a missing required key is recorded as an error."""
        full = f"{prefix}.{key}" if prefix else key
        if key in table:
            return True, table[key], full
        if default is MISSING:
            self.error("missing required key", full)
        return False, None if default is MISSING else default, full

    def get(self, table: dict[str, Any], prefix: str, key: str, kind: type | tuple, default: Any = MISSING) -> Any:
        found, value, full = self._lookup(table, prefix, key, default)
        if not found:
            return value
        if isinstance(value, bool) and kind is not bool and (not isinstance(kind, tuple) or bool not in kind):
            self.error(f"expected {_kind_name(kind)}, got boolean {value!r}", full)
            return None
        if not isinstance(value, kind):
            self.error(f"expected {_kind_name(kind)}, got {type(value).__name__} {value!r}", full)
            return None
        return value

    def quantity(
        self,
        table: dict[str, Any],
        prefix: str,
        key: str,
        dimension: str,
        *,
        default: Any = MISSING,
        low: str | None = None,
        high: str | None = None,
        low_open: bool = False,
    ) -> pint.Quantity | None:
        """A quantity with its unit, within [low, high] (low excluded with `low_open`); None on error/absent."""
        found, value, full = self._lookup(table, prefix, key, default)
        if not found and value is None:
            return None
        try:
            q = parse_quantity(value, source=self.source, key=full, dimension=dimension)
        except ConfigError as exc:
            self.errors.append(exc)
            return None
        return self._range(q, full, low, high, low_open)

    def money(
        self,
        table: dict[str, Any],
        prefix: str,
        key: str,
        currency: str,
        per: str | None,
        *,
        default: Any = MISSING,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float | None:
        """An amount "12.5 EUR/kW" as currency per `per` unit (a float), or "150000 EUR" when `per` is None."""
        found, value, full = self._lookup(table, prefix, key, default)
        if not found:
            return value
        try:
            amount = parse_money(value, currency, per, source=self.source, key=full)
        except ConfigError as exc:
            self.errors.append(exc)
            return None
        unit = f"{currency}/{per}" if per else currency
        if low is not None and (amount < low or (low_open and amount == low)):
            self.error(f"{value!r} must be {'>' if low_open else '>='} {low:g} {unit}", full)
            return None
        if high is not None and amount > high:
            self.error(f"{value!r} must be <= {high:g} {unit}", full)
            return None
        return amount

    def _range(
        self, q: pint.Quantity, key: str, low: str | None, high: str | None, low_open: bool
    ) -> pint.Quantity | None:
        if not math.isfinite(float(q.magnitude)):
            self.error(f"non-finite value {q:~P} refused", key)
            return None
        if low is not None:
            lo = Q_(low)
            if q < lo or (low_open and q == lo):
                self.error(f"{q:~P} must be {'>' if low_open else '>='} {lo:~P}", key)
                return None
        if high is not None and q > Q_(high):
            self.error(f"{q:~P} must be <= {Q_(high):~P}", key)
            return None
        return q


def parse_money(
    value: Any, currency: str, per: str | None, *, source: str | None = None, key: str | None = None
) -> float:
    """ "0.31 EUR/kWh" -> 0.31 (currency per `per`); the currency must be the file's, the rest a real unit."""
    want = f'"1.5 {currency}/{per}"' if per else f'"1500 {currency}"'
    if not isinstance(value, str) or isinstance(value, bool):
        raise ConfigError(f"expected an amount with its currency such as {want}, got {value!r}", source=source, key=key)
    m = _MONEY.match(value)
    if not m:
        raise ConfigError(f"expected an amount with its currency such as {want}, got {value!r}", source=source, key=key)
    if m["cur"].upper() != currency.upper():
        raise ConfigError(f"{value!r} is in {m['cur']}, but the file's currency is {currency}", source=source, key=key)
    number = float(m["num"])
    if not math.isfinite(number):
        raise ConfigError(f"non-finite value {value!r} refused", source=source, key=key)
    per_text = (m["per"] or "").strip()
    if per is None:
        if per_text:
            raise ConfigError(f"expected a plain amount such as {want}, got {value!r}", source=source, key=key)
        return number
    if not per_text:
        raise ConfigError(f"expected an amount per {per} such as {want}, got {value!r}", source=source, key=key)
    try:
        rate = parse_quantity(f"{number!r} {per_text}", source=source, key=key, dimension=f"1/{per}")
    except ConfigError as exc:
        raise ConfigError(f"{value!r}: expected an amount per {per} ({exc})", source=source, key=key) from None
    return float(rate.to(f"1/{per}").magnitude)


def _kind_name(kind: type | tuple) -> str:
    names = {str: "text", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)
