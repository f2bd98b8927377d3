"""Keysight 34465A (Truevolt, 6½ digit) digital multimeter over SCPI.

A plain DC-volt reading is one `MEAS:VOLT:DC? [<range>|AUTO]` round trip; when an integration
time is asked for, the driver configures instead (`CONF:VOLT:DC`, `SENS:VOLT:DC:NPLC`, error-queue
check) and reads with `READ?`. Resistance uses `MEAS:RES?` (2-wire) or `MEAS:FRES?` (4-wire).
Ranges and NPLC values are checked before sending, because an invalid one makes the meter queue
an error and send no reading, which would otherwise surface only as a timeout. An overload reply
(`+9.9E+37`) raises `DmmOverload` naming the instrument, the command and the reply, never a
huge number that a limit check could mistake for a reading.
"""

from __future__ import annotations

from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import Multimeter
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.scpi_driver import ScpiDriver, magnitude

DCV_RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
RES_RANGES_OHM = (100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9)
NPLC_VALUES = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)  # 0.001..0.006 need the DIG option
OVERLOAD = 9.9e37


class DmmOverload(InstrumentError):
    """The input is beyond the selected range (the meter answered +9.9E+37)."""



class Keysight34465A(ScpiDriver, Multimeter):
    SIMULATOR = "instruments.sim.scpi_34465a:serve"

    def __init__(self, resource: str, *, name: str = "dmm", timeout: pint.Quantity = Q_(5, "s"),
                 visa_library: str = "@py", sim: dict[str, Any] | None = None) -> None:
        """`sim` is a table of simulator settings (what the simulated meter is wired to); ignored here."""
        super().__init__(name)
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library)
        self._function = "V"  # unit of the configured function (MEAS/CONF change it on the meter too)

    # -- identity / lifecycle ----------------------------------------------------------------
    def safe_state(self) -> str:
        """A DMM energises nothing; confirm it still answers so the record shows it was reachable."""
        reply = self.conn.query("*IDN?")
        if "," not in reply:
            raise InstrumentError(self.name, "unexpected identification", command="*IDN?", reply=reply)
        return "nothing energised (measuring instrument); confirmed it answers *IDN?"

    # -- helpers -----------------------------------------------------------------------------
    def _range_arg(self, rng: pint.Quantity | None, unit: str, table: tuple[float, ...], what: str) -> str:
        if rng is None:
            return "AUTO"
        x = magnitude(rng, unit, what, self.name)
        if not 0 < x <= table[-1]:
            raise InstrumentRangeError(self.name, f"{what} {x:g} {unit} outside 0..{table[-1]:g} {unit}")
        return f"{x:.6g}"  # the meter selects the smallest range that holds this value

    def _nplc_arg(self, nplc: float) -> str:
        if not any(abs(nplc - v) <= 1e-9 * v for v in NPLC_VALUES):
            raise InstrumentRangeError(self.name, f"NPLC {nplc!r} not one of {', '.join(f'{v:g}' for v in NPLC_VALUES)}")
        return f"{nplc:g}"

    def _reading(self, command: str, unit: str) -> pint.Quantity:
        x = self.conn.query_float(command)
        if abs(x) >= OVERLOAD * 0.99:
            raise DmmOverload(self.name, "overload: input beyond the selected range", command=command,
                              reply=self.conn.trace[-1][1] if self.conn.trace else None)
        return Q_(x, unit)

    # -- measurements ------------------------------------------------------------------------
    def measure_dc_voltage(self, range: pint.Quantity | None = None, nplc: float | None = None) -> pint.Quantity:
        """DC voltage; `range` None = autorange, `nplc` None = the meter's default integration time."""
        rng = self._range_arg(range, "V", DCV_RANGES_V, "DC voltage range")
        if nplc is None:
            self._function = "V"
            return self._reading("MEAS:VOLT:DC?" if rng == "AUTO" else f"MEAS:VOLT:DC? {rng}", "V")
        self._configure_dc_voltage(rng, nplc)
        return self.read()

    def configure_dc_voltage(self, range: pint.Quantity | None = None, nplc: float = 10.0) -> None:
        """Set up DC volts once, then take fast repeated readings with `read()`."""
        self._configure_dc_voltage(self._range_arg(range, "V", DCV_RANGES_V, "DC voltage range"), nplc)

    def _configure_dc_voltage(self, rng: str, nplc: float) -> None:
        n = self._nplc_arg(nplc)
        self.conn.write_checked(f"CONF:VOLT:DC {rng};:SENS:VOLT:DC:NPLC {n}")
        self._function = "V"

    def read(self) -> pint.Quantity:
        """One reading with the present configuration (`READ?`), in the unit of the configured function."""
        return self._reading("READ?", self._function)

    def measure_resistance(self, range: pint.Quantity | None = None, four_wire: bool = False) -> pint.Quantity:
        """Resistance, 2-wire (`MEAS:RES?`, includes the leads) or 4-wire (`MEAS:FRES?`)."""
        rng = self._range_arg(range, "ohm", RES_RANGES_OHM, "resistance range")
        verb = "MEAS:FRES?" if four_wire else "MEAS:RES?"
        self._function = "ohm"
        return self._reading(verb if rng == "AUTO" else f"{verb} {rng}", "ohm")

    def set_nplc(self, nplc: float) -> None:
        """Integration time of the DC-volt function in power-line cycles (kept until CONF/MEAS)."""
        self.conn.write_checked(f"SENS:VOLT:DC:NPLC {self._nplc_arg(nplc)}")

    def nplc(self) -> float:
        return self.conn.query_float("SENS:VOLT:DC:NPLC?")
