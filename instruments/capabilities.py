"""Capability protocols: what a plan may ask of each class of instrument.

Plans depend on these, never on a model. Every argument and result with a unit is a pint
quantity. Every capability has `safe_state()` that drives the instrument to its safe state and
confirms it by read-back (raising if it cannot), and a `safe_state_order` (lower runs first).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pint


class Instrument(ABC):
    """Common base: a name (the station role), identity, safe state, close.

    `fixture` is the name plans use for this capability (`psu`, `bms`, ...): the bench binds a
    station role to every fixture its driver class declares through its bases, so a new
    capability class (or a second supply) needs no change to the bench.
    """

    safe_state_order: int = 50
    fixture: ClassVar[str | None] = None

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
    fixture = "psu"
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
    fixture = "load"
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
    fixture = "chamber"

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
    fixture = "bms"

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
    fixture = "dmm"

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
    fixture = "irt"

    @abstractmethod
    def configure(self, test_voltage: pint.Quantity, lower_limit: pint.Quantity, dwell: pint.Quantity) -> None: ...
    @abstractmethod
    def run_test(self, wait: Callable[[float], None] | None = None) -> InsulationResult:
        """Start, wait for the dwell, return the result; output is off afterwards.

        `wait(seconds)` is how time passes while the test runs: plans pass the bench clock's
        (`lambda s: clock.sleep(Q_(s, "s"))`), so the dwell runs in virtual time on a simulated
        station; None waits on the driver's own clock (see `ClockAware`), else in wall time.
        """


@dataclass
class GasReading:
    ppm: dict[str, pint.Quantity]
    pressure: pint.Quantity
    stage: int
    alarms: dict[str, bool] = field(default_factory=dict)


class GasDetector(Instrument):
    safe_state_order = 70
    fixture = "gas"

    @abstractmethod
    def read(self) -> GasReading: ...
    @abstractmethod
    def thresholds(self) -> dict[str, pint.Quantity]:
        """Alarm setpoints as the detector holds them, keyed "stage<n>.<species>" (e.g.
        "stage1.H2" in ppm) plus "pressure" (Pa): the safety chain checks them against the
        product's UL 9540A data, so they are read from the device, never assumed."""


class Stimulus(Instrument):
    """What a plan does to provoke a response, bound as a station role like any instrument.

    On a simulated station the backend drives the plant (over its own loopback protocol, like
    a HIL device); on hardware it is a HIL device the station declares, or an operator prompt
    with a typed confirmation and the witness's name. Plans call these and observe the response
    through instruments only, so a hardware run executes the code CI proves. Each call returns
    a one-line description of what was done (for the plan's note or the journal). A backend
    that cannot apply a stimulus raises `NotImplementedError` naming it; `available()` lists
    what it can do so a plan can choose (e.g. a cell-voltage step, else a slow ramp). A bad
    argument raises `InstrumentRangeError` before anything is sent or asked; a device that
    refuses raises `InstrumentError` naming the command and its reply (which names the known
    channels). Names (sources, channels, zones) are the device's: docs/stimuli.md lists them
    for the simulated plants. Magnitudes come from the plan's limit set, never from literals.
    """

    fixture = "stimulus"
    safe_state_order = 5  # released before anything else is switched off

    @abstractmethod
    def available(self) -> set[str]:
        """Names of the stimuli this backend can apply (the method names below)."""

    @abstractmethod
    def gas_release(self, source: str, rates: Mapping[str, pint.Quantity] | None) -> str:
        """Start or change (rates per species, e.g. {"H2": Q_(40, "ppm/s")}) or stop (None) the
        release named `source` (a bump-test bottle, a vent simulator)."""

    @abstractmethod
    def sensor_override(self, channel: str, value: pint.Quantity | None) -> str:
        """Force what a sensor reads ("cell_temperature[0]" to Q_(85, "degC"), "cell_voltage[3]",
        "pack_current"), or release it with None. The value's dimension must suit the channel."""

    @abstractmethod
    def ventilation(self, flow: pint.Quantity | None) -> str:
        """Run the enclosure exhaust at `flow` (a volume flow, e.g. Q_(120, "m**3/h")), or stop
        it with None (back to natural ventilation)."""

    @abstractmethod
    def heat(self, zone: str, power: pint.Quantity | None) -> str:
        """Heat a zone ("cell[0]", "cell[3,1]", "pack") with a heater of `power` (W); None stops."""

    @abstractmethod
    def cut_link(self, role: str, cut: bool = True) -> str:
        """Cut (or with cut=False restore) the communication link of a station role, e.g.
        `stimulus.cut_link(bms.name)`."""

    @abstractmethod
    def cell_voltage_step(self, cell: int, value: pint.Quantity | None) -> str:
        """Step what the BMS measures on series element `cell` (0-based) to `value` (a HIL
        cell-simulator channel); None releases it."""

    @abstractmethod
    def applied(self) -> list[str]:
        """One line per stimulus applied now (read back from the device, or as the operator
        confirmed it); [] when nothing is applied."""

    @abstractmethod
    def release_all(self) -> str:
        """Undo every stimulus still applied and confirm it by read-back."""

    def safe_state(self) -> str:
        """Release every stimulus (confirmed by read-back); runs first (safe_state_order 5)."""
        return self.release_all()


