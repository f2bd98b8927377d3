"""The battery plant's stimulus target: what a stimulus device can do to the simulated pack.

The simulated HIL stimulus server (instruments/sim/scpi_stimulus.py) and the simulated operator
act on the plant only through this object, so a plan's stimulus reaches the plant by one path
whatever backend the station declares. Values are plain floats in the plant's units (V, A, degC,
W, m3/h, ppm/s) like everything inside `instruments/sim/plant`; units are attached on the wire.

What each stimulus does to the plant (the honest model of the bench action):

* `gas_release(source, {species: ppm/s})`: a named release source in the enclosure gas model
  (a bump-test bottle, a vent simulator); it raises concentrations and enclosure pressure.
* `sensor_override(channel, value)`: what the BMS reads on `cell_voltage[i]`, `cell_temperature[i]`
  (series element i) or `pack_current` is forced, as a HIL injecting into the cell-tap, thermistor
  or shunt input; the pack itself is untouched. Ranges are those of a HIL channel.
* `cell_voltage_step(cell, volts)`: the cell-simulator channel of one series element: the same
  sensing path as `sensor_override("cell_voltage[i]")`, so the two refuse to act on one element.
* `ventilation(m3/h)`: the enclosure exhaust; air changes = max(natural, flow / volume).
* `heat(zone, watts)`: an external heater in the thermal model: `cell[s]` (first cell of series
  element s), `cell[s,p]` (one cell), `pack` (spread over all cells).
* `cut_link(link, cut)`: the BMS communication link goes down through the plant's `comms_loss`
  fault (both BMS protocol servers fall silent, the BMS watchdog runs) and comes back when
  restored, unless an injected `comms_loss` fault holds it down. Station roles whose capability
  is the BMS (`bind_role`) name the same link, so a plan can cut `bms.name`.

Every method validates its arguments: an unknown channel, zone, species, link or cell is a
ValueError naming it and listing the known ones; a value outside the channel's span is a
`SimRangeError` (a ValueError); acting twice on one sensing path is a `StimulusConflict`.
Callers hold the simulated clock's lock (the servers do), so the plant never changes mid-step.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from instruments.sim.plant.errors import StimulusConflict, check_range
from instruments.sim.plant.gas import SPECIES

if TYPE_CHECKING:
    from instruments.sim.plant.faults import Fault
    from instruments.sim.plant.plant import Plant

STIMULI = ("gas_release", "sensor_override", "ventilation", "heat", "cut_link", "cell_voltage_step")
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_INDEXED = re.compile(r"^(cell_voltage|cell_temperature)\[(\d+)\]$")
_ZONE = re.compile(r"^cell\[(\d+)(?:,(\d+))?\]$")
LINKS = {"bms": "bms"}  # plant link -> the capability fixture whose instrument speaks over it


class PackStimulusTarget:
    """Stimuli on the battery plant; see the module docstring for the model of each."""

    # Spans of a HIL channel: a cell simulator 0..5 V, a thermistor emulator -40..150 degC,
    # a shunt-signal injector +-2 kA. The gas, exhaust and heater ceilings are bench equipment.
    CHANNEL_SPANS = {"V": (0.0, 5.0), "degC": (-40.0, 150.0), "A": (-2000.0, 2000.0)}
    MAX_GAS_RATE_PPM_PER_S = 10_000.0
    MAX_EXHAUST_M3_PER_H = 100_000.0
    MAX_HEAT_W = 5_000.0

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self._gas: dict[str, dict[str, float]] = {}
        self._sensors: dict[str, float] = {}
        self._cells: dict[int, float] = {}
        self._heat: dict[str, float] = {}
        self._vent: float | None = None
        self._cut: dict[str, Fault] = {}  # plant link -> the comms_loss fault holding it down
        self._cut_names: dict[str, str] = {}  # name the link was cut by -> plant link
        self._aliases: dict[str, str] = {}  # station role -> plant link

    # -- names -----------------------------------------------------------------------------
    @property
    def n_series(self) -> int:
        return self.plant.pack.n_series

    def available(self) -> set[str]:
        return set(STIMULI)

    def targets(self, stimulus: str) -> list[str]:
        """The names `stimulus` accepts (channels, zones, links, species, cells); [] if it takes none."""
        S, P = self.n_series, self.plant.pack.n_parallel
        if stimulus == "gas_release":
            return list(SPECIES)
        if stimulus == "sensor_override":
            return [f"{kind}[{i}]" for kind in ("cell_voltage", "cell_temperature") for i in range(S)] + [
                "pack_current"
            ]
        if stimulus == "heat":
            return [f"cell[{s}]" for s in range(S)] + [f"cell[{s},{p}]" for s in range(S) for p in range(P)] + ["pack"]
        if stimulus == "cut_link":
            return sorted(LINKS) + sorted(self._aliases)
        if stimulus == "cell_voltage_step":
            return [str(i) for i in range(S)]
        if stimulus == "ventilation":
            return []
        raise ValueError(f"unknown stimulus {stimulus!r}; known: {', '.join(STIMULI)}")

    def _known_channels(self) -> str:
        last = self.n_series - 1
        return f"cell_voltage[0..{last}], cell_temperature[0..{last}], pack_current"

    def channel_unit(self, channel: str) -> str:
        """The unit a channel's value is given in: "V", "degC" or "A"."""
        if channel == "pack_current":
            return "A"
        m = _INDEXED.match(channel)
        if m is None or int(m.group(2)) >= self.n_series:
            raise ValueError(f"unknown sensor channel {channel!r}; known: {self._known_channels()}")
        return "V" if m.group(1) == "cell_voltage" else "degC"

    def _cell_index(self, cell: Any) -> int:
        i = -1
        if isinstance(cell, int) and not isinstance(cell, bool):
            i = cell
        elif isinstance(cell, str) and cell.strip().isdigit():
            i = int(cell)
        if not 0 <= i < self.n_series:
            raise ValueError(f"unknown cell {cell!r}; known: 0..{self.n_series - 1} (series elements)")
        return i

    def _zone_cells(self, zone: str) -> list[tuple[int, int]]:
        S, P = self.n_series, self.plant.pack.n_parallel
        if zone == "pack":
            return [(s, p) for s in range(S) for p in range(P)]
        m = _ZONE.match(zone)
        if m is not None:
            s, p = int(m.group(1)), int(m.group(2) or 0)
            if s < S and p < P:
                return [(s, p)]
        raise ValueError(f"unknown heat zone {zone!r}; known: cell[0..{S - 1}], cell[0..{S - 1},0..{P - 1}], pack")

    def bind_role(self, role: str, fixture: str | None) -> bool:
        """Let station role `role` name the link of the instrument class `fixture` speaks for
        (the simulated station calls this for every role); True if this plant has such a link."""
        for link, owner in LINKS.items():
            if fixture == owner:
                self._aliases[role] = link
                return True
        return False

    def _link(self, name: str) -> str:
        if name in LINKS:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise ValueError(f"unknown link {name!r}; known: {', '.join(self.targets('cut_link'))}")

    # -- stimuli ---------------------------------------------------------------------------
    def gas_release(self, source: str, rates_ppm_per_s: dict[str, float] | None) -> None:
        """Start, change or (None) stop the named release."""
        if not isinstance(source, str) or not SOURCE_NAME.match(source):
            raise ValueError(f"gas source name {source!r}: expected 1-32 characters of A-Z a-z 0-9 _ . -")
        name = f"stimulus:{source}"
        if rates_ppm_per_s is None:
            self._gas.pop(source, None)
            self.plant.gas.set_source(name, None)
            return
        if not rates_ppm_per_s:
            raise ValueError(f"gas release {source!r}: no species given (known: {', '.join(SPECIES)})")
        rates: dict[str, float] = {}
        for species, rate in rates_ppm_per_s.items():
            if species not in SPECIES:
                raise ValueError(f"unknown gas species {species!r}; known: {', '.join(SPECIES)}")
            rates[species] = check_range(f"{species} release rate (ppm/s)", rate, 0.0, self.MAX_GAS_RATE_PPM_PER_S)
        if not any(rates.values()):
            raise ValueError(f"gas release {source!r}: every rate is zero; stop a release with OFF")
        self.plant.gas.set_source(name, rates)
        self._gas[source] = rates

    def sensor_override(self, channel: str, value: float | None) -> None:
        """Force what the BMS reads on `channel` (unit from `channel_unit`), or release it (None)."""
        unit = self.channel_unit(channel)
        m = _INDEXED.match(channel)
        index = int(m.group(2)) if m else None
        kind = {"V": "voltage", "degC": "temperature", "A": "current"}[unit]
        if kind == "voltage" and index in self._cells:
            raise StimulusConflict(f"{channel} is driven by the cell-voltage step of cell {index}; release that first")
        if value is not None:
            value = check_range(f"{channel} ({unit})", value, *self.CHANNEL_SPANS[unit])
        self.plant.bms.set_sensor_override(kind, index, value)
        if value is None:
            self._sensors.pop(channel, None)
        else:
            self._sensors[channel] = value

    def cell_voltage_step(self, cell: int, volts: float | None) -> None:
        """Step the voltage the BMS measures on series element `cell`, or release it (None)."""
        i = self._cell_index(cell)
        if f"cell_voltage[{i}]" in self._sensors:
            raise StimulusConflict(f"cell {i} has a sensor override on cell_voltage[{i}]; release that first")
        if volts is not None:
            volts = check_range(f"cell {i} voltage (V)", volts, *self.CHANNEL_SPANS["V"])
        self.plant.bms.set_sensor_override("voltage", i, volts)
        if volts is None:
            self._cells.pop(i, None)
        else:
            self._cells[i] = volts

    def ventilation(self, flow_m3_per_h: float | None) -> None:
        """Run the enclosure exhaust at the flow, or stop it (None: natural air changes only)."""
        if flow_m3_per_h is not None:
            flow_m3_per_h = check_range("exhaust flow (m3/h)", flow_m3_per_h, 0.0, self.MAX_EXHAUST_M3_PER_H)
        self.plant.gas.set_exhaust_flow(flow_m3_per_h)
        self._vent = flow_m3_per_h

    def heat(self, zone: str, watts: float | None) -> None:
        """Heat `zone` with `watts` (spread over its cells), or stop (None)."""
        cells = self._zone_cells(zone)
        if watts is not None:
            watts = check_range(f"heater on {zone} (W)", watts, 0.0, self.MAX_HEAT_W)
        self.plant.set_heat_source(f"stimulus:{zone}", cells, watts)
        if watts is None:
            self._heat.pop(zone, None)
        else:
            self._heat[zone] = watts

    def cut_link(self, name: str, cut: bool) -> None:
        """Cut (True) or restore (False) the link `name` (a plant link or a bound station role)."""
        link = self._link(name)
        if cut:
            if link not in self._cut:
                self._cut[link] = self.plant.inject({"type": "comms_loss"})
            self._cut_names[name] = link
            return
        fault = self._cut.pop(link, None)
        if fault is not None:
            self.plant.remove_fault(fault)
        self._cut_names = {n: lk for n, lk in self._cut_names.items() if lk != link}

    def link_cut(self, name: str) -> bool:
        """Whether the link `name` names is down by this target's cut (an injected fault aside)."""
        return self._link(name) in self._cut

    def release_all(self) -> None:
        """Undo every stimulus this target applied (faults injected otherwise stay)."""
        for source in list(self._gas):
            self.gas_release(source, None)
        for zone in list(self._heat):
            self.heat(zone, None)
        if self._vent is not None:
            self.ventilation(None)
        for channel in list(self._sensors):
            self.sensor_override(channel, None)
        for cell in list(self._cells):
            self.cell_voltage_step(cell, None)
        for name in list(self._cut_names):
            if name in self._cut_names:
                self.cut_link(name, False)

    def applied(self) -> dict[str, dict[str, Any]]:
        """What is applied now, by stimulus then name: gas rates {species: ppm/s}, override values
        (channel unit), exhaust m3/h under "exhaust", heater W, True for a cut link, cell volts."""
        out: dict[str, dict[str, Any]] = {}
        if self._gas:
            out["gas_release"] = {k: dict(v) for k, v in self._gas.items()}
        if self._sensors:
            out["sensor_override"] = dict(self._sensors)
        if self._vent is not None:
            out["ventilation"] = {"exhaust": self._vent}
        if self._heat:
            out["heat"] = dict(self._heat)
        if self._cut_names:
            out["cut_link"] = dict.fromkeys(self._cut_names, True)
        if self._cells:
            out["cell_voltage_step"] = {str(k): v for k, v in self._cells.items()}
        return out
