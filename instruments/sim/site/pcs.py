"""Power conversion system (PCS) and the site's auxiliary loads, as the site plant integrates them.

PCS: a command takes effect `command_delay_s` after it is received (communication and control
latency), then the AC power moves towards it at the ramp limit (the lower of the 704 WRmp
setting and the hardware capability, in % of rated power per second); a fall in what the
blocks can give (end of the SoC window, a BMS limit) is followed at once, as a current limit
is. DC power = AC / efficiency when exporting, AC * efficiency when importing, the efficiency
interpolated over |P| / rated. Idle, the PCS draws its standby loss from the grid.

Auxiliaries (own feeder and meter): HVAC holding the enclosure air at its set point against the
blocks' heat and the envelope gain (heat pump with a COP, fan always on), a coolant pump with
its outlet pressure, and the controls.
"""

from __future__ import annotations

import bisect
from typing import Any


class Pcs:
    def __init__(self, cfg: dict[str, Any]) -> None:
        p = cfg["pcs"]
        self.rated_W = float(p["rated_power_W"])
        self.rated_VA = float(p["rated_apparent_power_VA"])
        self.delay_s = float(p["command_delay_s"])
        self.extra_delay_s = 0.0  # fault: slow to respond
        self.ramp_capability = float(p["ramp_capability_pct_per_s"])
        self._eff_x = [float(f) for f, _ in p["efficiency"]]
        self._eff_y = [float(e) for _, e in p["efficiency"]]
        self.standby_W = float(p["standby_loss_W"])
        self.voltage_V = float(p["ac_voltage_V"])
        self.frequency_Hz = float(p["frequency_Hz"])
        self.queue: list[tuple[float, float, float | None]] = []  # (t_effective, W, var)
        self.target_W = 0.0
        self.target_var = 0.0
        self.p_W = 0.0  # AC active power, + = export
        self.q_var = 0.0  # AC reactive power, + = injected
        self.last_change_s = -1e9
        self.ramping = False

    def efficiency(self, p_W: float) -> float:
        x = abs(p_W) / self.rated_W
        xs, ys = self._eff_x, self._eff_y
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        k = bisect.bisect_right(xs, x)
        return ys[k - 1] + (ys[k] - ys[k - 1]) * (x - xs[k - 1]) / (xs[k] - xs[k - 1])

    def dc_power(self, p_ac_W: float) -> float:
        """DC power drawn from (+) or pushed into (-) the blocks for an AC power."""
        if p_ac_W == 0.0:
            return 0.0
        eta = self.efficiency(p_ac_W)
        return p_ac_W / eta if p_ac_W > 0 else p_ac_W * eta

    def ac_from_dc(self, p_dc_W: float) -> float:
        """Inverse of dc_power (fixed point; the efficiency curve is smooth)."""
        p = p_dc_W
        for _ in range(4):
            eta = self.efficiency(p)
            p = p_dc_W * eta if p_dc_W > 0 else p_dc_W / eta
        return p

    def command(self, t: float, p_W: float, q_var: float | None) -> None:
        self.queue.append((t + self.delay_s + self.extra_delay_s, float(p_W), q_var))

    def next_event_s(self, t: float) -> float:
        return min((te for te, _, _ in self.queue), default=float("inf")) - t

    def fast_stop(self) -> None:
        """Protective stop: zero at once, pending commands dropped."""
        self.queue.clear()
        self.target_W = self.p_W = 0.0
        self.target_var = self.q_var = 0.0
        self.ramping = False

    def transient(self) -> bool:
        """A command pending or a ramp under way (needs fine time steps)."""
        return bool(self.queue) or self.ramping

    def step(self, h: float, t: float, ramp_setting_pct_per_s: float, p_max_dis_W: float, p_max_ch_W: float) -> float:
        """Advance h seconds; `p_max_*` are what the blocks allow now, at the AC side.

        Returns the mean AC power over the step (exact for the linear ramp, also when the ramp
        ends inside the step), so the energy integrated from it needs no fine time steps."""
        while self.queue and self.queue[0][0] <= t - h + 1e-9:
            _, w, q = self.queue.pop(0)
            self.target_W = w
            if q is not None:
                self.target_var = q
            self.last_change_s = t - h
        lo, hi = -max(p_max_ch_W, 0.0), max(p_max_dis_W, 0.0)
        want = min(max(self.target_W, lo), hi)
        rate = min(ramp_setting_pct_per_s, self.ramp_capability) / 100.0 * self.rated_W
        p0 = min(max(self.p_W, lo), hi)  # a shrinking limit is followed at once
        gap = abs(want - p0)
        if gap <= rate * h:
            t_ramp = gap / rate if rate > 0 else 0.0
            mean = ((p0 + want) / 2.0 * t_ramp + want * (h - t_ramp)) / h if h > 0 else want
            p = want
            self.ramping = False
        else:
            p = p0 + (rate * h if want > p0 else -rate * h)
            mean = (p0 + p) / 2.0
            self.ramping = True
        self.p_W = p
        q_lim = max(self.rated_VA**2 - p * p, 0.0) ** 0.5
        self.q_var = min(max(self.target_var, -q_lim), q_lim) if (lo or hi or p) else 0.0
        return mean

    def ramp_time_s(self, ramp_setting_pct_per_s: float) -> float:
        """Time the present ramp needs to reach its target (inf-free: 0 when not ramping)."""
        rate = min(ramp_setting_pct_per_s, self.ramp_capability) / 100.0 * self.rated_W
        return abs(self.target_W - self.p_W) / rate if rate > 0 else 0.0

    def grid_power_W(self, p_W: float | None = None) -> float:
        """Power at the AC terminals as the grid sees it (standby loss when idle)."""
        p = self.p_W if p_W is None else p_W
        if abs(p) < 0.01 * self.rated_W and abs(self.target_W) < 1e-9:
            return p - self.standby_W
        return p


