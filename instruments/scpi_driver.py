"""What every SCPI driver shares: open the VISA session, check `*IDN?`, convert quantities.

Drivers mix `ScpiDriver` in before their capability class
(`class KeysightRP7900(ScpiDriver, PowerSupply)`) and call `_connect(...)` from `__init__`.
"""

from __future__ import annotations

from typing import Any

import pint

from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.transports.scpi import ScpiConnection


def magnitude(q: Any, unit: str, what: str, name: str) -> float:
    """`q` in `unit` as a float; a bare number or a wrong dimension is refused before sending."""
    try:
        return float(q.to(unit).magnitude)
    except (pint.DimensionalityError, AttributeError) as exc:
        raise InstrumentRangeError(name, f"{what} must be a quantity in {unit}, got {q!r}") from exc


class ScpiDriver:
    conn: ScpiConnection
    name: str
    _idn: str

    def _connect(self, resource: str, *, name: str, timeout: pint.Quantity, visa_library: str = "@py",
                 **conn_options: Any) -> None:
        self.conn = ScpiConnection(resource, name=name, timeout_s=float(timeout.to("s").magnitude),
                                   visa_library=visa_library, **conn_options)
        self._idn = self.conn.query("*IDN?")
        if "," not in self._idn:
            self.conn.close()
            raise InstrumentError(name, "unexpected identification", command="*IDN?", reply=self._idn)

    def identity(self) -> str:
        return self._idn

    def close(self) -> None:
        self.conn.close()


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