# -- optional features: small capabilities a driver adds to its main one; plans check them with
# isinstance (`if isinstance(psu, SupplyPriority): psu.set_priority("VOLT")`), never with getattr
# or by catching TypeError. They bind no fixture of their own.


class SupplyPriority(ABC):
    """A supply with a selectable regulation priority (voltage or current)."""

    @abstractmethod
    def set_priority(self, mode: str) -> None:
        """'VOLT' (CV, current limited) or 'CURR' (CC, voltage limited)."""

    @abstractmethod
    def priority(self) -> str:
        """'VOLT' or 'CURR' as the instrument reports it."""


class FaultReset(ABC):
    """A device whose latched faults can be cleared by command (once their cause is gone)."""

    @abstractmethod
    def reset_faults(self) -> None:
        """Ask the device to clear latched faults; it keeps those whose condition persists."""


class BmsHistory(ABC):
    """A BMS that reports the history it keeps (cycle count, throughput, events, fault codes)."""

    @abstractmethod
    def history(self) -> dict[str, Any]:
        """What the BMS knows of its past, in the intake plan's history keys where it has them:
        "cycle_count" (number), "energy_throughput" / "capacity_throughput" (quantities),
        "events" (list of text), "fault_codes" (list of int), "age_years", "soh" (quantity),
        and "source" (where it came from). Keys the device does not report are left out."""


class ClockAware(ABC):
    """A driver that waits on the instrument: `attach_clock(clock)` makes its waits use the
    bench clock (virtual time on a simulated station) instead of wall-clock sleeps. The session
    attaches the clock after opening the driver."""

    @abstractmethod
    def attach_clock(self, clock: Any) -> None: ...


# -- site acceptance (an installed BESS behind its site controller, and its meters) ---------------
@dataclass
class SitePoint:
    """One point read from (or written to) a site controller, as the device reports it.

    `name` is "<model>[<instance>].<point>" (instance 1-based, omitted for the first), e.g.
    "704.WSet" or "802[2].SoC". `value` is a quantity where the point has a unit, else an int
    or text; None when the device marks the point "not implemented" (`implemented` False).
    """

    name: str
    value: pint.Quantity | int | str | None
    implemented: bool = True
    raw: int | str | None = None
    symbol: str | None = None  # enum / bitfield names where the model defines them


class PointNotImplemented(Exception):
    """A point the step needs reads "not implemented" (0x8000, 0xFFFF, ...) or is absent.

    Plans turn this into an INDETERMINATE measurement naming `point`, never into a number."""

    def __init__(self, instrument: str, point: str, detail: str = "") -> None:
        self.instrument = instrument
        self.point = point
        super().__init__(
            f"{instrument}: point {point} not implemented by the device" + (f" ({detail})" if detail else "")
        )


@dataclass
class SiteStatus:
    """A snapshot of the site as its controller reports it (signs: + = export / discharge)."""

    state: str  # controller state (vendor model St), e.g. RUNNING, SAFE_STOP
    inverter_state: str  # 701 InvSt name
    active_power: pint.Quantity  # 701 W at the PCS AC terminals
    reactive_power: pint.Quantity  # 701 Var
    soc: pint.Quantity  # 713 SoC (site aggregate reported to SCADA)
    soh: pint.Quantity | None
    energy_available: pint.Quantity  # 713 WHAvail
    storage_status: str  # 713 Sta
    dc_power: pint.Quantity  # 714 DCW
    alarms: list[str] = field(default_factory=list)
    timestamp_s: float = 0.0


@dataclass
class BlockStatus:
    """One battery block (SunSpec 802 + 803/804 where offered, vendor block group)."""

    index: int  # 1-based
    state: str  # 802 State name
    contactor_closed: bool
    soc: pint.Quantity
    soh: pint.Quantity | None
    voltage: pint.Quantity
    current: pint.Quantity  # + = discharge
    power: pint.Quantity
    energy_rating: pint.Quantity  # 802 WHRtg
    max_charge_power: pint.Quantity
    max_discharge_power: pint.Quantity
    cell_voltage_max: pint.Quantity
    cell_voltage_min: pint.Quantity
    cell_temperature_max: pint.Quantity | None = None
    cell_temperature_min: pint.Quantity | None = None
    availability: str = ""  # vendor block state (ONLINE, OFFLINE, DERATED, FAULT)
    alarms: list[str] = field(default_factory=list)


