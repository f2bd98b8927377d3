"""Watlow chamber controllers over Modbus: F4T (native Modbus TCP) and the classic Series F4.

F4T map (Espec North America ChamberConnectLibrary, MIT; instruments.md §3.1), loop N adds
(N-1)*160; floats are IEEE-754 in two registers, LOW WORD FIRST:
  2782 constant set point (write/read)      2810 working (ramped) set point
  2820 process value (air)                  2774 / 2776 range min / max (checked before writing)
  2730 loop mode write (10 auto, 62 off)    2814 loop mode read
  2772 set point ramp rate, deg/min, 0 = off — OUR ASSUMPTION, not in the reference notes:
       confirm against the F4T Modbus map of your firmware; option `ramp_rate_register`.
Run/stop: the chamber runs while loop 1 is in auto (10) and is in standby when the loop is off
(62), as ChamberConnectLibrary does. Many chambers also wire the compressor/fan contactor to an
F4T digital "event" output; if the station sets option `run_event_register`, that register is
written 63 (on) / 62 (off) after the loop mode and read back too (the address depends on the
chamber builder's configuration, so there is no default).

Classic F4 map (personality "f4", or class WatlowF4; §3.2, TestEquity 1007C manual): signed
integers with implied decimals (606 = decimals of input 1: 0 whole degrees, 1 tenths), 100 PV,
300 static set point, 602/603 set point low/high limit, 901 units (0 F / 1 C), 200 profile status,
2000 event output 1 = chamber on/off (TestEquity wiring; write 1/0). The F4 has no set point ramp
rate outside profiles, so `set_ramp_rate` accepts only None there.

Nothing is written that was not asked for; every setting is range-checked first and confirmed
by reading it back.
"""

from __future__ import annotations

import pint

from bench.units import Q_
from instruments.capabilities import ThermalChamber
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.transports.modbus import ModbusClient, from_int16, to_int16

LOOP_STRIDE = 160
F4T_MODE = {10: "auto", 54: "manual", 62: "off"}
WATLOW_ON, WATLOW_OFF = 63, 62


def _deg_c(t: pint.Quantity, what: str, name: str) -> float:
    try:
        return float(Q_(t).to("degC").magnitude)
    except (pint.DimensionalityError, AttributeError, TypeError) as exc:
        raise InstrumentRangeError(name, f"{what} must be a temperature quantity, got {t!r}") from exc


