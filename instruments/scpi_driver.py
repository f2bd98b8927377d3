"""What every SCPI driver shares: open the VISA session, check `*IDN?`, convert quantities, and
write/read the declarative settings of `instruments/scpi_settings.py`.

Drivers mix `ScpiDriver` in before their capability class
(`class KeysightRP7900(ScpiDriver, PowerSupply)`), call `_connect(...)` from `__init__`, fill
`self.ratings` (the model's ratings in SI units, named as the declarations' `Rating`s name them)
and declare their settings as class attributes (`VOLTAGE = Setting(...)`); see
docs/adding-an-instrument.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pint

from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.scpi_settings import Choice, Rating, Setting, Switch, declared
from instruments.transports.scpi import ScpiConnection

__all__ = [
    "Choice",
    "Rating",
    "ScpiDriver",
    "ScpiPowerReadings",
    "Setting",
    "Switch",
    "declared",
    "magnitude",
    "rating",
]


def magnitude(q: Any, unit: str, what: str, name: str) -> float:
    """`q` in `unit` as a float; a bare number or a wrong dimension is refused before sending."""
    try:
        return float(q.to(unit).magnitude)
    except (pint.DimensionalityError, AttributeError) as exc:
        raise InstrumentRangeError(name, f"{what} must be a quantity in {unit}, got {q!r}") from exc


def rating(text: Any, unit: str, what: str, name: str) -> float:
    """A rating from a station option ("80 V") in SI `unit`, refused unless finite and positive."""
    try:
        x = (
            float(Q_(text).to(unit).magnitude)
            if not isinstance(text, pint.Quantity)
            else float(text.to(unit).magnitude)
        )
    except (pint.errors.PintError, ValueError, TypeError, AttributeError) as exc:
        raise InstrumentError(name, f"{what} must be a quantity in {unit}, got {text!r}") from exc
    if not x > 0 or x == float("inf"):
        raise InstrumentError(name, f"{what} must be a positive finite quantity in {unit}, got {text!r}")
    return x


class ScpiDriver:
    conn: ScpiConnection
    name: str
    _idn: str
    ratings: Mapping[str, float] = MappingProxyType({})  # drivers with ratings set their own

    def _connect(
        self, resource: str, *, name: str, timeout: pint.Quantity, visa_library: str = "@py", **conn_options: Any
    ) -> None:
        self.conn = ScpiConnection(
            resource, name=name, timeout_s=float(timeout.to("s").magnitude), visa_library=visa_library, **conn_options
        )
        self._idn = self.conn.query("*IDN?")
        if "," not in self._idn:
            self.conn.close()
            raise InstrumentError(name, "unexpected identification", command="*IDN?", reply=self._idn)

    def identity(self) -> str:
        return self._idn

    def close(self) -> None:
        self.conn.close()

    # -- declarative settings ----------------------------------------------------------------
    def setting_ratings(self) -> Mapping[str, float]:
        """The ratings the declarations' bounds are evaluated against (override for state-
        dependent ones, e.g. the present current range of a load)."""
        return self.ratings

    def check_setting(
        self, setting: Setting, value: Any, *, what: str | None = None, ratings: Mapping[str, float] | None = None
    ) -> float:
        """The value as it would be sent, or InstrumentRangeError; nothing is written. `ratings`
        replaces `setting_ratings()` for one call (state-dependent bounds, e.g. a load's range)."""
        return setting.check(value, self.setting_ratings() if ratings is None else ratings, self.name, what)

    def write_setting(
        self,
        setting: Setting,
        value: Any,
        *,
        what: str | None = None,
        suffix: str | None = None,
        ratings: Mapping[str, float] | None = None,
    ) -> float:
        """Check, send, read the error queue and (if declared) read back; returns the value sent."""
        x = self.check_setting(setting, value, what=what, ratings=ratings)
        command = setting.line(x, suffix)
        self.conn.write_checked(command)
        if setting.readback:
            reply = self.conn.query(setting.command + "?")
            held = setting.parse(reply, self.name)
            if not setting.agrees(x, held):
                raise InstrumentError(
                    self.name,
                    f"{what or setting.what} not applied: sent {setting.text(x)}, the instrument holds {held:g}",
                    command=command,
                    reply=reply,
                )
        return x

    def read_setting(self, setting: Setting) -> Any:
        """The setting as the instrument holds it: a quantity in its unit (a float for unit "")."""
        command = setting.command + "?"
        x = setting.parse(self.conn.query(command), self.name)
        return Q_(x, setting.unit) if setting.unit else x

    def write_switch(self, switch: Switch, on: bool) -> None:
        self.conn.write_checked(switch.line(bool(on)))

    def read_switch(self, switch: Switch) -> bool:
        return self.conn.query_bool(switch.command + "?")

    def write_choice(self, choice: Choice, word: str) -> str:
        value = choice.check(word, self.name)
        self.conn.write_checked(choice.line(value))
        return value

    def read_choice(self, choice: Choice) -> str:
        reply = self.conn.query(choice.command + "?")
        value = choice.canonical(reply)
        if value is None:
            raise InstrumentError(
                self.name,
                f"unexpected {choice.what} reply (expected one of {', '.join(choice.choices)})",
                command=choice.command + "?",
                reply=reply,
            )
        return value


class ScpiPowerReadings:
    """`MEAS:VOLT?`, `MEAS:CURR?`, `MEAS:POW?`: the read-back common to supplies and loads."""

    conn: ScpiConnection

    def measure_voltage(self) -> pint.Quantity:
        return Q_(self.conn.query_float("MEAS:VOLT?"), "V")

    def measure_current(self) -> pint.Quantity:
        """Signed as the instrument reports it (supply: + sourcing; load: + sinking)."""
        return Q_(self.conn.query_float("MEAS:CURR?"), "A")

    def measure_power(self) -> pint.Quantity:
        return Q_(self.conn.query_float("MEAS:POW?"), "W")
