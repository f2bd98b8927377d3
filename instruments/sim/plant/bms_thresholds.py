"""BMS thresholds: alarm catalogue (fault codes) and defaults derived from the chemistry.

Defaults follow the cell datasheet windows and the IEC 62619:2022 / UL 1973 protective-function
checks with a bench default trip time (1 s for OV/UV/OT,
100 ms for OC); every value is a default to override per product, from config or at run time
with `Bms.set_thresholds`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from instruments.sim.plant.chemistry import Chemistry

# alarm name -> (fault code, opens contactor by default)
ALARMS: dict[str, tuple[int, bool]] = {
    "cell_ov": (17, True),
    "cell_uv": (20, True),
    "cell_ot": (26, True),
    "cell_ut": (32, True),
    "oc_charge": (47, True),
    "oc_discharge": (48, True),
    "charge_over_limit": (35, True),
    "discharge_over_limit": (38, True),
    "comms_loss": (5, True),
    "contactor_welded": (55, False),
    "precharge": (56, True),
    "insulation": (100, True),
    "gas_stage1": (101, False),
    "gas_stage2": (102, True),
    "pressure": (103, True),
    "temp_rise_rate": (104, True),
    "thermal_gradient": (105, True),
}
WARNINGS = (
    "cell_ov",
    "cell_uv",
    "cell_ot",
    "cell_ut",
    "oc_charge",
    "oc_discharge",
    "cold_charge",
    "insulation",
    "temp_rise_rate",
    "thermal_gradient",
    "soc_low",
    "soc_high",
)


def default_thresholds(chem: Chemistry, pack_capacity_Ah: float, n_series: int) -> dict[str, Any]:
    """Sensible defaults from the chemistry windows (§4.6) and pack size; all overridable."""
    lfp = chem.name == "LFP"
    c_min, c_max = chem.charge_T_degC
    d_min, d_max = chem.discharge_T_degC
    return {
        "ov_warn_V": chem.v_max_V + 0.03,
        "ov_alarm_V": chem.v_max_V + 0.10,
        "ov_delay_s": 1.0,
        "uv_warn_V": chem.v_min_V + 0.10,
        "uv_alarm_V": chem.v_min_V - 0.20,
        "uv_alarm_cold_V": chem.v_min_cold_V - 0.10,
        "uv_delay_s": 1.0,
        "ot_warn_degC": min(c_max, d_max) - 2.0,
        "ot_charge_alarm_degC": c_max + 5.0,
        "ot_discharge_alarm_degC": d_max + 5.0,
        "ot_delay_s": 1.0,
        "ut_warn_degC": d_min + 5.0,
        "ut_charge_alarm_degC": c_min - 5.0,
        "ut_discharge_alarm_degC": d_min - 5.0,
        "ut_delay_s": 1.0,
        "max_charge_current_A": 0.5 * pack_capacity_Ah,
        "max_discharge_current_A": 1.0 * pack_capacity_Ah,
        "oc_charge_alarm_A": 0.75 * pack_capacity_Ah,
        "oc_discharge_alarm_A": 1.5 * pack_capacity_Ah,
        "oc_warn_rel": 0.9,
        "oc_delay_s": 0.1,
        "over_limit_tolerance_rel": 0.05,
        "over_limit_tolerance_A": 0.02 * pack_capacity_Ah,
        "over_limit_delay_s": 5.0,
        "cold_charge_floor_degC": c_min,
        "derating": {
            "T_degC": [c_min, c_min + 5.0, c_min + 10.0, c_min + 15.0, c_max - 10.0, c_max - 5.0, c_max],
            "charge_factor": [0.1, 0.3, 0.6, 1.0, 1.0, 0.5, 0.0],
            "discharge_T_degC": [d_min, d_min + 10.0, d_min + 20.0, d_min + 30.0, d_max - 10.0, d_max],
            "discharge_factor": [0.2, 0.4, 0.7, 1.0, 1.0, 0.0],
        },
        "precharge_time_s": 0.5,
        "precharge_tolerance_rel": 0.05,
        "open_time_s": 0.05,
        "comms_timeout_s": 2.0,
        "insulation_warn_ohm_per_V": 500.0,
        "insulation_alarm_ohm_per_V": 100.0,
        "insulation_delay_s": 5.0,
        "insulation_tau_s": 3.0,
        "insulation_max_ohm": 50e6,
        "gas_stage1_ppm": {"H2": 50.0, "CO": 50.0, "VOC": 25.0, "HF": 5.0},
        "gas_stage2_ppm": {"H2": 4000.0, "CO": 300.0, "VOC": 200.0, "HF": 30.0},
        "gas_delay_s": 1.0,
        "pressure_alarm_Pa": 150.0,
        "pressure_delay_s": 0.5,
        "ror_alarm_degC_per_min": 3.0,
        "ror_window_s": 60.0,
        "ror_sample_s": 5.0,
        "gradient_warn_K": 6.0,
        "gradient_alarm_K": 10.0,
        "gradient_delay_s": 10.0,
        "balancing_enabled": True,
        "balancing_threshold_V": 0.010,
        "balancing_min_V": 3.35 if lfp else 3.90,
        "bleed_ohm": 33.0,
        "balancing_period_s": 10.0,
        "soc_low_warn": 0.05,
        "soc_high_warn": 0.98,
        "rest_current_rel": 0.01,
        "rest_time_s": 1800.0,
        "ocv_trust_slope_V": 0.6,
        "noise_voltage_V": 0.001,
        "noise_temperature_degC": 0.1,
        "noise_current_A": 0.05,
        "current_offset_A": 0.0,
        "heartbeat_period_s": 0.1,
        "alarm_hold_s": 5.0,  # minimum time in ERROR before a standby request may recover
        "opens_contactor": {k: v[1] for k, v in ALARMS.items()},
    }


def interp_table(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear lookup on short Python lists (cheaper than numpy for scalars)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    k = bisect_right(xs, x)
    x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def flat_stretch(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """(x0, x1, y): the widest stretch of a lookup table where it is constant (y), so that
    `interp_table(x, xs, ys)` is exactly y for every x0 <= x <= x1; an empty stretch if none."""
    best = (math.inf, -math.inf, 0.0)
    if len(xs) != len(ys) or not all(a < b for a, b in zip(xs[:-1], xs[1:], strict=True)):
        return best  # not a proper table: no shortcut
    k = 0
    while k < len(ys) - 1:
        j = k
        while j + 1 < len(ys) and ys[j + 1] == ys[k]:
            j += 1
        if j > k and xs[j] - xs[k] > best[1] - best[0]:
            best = (xs[k], xs[j], ys[k])
        k = j + 1 if j > k else k + 1
    return best
