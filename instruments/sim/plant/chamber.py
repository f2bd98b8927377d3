"""Thermal chamber (Watlow F4T-style controller): setpoint, run/stop, ramp-rate limit.

Air temperature follows a first-order response towards the (ramped) setpoint with the heater
and cooler rate limits of a real chamber; a stopped chamber drifts back to room temperature
slowly. The fan runs while the chamber runs, which the thermal model sees as forced convection.
"""

from __future__ import annotations

import math
from typing import Any

from instruments.sim.plant.errors import check_range


class Chamber:
    """Air temperature and controller state of the simulated chamber."""

    def __init__(self, cfg: dict[str, Any] | None = None, ambient_degC: float = 25.0) -> None:
        cfg = dict(cfg or {})
        self.min_degC = float(cfg.get("min_degC", -40.0))
        self.max_degC = float(cfg.get("max_degC", 150.0))
        self.tau_s = float(cfg.get("tau_s", 90.0))  # closed-loop air response
        self.heat_rate_max_degC_per_min = float(cfg.get("heat_rate_max_degC_per_min", 5.0))
        self.cool_rate_max_degC_per_min = float(cfg.get("cool_rate_max_degC_per_min", 3.0))
        self.drift_tau_s = float(cfg.get("drift_tau_s", 1800.0))  # stopped: towards the room
        self.ambient_degC = float(ambient_degC)
        self.air_temperature_degC = float(cfg.get("T0_degC", ambient_degC))
        self.setpoint_degC = float(cfg.get("setpoint_degC", ambient_degC))
        self.ramp_rate_degC_per_min = float(cfg.get("ramp_rate_degC_per_min", 0.0))  # 0 = no ramp
        self.running = bool(cfg.get("running", False))
        self.working_setpoint_degC = self.air_temperature_degC

    def set_setpoint_degC(self, T: float) -> None:
        """Target air temperature; reached at the ramp rate (if set) and heater/cooler limits."""
        self.setpoint_degC = check_range("chamber setpoint", T, self.min_degC, self.max_degC)

    def set_running(self, on: bool) -> None:
        """Run/stop: a stopped chamber neither heats nor cools and its fan is off."""
        on = bool(on)
        if on and not self.running:
            self.working_setpoint_degC = self.air_temperature_degC  # ramps start from the air
        self.running = on

    def set_ramp_rate_degC_per_min(self, rate: float) -> None:
        """Setpoint ramp rate limit; 0 disables the ramp (step to setpoint)."""
        self.ramp_rate_degC_per_min = check_range("ramp rate", rate, 0.0, 100.0)

    def get_setpoint_degC(self) -> float:
        return self.setpoint_degC

    def get_running(self) -> bool:
        return self.running

    def get_ramp_rate_degC_per_min(self) -> float:
        return self.ramp_rate_degC_per_min

    @property
    def forced_air(self) -> bool:
        """The circulation fan runs while the chamber runs."""
        return self.running

    def step(self, h: float) -> float:
        """Advance the air temperature by h seconds; return it."""
        T = self.air_temperature_degC
        if self.running:
            sp = self.setpoint_degC
            w = self.working_setpoint_degC
            if self.ramp_rate_degC_per_min > 0.0:
                d = self.ramp_rate_degC_per_min / 60.0 * h
                w = min(sp, w + d) if sp > w else max(sp, w - d)
            else:
                w = sp
            self.working_setpoint_degC = w
            dT = (w - T) * (1.0 - math.exp(-h / self.tau_s))
            up = self.heat_rate_max_degC_per_min / 60.0 * h
            down = self.cool_rate_max_degC_per_min / 60.0 * h
            T += min(max(dT, -down), up)
        else:
            T += (self.ambient_degC - T) * (1.0 - math.exp(-h / self.drift_tau_s))
            self.working_setpoint_degC = T
        self.air_temperature_degC = T
        return T
