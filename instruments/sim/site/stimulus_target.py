"""Stimulus target of the simulated site: what a HIL box or a commissioning crew does to a site.

The stimulus layer's server (instruments/sim/scpi_stimulus.py) and the simulated operator act on
the site only through this object (the `StimulusTarget` protocol there), so a plan provokes a
site's protective functions by the same path as a pack's. Values are plain floats in the channel's
unit (`channel_unit`): V, degC, A, Pa, W. Indexes are 0-based.

| stimulus | name | unit | what happens |
|---|---|---|---|
| sensor_override | block[i].cell_voltage[j] | V | block i's BMS reads tracked cell j at this voltage |
| sensor_override | block[i].cell_temperature[j] | degC | block i's BMS reads tracked cell j at this temperature |
| sensor_override | block[i].current | A | block i's BMS current sensor (+ discharge) |
| sensor_override | coolant_pressure, block[i].coolant_pressure (one loop) | Pa | the coolant pressure sensor |
| cell_voltage_step | j (a tracked cell of block 0) | V | a HIL cell-voltage channel on block 0 |
| heat | block[i].cell[j] | W | heat released inside tracked cell j (a real gradient develops) |
| heat | enclosure | W | extra heat load on the HVAC |
| cut_link | block[i].bms | - | the controller <-> block BMS link is cut (both sides lose it) |
| cut_link | site, or the station role of the site controller | - | the controller's Modbus port stops answering |

The site has no off-gas model: gas release and ventilation are not available (the server answers
"hardware missing"). Unknown names raise ValueError listing the known ones; values outside a
channel's span raise SimRangeError.
"""

from __future__ import annotations

import re
from typing import Any

from instruments.sim.plant.errors import StimulusConflict, check_range

STIMULI = ("sensor_override", "cell_voltage_step", "heat", "cut_link")
_CELL = re.compile(r"^block\[(\d+)\]\.(cell_voltage|cell_temperature|cell)\[(\d+)\]$")
_BLOCK = re.compile(r"^block\[(\d+)\]\.(current|coolant_pressure|bms)$")
SPANS = {"V": (0.0, 5.0), "degC": (-40.0, 150.0), "A": (-5000.0, 5000.0), "Pa": (0.0, 2.0e6)}
MAX_HEAT_W = 20_000.0