class AuxLoads:
    def __init__(self, cfg: dict[str, Any], hvac_setpoint_degC: float) -> None:
        a = cfg["aux"]
        self.cop = float(a["hvac_cop"])
        self.fan_W = float(a["hvac_fan_W"])
        self.q_max_W = float(a["hvac_max_cooling_W"])
        self.UA = float(a["enclosure_UA_W_per_K"])
        self.C = float(a["enclosure_heat_capacity_J_per_K"])
        self.outdoor_degC = float(a["outdoor_degC"])
        self.pump_W = float(a["pump_W"])
        self.pressure_nominal_kPa = float(a["pump_pressure_kPa"])
        self.controls_W = float(a["controls_W"])
        self.extra_W = 0.0  # fault: consumption above declared
        self.pressure_factor = 1.0  # fault: worn pump / leak
        self.pressure_override_kPa: float | None = None  # stimulus: sensor forced
        self.controls_extra_heat_W = 0.0  # stimulus: extra heat load in the enclosure
        self.T_air_degC = hvac_setpoint_degC
        self.hvac_W = self.fan_W
        self.tau_s = 600.0

    @property
    def pressure_kPa(self) -> float:
        if self.pressure_override_kPa is not None:
            return self.pressure_override_kPa
        return self.pressure_nominal_kPa * self.pressure_factor

    def power_W(self) -> float:
        return self.hvac_W + self.pump_W + self.controls_W + self.extra_W

    def step(self, h: float, heat_in_W: float, setpoint_degC: float) -> None:
        """Enclosure air node with a proportional heat-pump HVAC (implicit in the air temperature)."""
        load = (
            heat_in_W + self.controls_W + self.controls_extra_heat_W + self.UA * (self.outdoor_degC - self.T_air_degC)
        )
        q = load + self.C * (self.T_air_degC - setpoint_degC) / self.tau_s
        q = min(max(q, -self.q_max_W), self.q_max_W)
        # implicit update: C dT/dt = load(T) - q
        self.T_air_degC += h * (load - q) / (self.C + h * self.UA)
        self.hvac_W = abs(q) / self.cop + self.fan_W
