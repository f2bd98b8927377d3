"""Stimulus target of the simulated site (the target protocol of CONTRACTS.md, SI floats).

What a HIL box or a commissioning crew does to a site to provoke its protective functions,
acting on the site plant (instruments/sim/site). Channels, zones and links (indexes 0-based,
like the battery plant's `cell_temperature[0]`):

| call | name | value (SI) | what happens |
|---|---|---|---|
| sensor_override | block[i].cell_voltage[j] | V | block i's BMS reads tracked cell j at this voltage |
| sensor_override | block[i].cell_temperature[j] | K | block i's BMS reads tracked cell j at this temperature |
| sensor_override | block[i].current | A | block i's BMS current sensor (+ discharge) |
| sensor_override | coolant_pressure (or block[i].coolant_pressure: one loop) | Pa | the coolant pressure sensor |
| cell_voltage_step | block[i].cell[j] (or an int: block 0) | V | a HIL cell-voltage channel: the same as the override |
| heat | block[i].cell[j] | W | heat released inside tracked cell j (a real gradient develops) |
| heat | enclosure | W | extra heat load on the HVAC |
| cut_link | block[i].bms | - | the controller <-> block BMS link is cut (both sides lose it) |
| cut_link | site | - | the controller's Modbus port stops answering (bench <-> site link) |
None releases. Unknown names raise ValueError (the stimulus server makes them a SCPI error);
gas release and ventilation raise NotImplementedError: the site plant has no off-gas model.
"""

from __future__ import annotations

import re
from typing import Any

_BLOCK = re.compile(r"^block\[(\d+)\]\.(cell_voltage|cell_temperature|cell)\[(\d+)\]$")
_BLOCK1 = re.compile(r"^block\[(\d+)\]\.(current|coolant_pressure|bms)$")


class SiteStimulusTarget:
    def __init__(self, plant: Any) -> None:
        self.plant = plant
        self.applied: dict[str, str] = {}

    def available(self) -> set[str]:
        return {"sensor_override", "cell_voltage_step", "heat", "cut_link", "release_all"}

    # -- helpers -------------------------------------------------------------------------------------
    def _block(self, i: str, name: str) -> Any:
        k = int(i)
        if not 0 <= k < len(self.plant.blocks):
            raise ValueError(f"{name}: block index {k} outside 0..{len(self.plant.blocks) - 1}")
        return self.plant.blocks[k]

    def _cell(self, block: Any, j: str, name: str) -> int:
        k = int(j)
        if not 0 <= k < block.tracked:
            raise ValueError(f"{name}: cell index {k} outside 0..{block.tracked - 1} (tracked cells of the block)")
        return k

    def _touch(self, name: str, value: Any) -> None:
        if value is None:
            self.applied.pop(name, None)
        else:
            self.applied[name] = str(value)
        self.plant._fast_until = self.plant.t_s + self.plant.fast_window_s
        self.plant.log(f"stimulus {name} = {value}")

    # -- protocol ------------------------------------------------------------------------------------
    def sensor_override(self, channel: str, value: float | None) -> None:
        name = channel.strip()
        m = _BLOCK.match(name)
        if m and m.group(2) in ("cell_voltage", "cell_temperature"):
            b = self._block(m.group(1), name)
            j = self._cell(b, m.group(3), name)
            if m.group(2) == "cell_voltage":
                b.bms.set_sensor_override("voltage", j, None if value is None else float(value))
            else:
                b.bms.set_sensor_override("temperature", j, None if value is None else float(value) - 273.15)
            self._touch(name, value)
            return
        m1 = _BLOCK1.match(name)
        if m1 and m1.group(2) == "current":
            self._block(m1.group(1), name).bms.set_sensor_override("current", None,
                                                                   None if value is None else float(value))
            self._touch(name, value)
            return
        if name == "coolant_pressure" or (m1 and m1.group(2) == "coolant_pressure"):
            if m1:
                self._block(m1.group(1), name)
            self.plant.aux.pressure_override_kPa = None if value is None else float(value) / 1000.0
            self._touch(name, value)
            return
        raise ValueError(f"unknown site sensor channel {channel!r}; expected block[i].cell_voltage[j], "
                         "block[i].cell_temperature[j], block[i].current or coolant_pressure")

    def cell_voltage_step(self, cell: int | str, volts: float | None) -> None:
        name = f"block[0].cell[{cell}]" if isinstance(cell, int) else str(cell)
        m = _BLOCK.match(name)
        if not m or m.group(2) != "cell":
            raise ValueError(f"unknown cell {cell!r}; expected block[i].cell[j] (or a cell index of block 0)")
        self.sensor_override(f"block[{m.group(1)}].cell_voltage[{m.group(3)}]", volts)

    def heat(self, zone: str, watts: float | None) -> None:
        name = zone.strip()
        m = _BLOCK.match(name)
        if m and m.group(2) == "cell":
            b = self._block(m.group(1), name)
            j = self._cell(b, m.group(3), name)
            b.pack.cells.extra_heat_W[j, 0] = 0.0 if watts is None else float(watts)
            self._touch(name, watts)
            return
        if name == "enclosure":
            self.plant.aux.controls_extra_heat_W = 0.0 if watts is None else float(watts)
            self._touch(name, watts)
            return
        raise ValueError(f"unknown heat zone {zone!r}; expected block[i].cell[j] or enclosure")

    def cut_link(self, role: str, cut: bool) -> None:
        name = role.strip()
        m1 = _BLOCK1.match(name)
        if m1 and m1.group(2) == "bms":
            b = self._block(m1.group(1), name)
            b.comms_cut = bool(cut)
            b.bms.comms_forced_lost = bool(cut)
            if not cut:
                b.bms.comms_ok = True
            self._touch(name, "CUT" if cut else None)
            return
        if name == "site":
            self.plant.link_cut = bool(cut)
            self._touch(name, "CUT" if cut else None)
            return
        raise ValueError(f"unknown link {role!r}; expected block[i].bms or site")

    def gas_release(self, source: str, rates: dict[str, float] | None) -> None:
        raise NotImplementedError("gas_release: the simulated site has no off-gas model")

    def ventilation(self, flow: float | None) -> None:
        raise NotImplementedError("ventilation: the simulated site has no off-gas model")

    def release_all(self) -> None:
        for b in self.plant.blocks:
            for j in range(b.tracked):
                b.bms.set_sensor_override("voltage", j, None)
                b.bms.set_sensor_override("temperature", j, None)
            b.bms.set_sensor_override("current", None, None)
            b.pack.cells.extra_heat_W[:] = 0.0
            if b.comms_cut:
                b.comms_cut = False
                b.bms.comms_forced_lost = False
                b.bms.comms_ok = True
        self.plant.aux.pressure_override_kPa = None
        self.plant.aux.controls_extra_heat_W = 0.0
        self.plant.link_cut = False
        self.applied.clear()
        self.plant.log("stimulus: all released")
