"""Configuration of a simulated site: defaults, merging and load-time checks.

Plain SI floats with unit suffixes, like the battery plant (instruments/sim/plant). The station
file's `[simulation.site]` table overrides any key; every key is checked here so a typo or an
impossible value fails at start with the key named, never half-way through a run.

The default is a 300 kWh / 150 kW LFP site: three ~100 kWh blocks (one string of 240 cells of
130 Ah each, modelled as one equivalent string with `tracked_cells` cells tracked individually:
the string's current flows through all of them, so the tracked cells are a representative
sample with the manufacturing spread), one 150 kW / 165 kVA PCS, HVAC, a coolant pump and
controls on their own feeder, and a revenue meter at the point of interconnection.
"""

from __future__ import annotations

import copy
import math
from typing import Any

DEFAULTS: dict[str, Any] = {
    "name": "sim_site_lfp_300kwh",
    "chemistry": "LFP",
    "ambient_degC": 25.0,
    "blocks": {
        "count": 3,
        "cells_series": 240,
        "tracked_cells": 8,
        "cell_capacity_Ah": 130.0,
        "soc0": 0.5,
        "soc_spread": 0.002,
        "capacity_spread_rel": 0.005,
        "resistance_spread_rel": 0.03,
        "cell_r0_ohm": 0.0004,
        # BMS thresholds (any key of instruments.sim.plant.bms_thresholds): 1C both ways for the block
        "bms": {
            "max_charge_current_A": 130.0,
            "max_discharge_current_A": 130.0,
            "oc_charge_alarm_A": 195.0,
            "oc_discharge_alarm_A": 260.0,
            "rest_time_s": 1800.0,
            # the BMS gives up on its master after 30 s; the site controller's own time-out is shorter
            "comms_timeout_s": 30.0,
        },
        "heartbeat_period_s": 1.0,
    },
    "pcs": {
        "rated_power_W": 150_000.0,
        "rated_apparent_power_VA": 165_000.0,
        "command_delay_s": 0.3,
        "ramp_capability_pct_per_s": 100.0,  # what the hardware can do; WRmp (704) limits further
        # efficiency over |P_ac| / rated: (fraction, efficiency), linear in between
        "efficiency": [
            [0.02, 0.80],
            [0.05, 0.91],
            [0.10, 0.95],
            [0.25, 0.975],
            [0.50, 0.982],
            [0.75, 0.981],
            [1.00, 0.978],
        ],
        "standby_loss_W": 250.0,  # drawn from the grid when idle
        "ac_voltage_V": 480.0,
        "frequency_Hz": 60.0,
    },
    "controller": {
        "soc_min_pct": 5.0,
        "soc_max_pct": 95.0,
        "wrmp_pct_per_s": 20.0,
        "comms_timeout_s": 3.0,
        "alarm_delay_s": 1.0,
        "ov_limit_V": 3.70,
        "thermal_gradient_limit_K": 8.0,
        "pump_pressure_min_kPa": 150.0,
        "hvac_setpoint_degC": 25.0,
        "firmware": "2.4.1",
        "pcs_firmware": "5.0.3",
        "bms_firmware": "1.8.0",
        "make": "ESS Bench",
        "model": "SIM-SITE-300",
        "serial": "SIM-SITE-0001",
        "allow_write": ["127.0.0.1"],  # source addresses allowed to write ("*" = any)
        "max_clients": 1,
        "refuse_fc6": False,
        "implemented": {},  # {"704.VarSet": false, ...}: points reading "not implemented"
    },
    "aux": {
        "hvac_cop": 3.0,
        "hvac_fan_W": 400.0,
        "hvac_max_cooling_W": 20_000.0,
        "enclosure_UA_W_per_K": 80.0,
        "enclosure_heat_capacity_J_per_K": 4.0e5,
        "outdoor_degC": 30.0,
        "pump_W": 750.0,
        "pump_pressure_kPa": 220.0,
        "controls_W": 300.0,
    },
    "meter": {
        "make": "ESS Bench",
        "model": "SIM-METER-2CH",
        "serial": "SIM-MTR-0001",
        "firmware": "1.2.0",
        "noise_W": 20.0,
    },
    "sim": {"max_substep_s": 20.0, "rest_substep_s": 60.0, "fast_substep_s": 0.05, "fast_window_s": 2.0},
    "faults": [],
}

