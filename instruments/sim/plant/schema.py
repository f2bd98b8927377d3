"""Allowed config keys per section, so a typo in a station's overrides fails loudly.

`Plant.from_config` calls `validate_config`; the error names the section and the key (station
loading turns it into a ConfigError with the file). README.md documents what each key means.
"""

from __future__ import annotations

from typing import Any

SECTION_KEYS: dict[str, frozenset[str]] = {
    "pack": frozenset(
        {
            "n_series",
            "n_parallel",
            "cell_capacity_Ah",
            "soc0",
            "soc_spread",
            "capacity_spread_rel",
            "resistance_spread_rel",
            "T0_degC",
            "cell_r0_ohm",
            "self_discharge_per_month",
            "cell_heat_capacity_J_per_K",
            "hA_still_W_per_K",
            "hA_forced_W_per_K",
            "k_series_W_per_K",
            "k_parallel_W_per_K",
            "edge_cooling_factor",
            "slow_period_s",
            "dut_isolation_ohm",
        }
    ),
    "supply": frozenset(
        {
            "model",
            "rated_voltage_V",
            "rated_current_A",
            "rated_power_W",
            "ovp_max_V",
            "noise_voltage_V",
            "noise_current_A",
        }
    ),
    "load": frozenset(
        {
            "model",
            "rated_voltage_V",
            "rated_current_A",
            "rated_power_W",
            "ranges_A",
            "v_on_V",
            "cr_max_ohm",
            "cr_min_ohm",
            "noise_voltage_V",
            "noise_current_A",
            "heatsink_rise_at_rated_K",
            "heatsink_tau_s",
            "otp_degC",
        }
    ),
    "chamber": frozenset(
        {
            "min_degC",
            "max_degC",
            "tau_s",
            "heat_rate_max_degC_per_min",
            "cool_rate_max_degC_per_min",
            "drift_tau_s",
            "T0_degC",
            "setpoint_degC",
            "ramp_rate_degC_per_min",
            "running",
        }
    ),
    "bus": frozenset({"bleeder_ohm", "precharge_ohm"}),
    "gas": frozenset({"enclosure_volume_m3", "air_changes_per_h", "pressure_leak_tau_s", "background_ppm"}),
    "insulation": frozenset(
        {
            "model",
            "v_min_V",
            "v_max_V",
            "i_limit_A",
            "r_min_ohm",
            "r_max_ohm",
            "ranges_ohm",
            "dut_capacitance_F",
            "absorption_capacitance_F",
            "absorption_tau_s",
            "noise_rel",
        }
    ),
    "sim": frozenset({"max_substep_s", "fast_substep_s", "fast_window_s", "rest_substep_s"}),
}
TOP_KEYS = frozenset({"name", "description", "chemistry", "ambient_degC", "bms", "faults", *SECTION_KEYS})
BMS_EXTRA_KEYS = frozenset({"soc_init", "soh_initial", "balancing_allowed"})


def validate_config(cfg: dict[str, Any], bms_keys: frozenset[str] | set[str]) -> None:
    """Raise ValueError naming the first unknown section or key."""
    unknown = sorted(set(cfg) - TOP_KEYS)
    if unknown:
        raise ValueError(f"unknown plant config section(s) {unknown}; expected some of {sorted(TOP_KEYS)}")
    for section, allowed in SECTION_KEYS.items():
        values = cfg.get(section) or {}
        if not isinstance(values, dict):
            raise ValueError(f"plant config section {section!r} must be a table, got {type(values).__name__}")
        bad = sorted(set(values) - allowed)
        if bad:
            raise ValueError(
                f"unknown key(s) {bad} in plant config section {section!r}; expected some of {sorted(allowed)}"
            )
    bad = sorted(set(cfg.get("bms") or {}) - set(bms_keys) - BMS_EXTRA_KEYS)
    if bad:
        raise ValueError(f"unknown key(s) {bad} in plant config section 'bms' (see bms_thresholds.default_thresholds)")
    faults = cfg.get("faults") or []
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise ValueError("plant config 'faults' must be a list of tables")
