"""Preset plant configurations; each is a dict that `Plant.from_config` accepts.

- `lfp_16s5p`: 48 V ESS pack, 16S5P of 50 Ah LFP cells (250 Ah), RP7900 80 V/200 A/12 kW
  supply, 63206A 80 V/240 A/6 kW load.
- `nmc_14s`: 14S1P module of 60 Ah NMC cells (51 V nominal), same instruments.
- `lfp_module_16s1p`: small 16S1P 100 Ah LFP module for the intake plan.

Cell capacity and topology are plain config values; `get_preset(name, **overrides)` returns a
deep copy with top-level sections updated, e.g. get_preset("lfp_16s5p", pack={"soc0": 0.2}).
"""

from __future__ import annotations

import copy
from typing import Any

_SUPPLY = {"model": "RP7952A", "rated_voltage_V": 80.0, "rated_current_A": 200.0, "rated_power_W": 12_000.0}
_LOAD = {
    "model": "63206A-80-240",
    "rated_voltage_V": 80.0,
    "rated_current_A": 240.0,
    "rated_power_W": 6000.0,
    "ranges_A": {"L": 2.4, "M": 24.0, "H": 240.0},
}
_CHAMBER = {"min_degC": -40.0, "max_degC": 150.0, "heat_rate_max_degC_per_min": 5.0, "cool_rate_max_degC_per_min": 3.0}


def _preset(
    name: str,
    chemistry: str,
    n_series: int,
    n_parallel: int,
    cell_capacity_Ah: float,
    soc_spread: float,
    enclosure_volume_m3: float,
) -> dict[str, Any]:
    """One DUT on the standard simulated bench (RP7900 supply, Chroma load, F4T chamber)."""
    return {
        "name": name,
        "chemistry": chemistry,
        "ambient_degC": 25.0,
        "pack": {
            "n_series": n_series,
            "n_parallel": n_parallel,
            "cell_capacity_Ah": cell_capacity_Ah,
            "soc0": 0.5,
            "soc_spread": soc_spread,
            "capacity_spread_rel": 0.01,
            "resistance_spread_rel": 0.03,
            "dut_isolation_ohm": 500e6,
        },
        "supply": dict(_SUPPLY),
        "load": dict(_LOAD),
        "chamber": dict(_CHAMBER),
        "bms": {},
        "gas": {"enclosure_volume_m3": enclosure_volume_m3, "air_changes_per_h": 2.0},
        "insulation": {},
        "sim": {"max_substep_s": 1.0},
        "faults": [],
    }


PRESETS: dict[str, dict[str, Any]] = {
    "lfp_16s5p": _preset("lfp_16s5p", "LFP", 16, 5, 50.0, 0.002, 1.5),
    "nmc_14s": _preset("nmc_14s", "NMC", 14, 1, 60.0, 0.003, 0.5),
    "lfp_module_16s1p": _preset("lfp_module_16s1p", "LFP", 16, 1, 100.0, 0.003, 0.5),
}


def preset_names() -> list[str]:
    """Names accepted by get_preset / Plant.from_config."""
    return sorted(PRESETS)


def get_preset(name: str, **overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of a preset; keyword sections (pack=..., bms=...) are merged into it."""
    try:
        cfg = copy.deepcopy(PRESETS[name])
    except KeyError:
        raise ValueError(f"unknown plant preset {name!r}; known: {preset_names()}") from None
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(cfg.get(section), dict):
            cfg[section].update(copy.deepcopy(values))
        else:
            cfg[section] = copy.deepcopy(values)
    return cfg