class WatlowF4T(ThermalChamber):
    """Thermal chamber on a Watlow F4T (or, with personality="f4", a classic Series F4)."""

    SIMULATOR = "instruments.sim.modbus_f4t:serve"
    safe_state_order = 30

    def __init__(
        self,
        resource: str,
        *,
        name: str = "chamber",
        timeout: pint.Quantity = Q_(1, "s"),
        personality: str = "f4t",
        loop: int = 1,
        device_id: int = 1,
        ambient: str = "25 degC",
        ramp_rate_register: int | None = 2772,
        run_event_register: int | None = None,
        setpoint_tolerance: str = "0.05 delta_degC",
    ) -> None:
        super().__init__(name)
        self.personality = personality.lower()
        if self.personality not in ("f4t", "f4"):
            raise InstrumentError(name, f"personality must be 'f4t' or 'f4', got {personality!r}")
        self.loop = int(loop)
        self.offset = (self.loop - 1) * LOOP_STRIDE
        self.ambient = Q_(ambient)
        self.ramp_rate_register = ramp_rate_register
        self.run_event_register = run_event_register
        self.tolerance = float(Q_(setpoint_tolerance).to("delta_degC").magnitude)
        self.resource = resource
        word_order = "little" if self.personality == "f4t" else "big"
        self.bus = ModbusClient(
            resource,
            name=name,
            timeout_s=float(Q_(timeout).to("s").magnitude),
            device_id=device_id,
            word_order=word_order,
        )
        try:
            if self.personality == "f4":
                self._scale = 10.0 ** self.bus.read_holding(606, 1)[0]
                self._fahrenheit = self.bus.read_holding(901, 1)[0] == 0
            else:
                self.temperature()  # proves the loop's registers answer
        except Exception:
            self.bus.close()
            raise

    # -- identity / lifecycle ----------------------------------------------------------------
    def identity(self) -> str:
        """The controller does not report make/serial over this map: model, loop and address."""
        model = "F4T" if self.personality == "f4t" else "Series F4"
        return f"Watlow,{model},loop {self.loop},{self.resource}"

    def close(self) -> None:
        self.bus.close()

    def safe_state(self) -> str:
        """Set point to ambient, confirmed by read-back; run state is left alone (air keeps moving)."""
        self.set_setpoint(self.ambient)
        sp = self.setpoint()
        if abs(sp.to("degC").magnitude - self.ambient.to("degC").magnitude) > self.tolerance:
            raise InstrumentError(self.name, f"set point reads {sp:~P} after writing ambient {self.ambient:~P}")
        return f"set point to ambient {self.ambient:~P} (confirmed by read-back {sp.to('degC').magnitude:.2f} °C)"

    # -- conversions ---------------------------------------------------------------------------
    def _f4_to_c(self, raw: int) -> float:
        value = to_int16(raw) / self._scale
        return (value - 32.0) / 1.8 if self._fahrenheit else value

    def _c_to_f4(self, deg_c: float) -> int:
        value = deg_c * 1.8 + 32.0 if self._fahrenheit else deg_c
        return from_int16(round(value * self._scale))

    # -- capability ----------------------------------------------------------------------------
    def range(self) -> tuple[pint.Quantity, pint.Quantity]:
        """The controller's own set point limits (F4T range min/max, F4 SP1 low/high)."""
        if self.personality == "f4t":
            lo = self.bus.read_float(2774 + self.offset)
            hi = self.bus.read_float(2776 + self.offset)
        else:
            raw = self.bus.read_holding(602, 2)
            lo, hi = self._f4_to_c(raw[0]), self._f4_to_c(raw[1])
        return Q_(lo, "degC"), Q_(hi, "degC")

    def set_setpoint(self, t: pint.Quantity) -> None:
        value = _deg_c(t, "set point", self.name)
        lo, hi = (q.magnitude for q in self.range())
        if not lo <= value <= hi:
            raise InstrumentRangeError(
                self.name, f"set point {value:g} °C outside the controller range {lo:g}..{hi:g} °C; not sent"
            )
        if self.personality == "f4t":
            self.bus.write_float(2782 + self.offset, value)
        else:
            self.bus.write_register(300, self._c_to_f4(value))
        back = self.setpoint().magnitude
        if abs(back - value) > max(self.tolerance, 0.5 / (1 if self.personality == "f4t" else self._scale)):
            raise InstrumentError(self.name, f"set point reads {back:g} °C after writing {value:g} °C")

    def setpoint(self) -> pint.Quantity:
        """The constant set point as written (not the ramping working set point)."""
        if self.personality == "f4t":
            return Q_(self.bus.read_float(2782 + self.offset), "degC")
        return Q_(self._f4_to_c(self.bus.read_holding(300, 1)[0]), "degC")

    def working_setpoint(self) -> pint.Quantity:
        """F4T: the ramped set point the loop controls to now (2810); F4: the static set point."""
        if self.personality == "f4t":
            return Q_(self.bus.read_float(2810 + self.offset), "degC")
        return self.setpoint()

    def temperature(self) -> pint.Quantity:
        if self.personality == "f4t":
            return Q_(self.bus.read_float(2820 + self.offset), "degC")
        return Q_(self._f4_to_c(self.bus.read_holding(100, 1)[0]), "degC")

    def loop_mode(self) -> str:
        """F4T loop mode ('auto', 'off', 'manual'); F4: 'on'/'off' of event output 1."""
        if self.personality == "f4t":
            raw = self.bus.read_holding(2814 + self.offset, 1)[0]
            return F4T_MODE.get(raw, f"unknown({raw})")
        return "on" if self.bus.read_holding(2000, 1)[0] else "off"

    def set_running(self, on: bool) -> None:
        if self.personality == "f4t":
            self.bus.write_register(2730 + self.offset, 10 if on else 62)
            if self.run_event_register is not None:
                self.bus.write_register(self.run_event_register, WATLOW_ON if on else WATLOW_OFF)
        else:
            self.bus.write_register(2000, 1 if on else 0)
        if self.running() != bool(on):
            raise InstrumentError(
                self.name, f"chamber did not {'start' if on else 'stop'}", command="set_running", reply=self.loop_mode()
            )

    def running(self) -> bool:
        if self.personality == "f4":
            return self.bus.read_holding(2000, 1)[0] == 1
        on = self.bus.read_holding(2814 + self.offset, 1)[0] == 10
        if self.run_event_register is not None:
            on = on and self.bus.read_holding(self.run_event_register, 1)[0] == WATLOW_ON
        return on

    def set_ramp_rate(self, rate: pint.Quantity | None) -> None:
        """Set point ramp limit (F4T register `ramp_rate_register`, deg/min; 0 = step)."""
        if self.personality == "f4" or self.ramp_rate_register is None:
            if rate is None:
                return
            raise InstrumentError(self.name, "this controller map has no set point ramp rate (use a profile)")
        value = 0.0
        if rate is not None:
            try:
                value = float(Q_(rate).to("delta_degC/min").magnitude)
            except (pint.DimensionalityError, AttributeError, TypeError) as exc:
                raise InstrumentRangeError(
                    self.name, f"ramp rate must be a rate such as '2 delta_degC/min', got {rate!r}"
                ) from exc
            if not 0 < value <= 100:
                raise InstrumentRangeError(self.name, f"ramp rate {value:g} °C/min outside 0..100 °C/min")
        self.bus.write_float(self.ramp_rate_register + self.offset, value)

    def ramp_rate(self) -> pint.Quantity | None:
        if self.personality == "f4" or self.ramp_rate_register is None:
            return None
        value = self.bus.read_float(self.ramp_rate_register + self.offset)
        return None if value == 0 else Q_(value, "delta_degC/min")


class WatlowF4(WatlowF4T):
    """Classic Watlow Series F4 (Modbus RTU, or TCP through a gateway): integer map, tenths."""

    def __init__(
        self,
        resource: str,
        *,
        name: str = "chamber",
        timeout: pint.Quantity = Q_(1, "s"),
        device_id: int = 1,
        ambient: str = "25 degC",
        **options: object,
    ) -> None:
        options.pop("personality", None)
        super().__init__(
            resource,
            name=name,
            timeout=timeout,
            personality="f4",
            device_id=device_id,
            ambient=ambient,
            ramp_rate_register=None,
            **options,
        )  # type: ignore[arg-type]
