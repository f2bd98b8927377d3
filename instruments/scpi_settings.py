"""Declarative SCPI settings: one declaration per instrument setting, shared by driver and simulator.

A model's setting is declared once, on its driver class, with its SCPI header, unit, bounds
(numbers, or `Rating`s taken from the model's ratings) and whether the driver confirms it by
reading it back, in the spirit of pymeasure's `Instrument.control`:

    class KeysightRP7900(ScpiDriver, PowerSupply):
        VOLTAGE = Setting("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", "V", "voltage",
                          low=0, high=Rating("voltage"))
        set_voltage = VOLTAGE.setter("CV setpoint.")
        voltage_setpoint = VOLTAGE.getter("The CV setpoint as the supply holds it.")

The driver (`ScpiDriver.write_setting`) checks a value against the bounds before anything is
sent (`InstrumentRangeError`, nothing written), sends the header's short form with the value,
reads the error queue and, for `readback=True`, reads the value back and compares. The
simulator registers the same declaration in its command table (`ScpiInstrument.setting`), so
it accepts the long and short forms of the same header and refuses values outside the same
bounds (evaluated against the simulated model's ratings) with -222 "Data out of range". The
bounds therefore live in one place, the declaration, and a driver and its simulator cannot
drift apart.

This module imports no VISA library: simulators use it without opening anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pint

from instruments.errors import InstrumentRangeError, InstrumentReplyError

Ratings = Mapping[str, float]
"""A model's ratings in SI units by name ({"voltage": 80.0, "current": 200.0, ...})."""


@dataclass(frozen=True)
class Rating:
    """A bound taken from the model's ratings: `scale * ratings[name]`."""

    name: str
    scale: float = 1.0

    def value(self, ratings: Ratings) -> float:
        try:
            return self.scale * float(ratings[self.name])
        except KeyError:
            raise KeyError(f"rating {self.name!r} is not among the model's ratings {sorted(ratings)}") from None

    def __str__(self) -> str:
        return self.name if self.scale == 1.0 else f"{self.scale:g} x {self.name}"


Bound = float | int | Rating | None


# -- SCPI headers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """One keyword of a header pattern: short and long form, and whether it may be left out."""

    short: str
    long: str
    optional: bool


def header_nodes(pattern: str) -> list[Node]:
    """'[SOURce:]VOLTage[:LEVel]' -> its keywords (the query mark is the caller's business).

    Upper-case letters are the short form; numeric suffixes (L1, QUEStionable2) belong to both forms.
    """
    nodes: list[Node] = []
    for optional, word in re.findall(r"(\[?):?([A-Za-z*][A-Za-z0-9*]*)\]?", pattern.rstrip("?")):
        stem = word.rstrip("0123456789")
        digits = word[len(stem) :]
        short = "".join(c for c in stem if c.isupper() or c == "*") + digits
        nodes.append(Node(short.upper(), word.upper(), bool(optional)))
    return nodes


def short_form(pattern: str) -> str:
    """What a driver sends for a header pattern: the short form of its mandatory keywords.

    '[SOURce:]CURRent:LIMit:NEGative[:IMMediate]' -> 'CURR:LIM:NEG'.
    """
    return ":".join(n.short for n in header_nodes(pattern) if not n.optional)


# -- declarations -----------------------------------------------------------------------------
class _Declaration:
    """What every kind of declaration shares: the header's wire form and one-line driver methods
    (`set_x = X.setter()`, `x = X.getter()`) that call the driver base's writer and reader."""

    header: str
    what: str
    send: str | None
    _write = ""  # the ScpiDriver method that writes this kind of declaration
    _read = ""

    @property
    def command(self) -> str:
        return self.send or short_form(self.header)

    def setter(self, doc: str = "") -> Callable[[Any, Any], None]:
        """A driver method `set_x(value)` for this declaration."""
        decl, write = self, self._write

        def set_value(drv: Any, value: Any) -> None:
            getattr(drv, write)(decl, value)

        set_value.__doc__ = doc or f"Set the {self.what} ({self.command}{self._span()})."
        return set_value

    def getter(self, doc: str = "") -> Callable[[Any], Any]:
        """A driver method `x()` returning the value as the instrument holds it (`<command>?`)."""
        decl, read = self, self._read

        def get_value(drv: Any) -> Any:
            return getattr(drv, read)(decl)

        get_value.__doc__ = doc or f"The {self.what} as the instrument holds it ({self.command}?)."
        return get_value

    def _span(self) -> str:
        return ""