class SiteStimulusTarget:
    """Stimuli on the site plant; see the module docstring for the model of each."""

    def __init__(self, plant: Any) -> None:
        self.plant = plant
        self._sensors: dict[str, float] = {}
        self._cells: dict[int, float] = {}
        self._heat: dict[str, float] = {}
        self._cut: dict[str, str] = {}  # name the link was cut by -> site link
        self._aliases: dict[str, str] = {}  # station role -> site link

    # -- names -------------------------------------------------------------------------------
    def available(self) -> set[str]:
        return set(STIMULI)

    def _blocks(self) -> range:
        return range(len(self.plant.blocks))

    def _tracked(self, i: int) -> range:
        return range(self.plant.blocks[i].tracked)

    def targets(self, stimulus: str) -> list[str]:
        """The names `stimulus` accepts; [] for one that takes none."""
        if stimulus == "sensor_override":
            out = [
                f"block[{i}].{k}[{j}]"
                for i in self._blocks()
                for k in ("cell_voltage", "cell_temperature")
                for j in self._tracked(i)
            ]
            return (
                out
                + [f"block[{i}].current" for i in self._blocks()]
                + ["coolant_pressure"]
                + [f"block[{i}].coolant_pressure" for i in self._blocks()]
            )
        if stimulus == "cell_voltage_step":
            return [str(j) for j in self._tracked(0)]
        if stimulus == "heat":
            return [f"block[{i}].cell[{j}]" for i in self._blocks() for j in self._tracked(i)] + ["enclosure"]
        if stimulus == "cut_link":
            return [f"block[{i}].bms" for i in self._blocks()] + ["site"] + sorted(self._aliases)
        if stimulus in ("gas_release", "ventilation"):
            return []
        raise ValueError(f"unknown stimulus {stimulus!r}; known: {', '.join(STIMULI)}")

    def _block(self, text: str, name: str) -> Any:
        k = int(text)
        if k not in self._blocks():
            raise ValueError(f"{name}: block index {k} outside 0..{len(self.plant.blocks) - 1}")
        return self.plant.blocks[k]

    def _cell(self, block: Any, text: str, name: str) -> int:
        k = int(text)
        if not 0 <= k < block.tracked:
            raise ValueError(f"{name}: cell index {k} outside 0..{block.tracked - 1} (tracked cells of the block)")
        return k

    def channel_unit(self, channel: str) -> str:
        m = _CELL.match(channel)
        if m and m.group(2) != "cell":
            self._cell(self._block(m.group(1), channel), m.group(3), channel)
            return "V" if m.group(2) == "cell_voltage" else "degC"
        b = _BLOCK.match(channel)
        if b and b.group(2) in ("current", "coolant_pressure"):
            self._block(b.group(1), channel)
            return "A" if b.group(2) == "current" else "Pa"
        if channel == "coolant_pressure":
            return "Pa"
        raise ValueError(
            f"unknown site sensor channel {channel!r}; known: block[i].cell_voltage[j], "
            "block[i].cell_temperature[j], block[i].current, coolant_pressure, block[i].coolant_pressure"
        )

    def bind_role(self, role: str, fixture: str | None) -> bool:
        """The station role of the site controller names the bench <-> site link."""
        if fixture == "site":
            self._aliases[role] = "site"
            return True
        return False

    def _link(self, name: str) -> str:
        if name == "site" or (_BLOCK.match(name) and _BLOCK.match(name).group(2) == "bms"):  # type: ignore[union-attr]
            if name != "site":
                self._block(_BLOCK.match(name).group(1), name)  # type: ignore[union-attr]
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise ValueError(f"unknown link {name!r}; known: {', '.join(self.targets('cut_link'))}")

    def _mark(self, what: str) -> None:
        self.plant._fast_until = self.plant.t_s + self.plant.fast_window_s  # resolve the response finely
        self.plant.log(f"stimulus {what}")

    # -- stimuli ---------------------------------------------------------------------------------
    def sensor_override(self, channel: str, value: float | None) -> None:
        unit = self.channel_unit(channel)
        if value is not None:
            value = check_range(f"{channel} ({unit})", value, *SPANS[unit])
        m = _CELL.match(channel)
        if m:
            b = self.plant.blocks[int(m.group(1))]
            j = int(m.group(3))
            if m.group(2) == "cell_voltage":
                if int(m.group(1)) == 0 and j in self._cells:
                    raise StimulusConflict(
                        f"{channel} is driven by the cell-voltage step of cell {j}; release it first"
                    )
                b.bms.set_sensor_override("voltage", j, value)
            else:
                b.bms.set_sensor_override("temperature", j, value)
        elif unit == "A":
            self.plant.blocks[int(_BLOCK.match(channel).group(1))].bms.set_sensor_override(  # type: ignore[union-attr]
                "current", None, value
            )
        else:
            self.plant.aux.pressure_override_kPa = None if value is None else value / 1000.0
        if value is None:
            self._sensors.pop(channel, None)
        else:
            self._sensors[channel] = value
        self._mark(f"{channel} = {value}")

    def cell_voltage_step(self, cell: int, volts: float | None) -> None:
        """A HIL cell-voltage channel on block 0's tracked cell `cell`."""
        if isinstance(cell, bool) or not str(cell).strip().isdigit():
            raise ValueError(f"unknown cell {cell!r}; known: 0..{self.plant.blocks[0].tracked - 1} (block 0)")
        j = self._cell(self.plant.blocks[0], str(cell), "cell_voltage_step")
        if f"block[0].cell_voltage[{j}]" in self._sensors:
            raise StimulusConflict(f"block[0].cell_voltage[{j}] has a sensor override; release it first")
        if volts is not None:
            volts = check_range(f"cell {j} voltage (V)", volts, *SPANS["V"])
        self.plant.blocks[0].bms.set_sensor_override("voltage", j, volts)
        if volts is None:
            self._cells.pop(j, None)
        else:
            self._cells[j] = volts
        self._mark(f"cell {j} = {volts}")

    def heat(self, zone: str, watts: float | None) -> None:
        if watts is not None:
            watts = check_range(f"heater on {zone} (W)", watts, 0.0, MAX_HEAT_W)
        m = _CELL.match(zone)
        if m and m.group(2) == "cell":
            b = self._block(m.group(1), zone)
            b.pack.cells.extra_heat_W[self._cell(b, m.group(3), zone), 0] = 0.0 if watts is None else watts
        elif zone == "enclosure":
            self.plant.aux.controls_extra_heat_W = 0.0 if watts is None else watts
        else:
            raise ValueError(f"unknown heat zone {zone!r}; known: block[i].cell[j], enclosure")
        if watts is None:
            self._heat.pop(zone, None)
        else:
            self._heat[zone] = watts
        self._mark(f"heat {zone} = {watts}")

    def cut_link(self, name: str, cut: bool) -> None:
        link = self._link(name)
        if link == "site":
            self.plant.link_cut = bool(cut)
        else:
            b = self.plant.blocks[int(_BLOCK.match(link).group(1))]  # type: ignore[union-attr]
            b.comms_cut = bool(cut)
            b.bms.comms_forced_lost = bool(cut)
            if not cut:
                b.bms.comms_ok = True
        if cut:
            self._cut[name] = link
        else:
            for k in [k for k, v in self._cut.items() if v == link]:
                self._cut.pop(k)
        self._mark(f"link {link} {'cut' if cut else 'restored'}")

    def link_cut(self, name: str) -> bool:
        link = self._link(name)
        return link in self._cut.values()

    def gas_release(self, source: str, rates_ppm_per_s: dict[str, float] | None) -> None:
        raise NotImplementedError("gas_release: the simulated site has no off-gas model")

    def ventilation(self, flow_m3_per_h: float | None) -> None:
        raise NotImplementedError("ventilation: the simulated site has no off-gas model")

    def release_all(self) -> None:
        for channel in list(self._sensors):
            self.sensor_override(channel, None)
        for cell in list(self._cells):
            self.cell_voltage_step(cell, None)
        for zone in list(self._heat):
            self.heat(zone, None)
        for name in list(self._cut):
            if name in self._cut:
                self.cut_link(name, False)

    def applied(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if self._sensors:
            out["sensor_override"] = dict(self._sensors)
        if self._cells:
            out["cell_voltage_step"] = {str(k): v for k, v in self._cells.items()}
        if self._heat:
            out["heat"] = dict(self._heat)
        if self._cut:
            out["cut_link"] = {name: True for name in self._cut}
        return out
