"""Physics plant of the simulated station (pack, bus, supply, load, chamber, BMS, gas, faults).

Protocol servers import `Plant` and drive it through the setter/getter methods documented in
README.md; the SimClock advances it with `plant.step(dt_s)`.
"""

from instruments.sim.plant.errors import SimRangeError
from instruments.sim.plant.plant import Plant
from instruments.sim.plant.presets import PRESETS, get_preset, preset_names

__all__ = ["PRESETS", "Plant", "SimRangeError", "get_preset", "preset_names"]
