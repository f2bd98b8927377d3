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

import pint

from bench.units import Q_
from instruments.capabilities import Multimeter
from instruments.errors import InstrumentError
from instruments.scpi_driver import ScpiDriver, Setting

DCV_RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
RES_RANGES_OHM = (100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9)
NPLC_VALUES = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)  # 0.001..0.006 need the DIG option
OVERLOAD = 9.9e37


class DmmOverload(InstrumentError):
    """The input is beyond the selected range (the meter answered +9.9E+37)."""


class Keysight34465A(ScpiDriver, Multimeter):
    SIMULATOR = "instruments.sim.scpi_34465a:serve"

    # -- the settings, declared once (the simulator serves the same) -------------------------
    # A range is any value up to the largest range: the meter selects the smallest range holding it.
    DCV_RANGE = Setting(
        "[SENSe:]VOLTage[:DC]:RANGe[:UPPer]", "V", "DC voltage range", low=0, low_open=True, high=DCV_RANGES_V[-1]
    )
    RES_RANGE = Setting(
        "[SENSe:]RESistance:RANGe[:UPPer]", "ohm", "resistance range", low=0, low_open=True, high=RES_RANGES_OHM[-1]
    )
    NPLC = Setting("[SENSe:]VOLTage[:DC]:NPLCycles", "", "NPLC", values=NPLC_VALUES, send="SENS:VOLT:DC:NPLC", fmt="g")

    def __init__(
        self, resource: str, *, name: str = "dmm", timeout: pint.Quantity = Q_(5, "s"), visa_library: str = "@py"
    ) -> None:
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
    def _range_arg(self, rng: pint.Quantity | None, setting: Setting) -> str:
        """`AUTO`, or the range value as sent (checked against the declared bounds)."""
        return "AUTO" if rng is None else setting.text(self.check_setting(setting, rng))

    def _nplc_arg(self, nplc: float) -> str:
        return self.NPLC.text(self.check_setting(self.NPLC, nplc))

    def _reading(self, command: str, unit: str) -> pint.Quantity:
        x = self.conn.query_float(command)
        if abs(x) >= OVERLOAD * 0.99:
            raise DmmOverload(
                self.name,
                "overload: input beyond the selected range",
                command=command,
                reply=self.conn.trace[-1][1] if self.conn.trace else None,
            )
        return Q_(x, unit)

    # -- measurements ------------------------------------------------------------------------
    def measure_dc_voltage(self, range: pint.Quantity | None = None, nplc: float | None = None) -> pint.Quantity:
        """DC voltage; `range` None = autorange, `nplc` None = the meter's default integration time."""
        rng = self._range_arg(range, self.DCV_RANGE)
        if nplc is None:
            self._function = "V"
            return self._reading("MEAS:VOLT:DC?" if rng == "AUTO" else f"MEAS:VOLT:DC? {rng}", "V")
        self._configure_dc_voltage(rng, nplc)
        return self.read()

    def configure_dc_voltage(self, range: pint.Quantity | None = None, nplc: float = 10.0) -> None:
        """Set up DC volts once, then take fast repeated readings with `read()`."""
        self._configure_dc_voltage(self._range_arg(range, self.DCV_RANGE), nplc)

    def _configure_dc_voltage(self, rng: str, nplc: float) -> None:
        n = self._nplc_arg(nplc)
        self.conn.write_checked(f"CONF:VOLT:DC {rng};:SENS:VOLT:DC:NPLC {n}")
        self._function = "V"

    def read(self) -> pint.Quantity:
        """One reading with the present configuration (`READ?`), in the unit of the configured function."""
        return self._reading("READ?", self._function)

    def measure_resistance(self, range: pint.Quantity | None = None, four_wire: bool = False) -> pint.Quantity:
        """Resistance, 2-wire (`MEAS:RES?`, includes the leads) or 4-wire (`MEAS:FRES?`)."""
        rng = self._range_arg(range, self.RES_RANGE)
        verb = "MEAS:FRES?" if four_wire else "MEAS:RES?"
        self._function = "ohm"
        return self._reading(verb if rng == "AUTO" else f"{verb} {rng}", "ohm")

    set_nplc = NPLC.setter(
        "Integration time of the DC-volt function in power-line cycles (one of "
        f"{', '.join(f'{v:g}' for v in NPLC_VALUES)}; kept until CONF/MEAS)."
    )
    nplc = NPLC.getter("The DC-volt integration time in power-line cycles as the meter holds it.")
