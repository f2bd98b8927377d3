"""Capability protocols: what a plan may ask of each class of instrument.

Plans depend on these, never on a model. Every argument and result with a unit is a pint
quantity. Every capability has `safe_state()` that drives the instrument to its safe state and
confirms it by read-back (raising if it cannot), and a `safe_state_order` (lower runs first).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import pint


class Instrument(ABC):
    """Common base: a name (the station role), identity, safe state, close."""

    safe_state_order: int = 50

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def identity(self) -> str:
        """Make, model, serial, firmware as the instrument reports them."""

    @abstractmethod
    def safe_state(self) -> str:
        """Drive to the safe state, confirm by read-back, describe what was done."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Instrument:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class PowerSupply(Instrument):
    """A DC supply; bidirectional models also sink (negative current)."""

    safe_state_order = 20
    bidirectional: bool = False

    @abstractmethod
    def set_output(self, on: bool) -> None: ...
    @abstractmethod
    def output(self) -> bool: ...
    @abstractmethod
    def set_voltage(self, v: pint.Quantity) -> None: ...
    @abstractmethod
    def set_current_limit(self, positive: pint.Quantity, negative: pint.Quantity | None = None) -> None:
        """Current limits in voltage priority; `negative` (a negative value) is the sink limit."""
    @abstractmethod
    def set_ovp(self, v: pint.Quantity) -> None: ...
    @abstractmethod
    def measure_voltage(self) -> pint.Quantity: ...
    @abstractmethod
    def measure_current(self) -> pint.Quantity:
        """Signed: positive sourcing, negative sinking."""
    @abstractmethod
    def measure_power(self) -> pint.Quantity: ...
    @abstractmethod
    def clear_protection(self) -> None: ...
    @abstractmethod
    def protection_tripped(self) -> list[str]: ...


class ElectronicLoad(Instrument):
    safe_state_order = 10
    MODES = ("CC", "CV", "CP", "CR")

    @abstractmethod
    def set_mode(self, mode: str) -> None: ...
    @abstractmethod
    def set_level(self, value: pint.Quantity) -> None:
        """Setpoint for the current mode (A for CC, V for CV, W for CP, Ω for CR)."""
    @abstractmethod
    def set_input(self, on: bool) -> None: ...
    @abstractmethod
    def input(self) -> bool: ...
    @abstractmethod
    def measure_voltage(self) -> pint.Quantity: ...
    @abstractmethod
    def measure_current(self) -> pint.Quantity: ...
    @abstractmethod
    def measure_power(self) -> pint.Quantity: ...
    @abstractmethod
    def protection_status(self) -> list[str]: ...
    @abstractmethod
    def clear_protection(self) -> None: ...


class ThermalChamber(Instrument):
    safe_state_order = 30

    @abstractmethod
    def set_setpoint(self, t: pint.Quantity) -> None: ...
    @abstractmethod
    def setpoint(self) -> pint.Quantity: ...
    @abstractmethod
    def temperature(self) -> pint.Quantity: ...
    @abstractmethod
    def set_running(self, on: bool) -> None: ...
    @abstractmethod
    def running(self) -> bool: ...
    @abstractmethod
    def set_ramp_rate(self, rate: pint.Quantity | None) -> None:
        """Ramp limit (e.g. Q_(2, 'delta_degC/min')); None for as fast as possible."""


@dataclass
class BmsStatus:
    """A snapshot of what the BMS reports (quantities with units)."""

    state: str
    contactor_closed: bool
    pack_voltage: pint.Quantity
    pack_current: pint.Quantity
    soc: pint.Quantity
    cell_voltage_min: pint.Quantity
    cell_voltage_max: pint.Quantity
    cell_temperature_min: pint.Quantity
    cell_temperature_max: pint.Quantity
    max_charge_current: pint.Quantity
    max_discharge_current: pint.Quantity
    alarms: dict[str, bool] = field(default_factory=dict)
    soh: pint.Quantity | None = None
    insulation_resistance: pint.Quantity | None = None
    timestamp_s: float = 0.0

    def active_alarms(self) -> list[str]:
        return sorted(k for k, v in self.alarms.items() if v)


class BmsLink(Instrument):
    safe_state_order = 40

    @abstractmethod
    def status(self) -> BmsStatus: ...
    @abstractmethod
    def request_state(self, state: str) -> None:
        """'standby' (contactors open), 'discharge' or 'charge' (contactors closed)."""
    @abstractmethod
    def cell_voltages(self) -> list[pint.Quantity]: ...
    @abstractmethod
    def cell_temperatures(self) -> list[pint.Quantity]: ...


class Multimeter(Instrument):
    safe_state_order = 60

    @abstractmethod
    def measure_dc_voltage(self, range: pint.Quantity | None = None, nplc: float | None = None) -> pint.Quantity: ...
    @abstractmethod
    def measure_resistance(self, range: pint.Quantity | None = None, four_wire: bool = False) -> pint.Quantity: ...


@dataclass
class InsulationResult:
    voltage: pint.Quantity
    resistance: pint.Quantity
    elapsed: pint.Quantity
    judgement: str  # PASS | LFAIL | UFAIL | ULFAIL | OFF

    @property
    def passed(self) -> bool:
        return self.judgement == "PASS"


class InsulationTester(Instrument):
    safe_state_order = 15

    @abstractmethod
    def configure(self, test_voltage: pint.Quantity, lower_limit: pint.Quantity, dwell: pint.Quantity) -> None: ...
    @abstractmethod
    def run_test(self) -> InsulationResult:
        """Start, wait for the dwell, return the result; output is off afterwards."""


@dataclass
class GasReading:
    ppm: dict[str, pint.Quantity]
    pressure: pint.Quantity
    stage: int
    alarms: dict[str, bool] = field(default_factory=dict)


class GasDetector(Instrument):
    safe_state_order = 70

    @abstractmethod
    def read(self) -> GasReading: ...