@dataclass
class CellScan:
    """A full cell-level read of every block and the wall time the link took for it."""

    elapsed: pint.Quantity
    blocks: list[dict[str, Any]]
    registers: int = 0


class SiteController(Instrument):
    """An installed storage system seen through its site controller (SunSpec 1, 701, 702, 704, 713,
    714, 802 per block, a vendor alarm model). Power is commanded at the PCS AC terminals,
    positive = export (discharge). The safe state is zero power command and every block's
    contactors open, confirmed by read-back."""

    fixture = "site"
    safe_state_order = 8  # before anything else of the bench: stop the power first

    @abstractmethod
    def models(self) -> dict[int, int]:
        """SunSpec model id -> number of instances found by the scan."""

    @abstractmethod
    def nameplate(self) -> dict[str, Any]:
        """Ratings: WMaxRtg, VAMaxRtg, WChaRteMaxRtg, WDisChaRteMaxRtg, WHRtg (quantities), blocks (int)."""

    @abstractmethod
    def firmware(self) -> dict[str, str]:
        """Firmware versions by component ("controller", "pcs", "bms[1]", ...)."""

    @abstractmethod
    def read_point(self, name: str) -> SitePoint: ...
    @abstractmethod
    def write_point(self, name: str, value: pint.Quantity | int | str) -> SitePoint:
        """Write, then read back (point write verification); raises if the read-back differs."""

    @abstractmethod
    def status(self) -> SiteStatus: ...
    @abstractmethod
    def blocks(self) -> list[BlockStatus]: ...
    @abstractmethod
    def cell_scan(self) -> CellScan: ...
    @abstractmethod
    def alarms(self) -> list[str]:
        """Names of every active alarm (vendor model symbols, 701 Alrm, 802 events)."""

    @abstractmethod
    def reset_alarms(self) -> None: ...
    @abstractmethod
    def enable(self, on: bool) -> None:
        """Connect every block and enable the power setpoint (True), or zero power and disconnect."""

    @abstractmethod
    def set_active_power(self, power: pint.Quantity) -> None:
        """Active power setpoint at the AC terminals, + = export/discharge, - = import/charge."""

    @abstractmethod
    def set_reactive_power(self, power: pint.Quantity | None) -> None:
        """Reactive power setpoint (+ = injected), or None to disable the setpoint."""

    @abstractmethod
    def probe_write_access(self, source_address: str) -> str:
        """Try a harmless write from another source address; 'refused: ...' or 'accepted: ...'."""

    @abstractmethod
    def link_statistics(self) -> dict[str, int]:
        """Requests, retries and timeouts on the link since the connection was opened."""


@dataclass
class MeterReading:
    """One reading of a metering point (signs: + = export from the site to the grid)."""

    active_power: pint.Quantity
    reactive_power: pint.Quantity
    energy_exported: pint.Quantity  # register (instrument-side integrator)
    energy_imported: pint.Quantity
    frequency: pint.Quantity | None = None
    voltage: pint.Quantity | None = None
    timestamp_s: float = 0.0


class PowerMeter(Instrument):
    """An independent revenue-grade meter with one or more metering points ("poi", "aux")."""

    fixture = "meter"
    safe_state_order = 90  # nothing to switch; read last

    @abstractmethod
    def channels(self) -> list[str]: ...
    @abstractmethod
    def read(self, channel: str = "poi") -> MeterReading: ...


# -- optional feature: a BMS whose protection settings can be read back (safety-chain plan) ------
class BmsConfiguration(ABC):
    """A BMS that reports its configured protection settings (a configuration read).

    The safety chain checks the settings against the product's UL 9540A data and then provokes
    each hazard at the setting it read, so a setting must come from the device (or, where the
    driver has no such read, be typed by the operator from the BMS tool and witnessed), never be
    assumed. foxBMS 2 on CAN and SunSpec 802 carry no such read; a driver for a BMS whose protocol
    does (a vendor Modbus map, a UDS/XCP read) implements this.
    """

    SETTINGS: ClassVar[dict[str, str]] = {
        "ot_charge_trip": "[temperature]",  # cell over-temperature trip while charging (absolute)
        "ot_discharge_trip": "[temperature]",  # ... while discharging
        "ror_alarm": "[temperature] / [time]",  # cell temperature rate-of-rise alarm
        "gradient_alarm": "[temperature]",  # cell temperature spread (max - min) alarm, in K
    }

    @abstractmethod
    def protection_settings(self) -> dict[str, pint.Quantity]:
        """The settings the device holds, keyed as in SETTINGS (those it has; others left out)."""