@dataclass(frozen=True)
class Setting(_Declaration):
    """A numeric setting: header, unit, bounds (or allowed values), wire format, read-back.

    `unit` is the SI unit of the wire value ("V", "A", "W", "ohm", "s"); "" for a plain
    number (a count such as NPLC). `low`/`high` are numbers or `Rating`s (None: unbounded);
    `low_open` excludes the low bound itself. `values`, if given, is the set of values the
    instrument accepts (the value must match one). `send` overrides the header's short form
    (instruments that document only long forms); `suffix` follows the value on the wire
    (",ON" for `IR:LOWER 1e6,ON`). With `readback` the driver queries `<command>?` after
    setting and raises if the instrument holds something else (beyond `resolution`, in
    `unit`, or 1e-5 relative: the six digits sent).
    """

    header: str
    unit: str
    what: str
    low: Bound = None
    high: Bound = None
    values: tuple[float, ...] | None = None
    low_open: bool = False
    send: str | None = None
    suffix: str = ""
    readback: bool = False
    resolution: float = 0.0
    fmt: str = ".6g"
    _write = "write_setting"
    _read = "read_setting"

    def _span(self) -> str:
        return f", {self.describe_bounds()}"

    def bounds(self, ratings: Ratings | None = None) -> tuple[float, float]:
        """(low, high) for a model with these ratings; -inf/inf where unbounded."""
        r = ratings or {}
        low = self.low if self.low is not None else (min(self.values) if self.values else None)
        high = self.high if self.high is not None else (max(self.values) if self.values else None)
        return _bound(low, r, -math.inf), _bound(high, r, math.inf)

    def describe_bounds(self) -> str:
        """The bounds as declared, for documentation and error messages ('0 .. 1.1 x voltage V')."""
        if self.values:
            return "one of " + ", ".join(f"{v:g}" for v in self.values)
        lo = "-inf" if self.low is None else str(self.low)
        hi = "inf" if self.high is None else str(self.high)
        return f"{lo} .. {hi} {self.unit}".rstrip()

    def magnitude(self, value: Any, instrument: str, what: str | None = None) -> float:
        """`value` in this setting's unit as a float: a quantity of the right dimension (or a plain
        number for unit ""); non-finite numbers and bare numbers for a unit are refused."""
        label = what or self.what
        if self.unit:
            try:
                x = float(value.to(self.unit).magnitude)
            except (pint.DimensionalityError, AttributeError) as exc:
                raise InstrumentRangeError(
                    instrument, f"{label} must be a quantity in {self.unit}, got {value!r}"
                ) from exc
        else:
            try:
                x = float(value.to("").magnitude) if hasattr(value, "to") else float(value)
            except (pint.DimensionalityError, TypeError, ValueError) as exc:
                raise InstrumentRangeError(instrument, f"{label} must be a number, got {value!r}") from exc
        if not math.isfinite(x):
            raise InstrumentRangeError(instrument, f"{label} must be finite, got {value!r}")
        return x

    def check(self, value: Any, ratings: Ratings, instrument: str, what: str | None = None) -> float:
        """The value as it will be sent (rounded to the wire format), or InstrumentRangeError."""
        label = what or self.what
        x = self.magnitude(value, instrument, label)
        unit = f" {self.unit}" if self.unit else ""
        if self.values is not None:
            match = [v for v in self.values if abs(x - v) <= 1e-9 * max(abs(v), 1e-30)]
            if not match:
                raise InstrumentRangeError(
                    instrument, f"{label} {x:g}{unit} not one of {', '.join(f'{v:g}' for v in self.values)}"
                )
            return match[0]
        sent = float(self.text(x))
        lo, hi = self.bounds(ratings)
        low_ok = (lo < x and lo < sent) if self.low_open else (lo <= x and lo <= sent)
        if not (low_ok and x <= hi and sent <= hi):
            span = f"{lo:g}..{hi:g}{unit}" + (f" (excluding {lo:g}{unit})" if self.low_open else "")
            raise InstrumentRangeError(instrument, f"{label} {x:g}{unit} outside {span}")
        return sent

    def text(self, x: float) -> str:
        """The value as written on the wire."""
        return format(x, self.fmt)

    def line(self, x: float, suffix: str | None = None) -> str:
        """The whole command line for value `x` (already checked)."""
        return f"{self.command} {self.text(x)}{self.suffix if suffix is None else suffix}"

    def parse(self, reply: str, instrument: str) -> float:
        """The value from the reply to `<command>?` (the first comma-separated field)."""
        try:
            return float(reply.split(",")[0])
        except ValueError:
            raise InstrumentReplyError(
                instrument,
                f"expected a number{' in ' + self.unit if self.unit else ''}",
                command=self.command + "?",
                reply=reply,
            ) from None

    def agrees(self, sent: float, held: float) -> bool:
        """Whether a read-back value is the one sent, within the wire format and `resolution`."""
        return abs(held - sent) <= max(self.resolution, 1e-5 * abs(sent), 1e-12)


@dataclass(frozen=True)
class Switch(_Declaration):
    """An ON/OFF setting: `<command> ON|OFF`, read back by `<command>?` as 0/1 (or OFF/ON)."""

    header: str
    what: str
    send: str | None = None
    _write = "write_switch"
    _read = "read_switch"

    def line(self, on: bool) -> str:
        return f"{self.command} {'ON' if on else 'OFF'}"

    def _span(self) -> str:
        return " ON|OFF"


@dataclass(frozen=True)
class Choice(_Declaration):
    """A setting taking one of a few words (`FUNC VOLT|CURR`); `aliases` map other accepted
    spellings (long forms) to a choice. The driver sends the choice as declared."""

    header: str
    what: str
    choices: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    send: str | None = None
    _write = "write_choice"
    _read = "read_choice"

    def _span(self) -> str:
        return " " + "|".join(self.choices)

    def canonical(self, word: str) -> str | None:
        """The declared choice a word stands for (case-insensitive), or None."""
        w = str(word).strip().upper()
        w = self.aliases.get(w, w)
        return w if w in self.choices else None

    def check(self, word: str, instrument: str) -> str:
        choice = self.canonical(word)
        if choice is None:
            raise InstrumentRangeError(
                instrument,
                f"{self.what} must be {' or '.join(self.choices)}, got {word!r}"
                if len(self.choices) <= 3
                else f"{self.what} must be one of {', '.join(self.choices)}, got {word!r}",
            )
        return choice

    def line(self, choice: str) -> str:
        return f"{self.command} {choice}"


def declared(cls: type, kind: type | tuple[type, ...] = (Setting, Switch, Choice)) -> dict[str, Any]:
    """Every declaration on a driver class and its bases, by attribute name (documentation,
    tests, and simulators that serve them all)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, kind):
                out[name] = value
    return out


def _bound(b: Bound, ratings: Ratings, default: float) -> float:
    if b is None:
        return default
    if isinstance(b, Rating):
        return b.value(ratings)
    return float(b)