_POSITIVE = {
    "blocks.count",
    "blocks.cells_series",
    "blocks.tracked_cells",
    "blocks.cell_capacity_Ah",
    "blocks.cell_r0_ohm",
    "blocks.heartbeat_period_s",
    "pcs.rated_power_W",
    "pcs.rated_apparent_power_VA",
    "pcs.ramp_capability_pct_per_s",
    "pcs.ac_voltage_V",
    "pcs.frequency_Hz",
    "controller.wrmp_pct_per_s",
    "controller.comms_timeout_s",
    "controller.ov_limit_V",
    "controller.thermal_gradient_limit_K",
    "controller.pump_pressure_min_kPa",
    "aux.hvac_cop",
    "aux.hvac_max_cooling_W",
    "aux.enclosure_UA_W_per_K",
    "aux.enclosure_heat_capacity_J_per_K",
    "aux.pump_pressure_kPa",
    "sim.max_substep_s",
    "sim.rest_substep_s",
    "sim.fast_substep_s",
    "sim.fast_window_s",
    "controller.max_clients",
}
_NON_NEGATIVE = {
    "pcs.command_delay_s",
    "pcs.standby_loss_W",
    "controller.alarm_delay_s",
    "aux.hvac_fan_W",
    "aux.pump_W",
    "aux.controls_W",
    "meter.noise_W",
    "blocks.soc_spread",
    "blocks.capacity_spread_rel",
    "blocks.resistance_spread_rel",
}
_FRACTION = {"blocks.soc0"}
_OPEN_TABLES = {"blocks.bms", "controller.implemented"}


def _merge(base: dict[str, Any], over: dict[str, Any], path: str, errors: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        dotted = f"{path}.{key}" if path else key
        if key not in base:
            errors.append(f"{dotted}: unknown key; expected one of {sorted(base)}")
            continue
        if isinstance(base[key], dict) and dotted not in _OPEN_TABLES:
            if not isinstance(value, dict):
                errors.append(f"{dotted}: expected a table")
                continue
            out[key] = _merge(base[key], value, dotted, errors)
        elif isinstance(base[key], dict):
            out[key] = {**base[key], **dict(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def build_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults merged with `overrides`; raises ValueError listing every bad key at once."""
    errors: list[str] = []
    cfg = _merge(DEFAULTS, overrides or {}, "", errors)
    for dotted in sorted(_POSITIVE | _NON_NEGATIVE | _FRACTION):
        try:
            v = float(_get(cfg, dotted))
        except (TypeError, ValueError, KeyError):
            errors.append(f"{dotted}: expected a number, got {_get(cfg, dotted)!r}")
            continue
        if not math.isfinite(v):
            errors.append(f"{dotted}: expected a finite number, got {v!r}")
        elif dotted in _POSITIVE and v <= 0:
            errors.append(f"{dotted}: expected a positive number, got {v!r}")
        elif dotted in _NON_NEGATIVE and v < 0:
            errors.append(f"{dotted}: expected a number >= 0, got {v!r}")
        elif dotted in _FRACTION and not 0.0 <= v <= 1.0:
            errors.append(f"{dotted}: expected a fraction 0..1, got {v!r}")
    b = cfg["blocks"]
    if not errors:
        if int(b["cells_series"]) % int(b["tracked_cells"]):
            errors.append(f"blocks.tracked_cells: {b['tracked_cells']} must divide cells_series {b['cells_series']}")
        if not 1 <= int(b["count"]) <= 32:
            errors.append(f"blocks.count: expected 1..32 blocks, got {b['count']}")
        c = cfg["controller"]
        if not 0.0 <= c["soc_min_pct"] < c["soc_max_pct"] <= 100.0:
            errors.append(
                f"controller.soc_min_pct/soc_max_pct: expected 0 <= min < max <= 100, got "
                f"{c['soc_min_pct']} / {c['soc_max_pct']}"
            )
        eff = cfg["pcs"]["efficiency"]
        try:
            pts = [(float(f), float(e)) for f, e in eff]
        except (TypeError, ValueError):
            pts = []
        if (
            len(pts) < 2
            or any(not 0 < e <= 1 or not 0 < f <= 1.5 for f, e in pts)
            or any(b2[0] <= a[0] for a, b2 in zip(pts, pts[1:], strict=False))
        ):
            errors.append(
                "pcs.efficiency: expected [[fraction of rated power, efficiency 0..1], ...] with at least "
                "two points, fractions increasing"
            )
        if cfg["pcs"]["rated_apparent_power_VA"] < cfg["pcs"]["rated_power_W"]:
            errors.append("pcs.rated_apparent_power_VA: must be at least rated_power_W")
        if not isinstance(c["allow_write"], list) or not all(isinstance(a, str) for a in c["allow_write"]):
            errors.append('controller.allow_write: expected a list of addresses (or ["*"])')
        for k, v in c["implemented"].items():
            if not isinstance(v, bool) or "." not in k:
                errors.append(f'controller.implemented.{k}: expected "<model>.<point>" = true/false')
    if not isinstance(cfg["faults"], list):
        errors.append("faults: expected a list of fault tables")
    if errors:
        raise ValueError("; ".join(errors))
    return cfg
