"""Battery management system: sensing, protections, contactor state machine, limits, balancing.

The BMS sees the pack only through its sensors (seeded noise, stuck-sensor fault), so a plan
that tests it exercises the same blind spots a real one has. Protections follow foxBMS practice:
a warning level without delay, an alarm level that must persist for its delay, then a latched
fault code (foxBMS DIAG ids where one exists, house codes >= 100 otherwise) and, for alarms that
demand it, the contactors open and the state machine enters ERROR. Recovery needs the condition
gone and a standby request (or `clear_faults()`), as in S8 of the intake plan (§4.7: detection
value, time to open, latched code, recovery condition). Trip times are logged in `events` to the
moment the delay expired; the plant shortens its sub-step to land on that moment.

States use the foxBMS BmsState values 0..11; requests the RequestBmsMode values 0..2.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from instruments.foxbms_protocol import STATE_NAMES
from instruments.sim.plant.bms_thresholds import ALARMS, WARNINGS, default_thresholds, flat_stretch, interp_table
from instruments.sim.plant.gas import SPECIES, GasModel
from instruments.sim.plant.pack import Pack

UNINITIALIZED, INITIALIZATION, INITIALIZED, IDLE, OPEN_CONTACTORS, STANDBY = 0, 1, 2, 3, 4, 5
PRECHARGE, NORMAL, DISCHARGE, CHARGE, ERROR, UNDEFINED = 6, 7, 8, 9, 10, 11
REQUEST_STANDBY, REQUEST_DISCHARGE, REQUEST_CHARGE = 0, 1, 2
_min, _max = np.minimum.reduce, np.maximum.reduce  # hot path: skip ndarray.min/max wrappers
_REQUESTS = {"STANDBY": 0, "DISCHARGE": 1, "CHARGE": 2, "NORMAL": 1}
_GAS_TIMERS = frozenset(("gas_stage1", "gas_stage2", "pressure"))

__all__ = ["ALARMS", "WARNINGS", "Bms", "default_thresholds", "STATE_NAMES"]


def _span(x: np.ndarray) -> tuple[float, float]:
    """(min, max) of a short 1-D array as floats, equal to numpy's reductions (NaN included).

    Python's min/max on the list cost a fraction of two ufunc reductions on arrays this small."""
    xs = x.tolist()
    if math.isnan(sum(xs)):  # a NaN (or inf - inf) in it: numpy's NaN propagation decides
        return float(_min(x)), float(_max(x))
    return min(xs), max(xs)


class Bms:
    """The simulated BMS; `update(h, t)` runs one cycle after the physics of a sub-step."""

    def __init__(self, cfg: dict[str, Any] | None, pack: Pack, gas: GasModel, seed: int = 0) -> None:
        cfg = dict(cfg or {})
        self.pack = pack
        self.gas = gas
        self.chem = pack.chem
        S = pack.n_series
        self.n = S
        self._single_cells = pack.n_parallel == 1  # one cell per series element: no max over parallel cells
        self.th: dict[str, Any] = default_thresholds(pack.chem, pack.nominal_capacity_Ah, S)
        self.set_thresholds(**{k: v for k, v in cfg.items() if k in self.th})
        self._rng = rng = np.random.default_rng(seed + 977)
        self._noise = rng.standard_normal(4096 * 3 * S)  # refilled when used up: no periodic pattern
        self._ni = 0
        self._scalar_noise = rng.standard_normal(4096)
        self._si = 0
        self._stuck_any = False
        self._override_any = False
        self._v_override = np.full(S, np.nan)
        self._T_override = np.full(S, np.nan)
        self._i_override: float | None = None
        self.stuck_mask = np.zeros(S, dtype=bool)
        self.stuck_value_degC = np.zeros(S)
        self.balancer_failed = np.zeros(S, dtype=bool)
        self.welded = False
        self.comms_ok = True
        self.comms_forced_lost = False
        self.balancing_allowed = bool(cfg.get("balancing_allowed", True))
        self.state = STANDBY
        self.request = REQUEST_STANDBY
        self.changed = False
        self.contactor_commanded = 0  # 0 open, 1 precharge, 2 closed
        self.contactor_path = 0  # physical
        self.alarms = dict.fromkeys(ALARMS, False)
        self.warnings = dict.fromkeys(WARNINGS, False)
        self.alarm_values: dict[str, float] = {}
        self._codes: dict[str, int] = {}  # direction-dependent codes (OT/UT charge vs discharge)
        self.events: list[tuple[float, str]] = []
        self.t_s = 0.0
        self.bus_voltage_V = 0.0  # written by the plant after each bus solve
        self._timers: dict[str, float] = {}
        self._state_timer = 0.0
        self._comms_timer = 0.0
        self._deadline = math.inf
        self.balancing = np.zeros(S, dtype=bool)
        self._bal_timer = math.inf
        self.v_reported = pack.cell_voltages_V()
        self.T_reported = pack.cell_temperatures_degC()
        self.current_reported_A = 0.0
        self.v_min = self.v_max = self.T_min = self.T_max = 0.0
        self._measure()
        soc_init = cfg.get("soc_init", "ocv")
        if soc_init == "ocv":
            self.soc_est = np.clip(self.chem.soc_from_ocv(self.v_reported), 0.0, 1.0)
        else:
            self.soc_est = np.full(S, float(soc_init))
        self.soh = float(cfg.get("soh_initial", 1.0))
        self.capacity_est_Ah = np.full(S, pack.nominal_capacity_Ah * self.soh)
        self._ah_count = np.zeros(S)  # coulomb counter per element (Ah discharged)
        self._rest_time = 0.0
        self._anchor: tuple[np.ndarray, np.ndarray] | None = None
        self._rest_done = False
        self.insulation_resistance_ohm = min(pack.dut_isolation_ohm, self.th["insulation_max_ohm"])
        self._ror_hist: deque[tuple[float, np.ndarray]] = deque()
        self._ror_timer = 0.0
        self.temp_rise_rate_degC_per_min = 0.0
        self.max_charge_current_A = 0.0
        self.max_discharge_current_A = 0.0
        self._limits()

    # ---- configuration and commands ------------------------------------------------------------
    def set_thresholds(self, **kwargs: Any) -> None:
        """Override thresholds/delays by name (see default_thresholds for the keys)."""
        for k, v in kwargs.items():
            if k not in self.th:
                raise KeyError(f"unknown BMS threshold {k!r}")
            if isinstance(self.th[k], dict) and isinstance(v, dict):
                merged = dict(self.th[k])
                merged.update(v)
                v = merged
            self.th[k] = v
        d = self.th["derating"]
        self._der = (
            [float(x) for x in d["T_degC"]],
            [float(x) for x in d["charge_factor"]],
            [float(x) for x in d.get("discharge_T_degC", d["T_degC"])],
            [float(x) for x in d["discharge_factor"]],
        )
        tc, fc, td, fd = self._der
        self._der_flat = (flat_stretch(tc, fc), flat_stretch(td, fd))

    def request_state(self, mode: int | str) -> None:
        """RequestBmsMode: 0/'standby', 1/'discharge', 2/'charge'. Standby also acknowledges faults."""
        m = _REQUESTS.get(str(mode).strip().upper(), mode) if isinstance(mode, str) else int(mode)
        if m not in (0, 1, 2):
            raise ValueError(f"BMS request must be 0, 1 or 2 (standby/discharge/charge), got {mode!r}")
        if int(m) != self.request:
            self.changed = True  # the plant resolves the transition with fine sub-steps
        self.request = int(m)

    def clear_faults(self) -> bool:
        """ResetPersistentFlags: clear latched alarms whose condition is gone; True if all cleared."""
        for name in list(self._timers):
            del self._timers[name]
        remaining = False
        for name, on in self.alarms.items():
            if on and not self._condition_now(name):
                self.alarms[name] = False
            remaining = remaining or self.alarms[name]
        if not remaining and self.state == ERROR:
            self._set_state(STANDBY, "faults cleared")
        return not remaining

    def set_balancing(self, allowed: bool, threshold_V: float | None = None) -> None:
        """ActivateBalancing / SetBalancingThreshold from the state-request message."""
        self.balancing_allowed = bool(allowed)
        if threshold_V is not None:
            self.th["balancing_threshold_V"] = float(threshold_V)
        self._bal_timer = math.inf

    # ---- reported values ---------------------------------------------------------------------
    @property
    def contactor_closed(self) -> bool:
        """Physical main contactor state (auxiliary contact): True when closed (also if welded)."""
        return self.contactor_path == 2

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]

    @property
    def fault_codes(self) -> list[int]:
        """Latched fault codes (foxBMS DIAG ids; >= 100 house codes), sorted."""
        return sorted(self._codes.get(n, ALARMS[n][0]) for n, on in self.alarms.items() if on)

    @property
    def soc_min(self) -> float:
        return float(self.soc_est.min())

    @property
    def soc_max(self) -> float:
        return float(self.soc_est.max())

    @property
    def soc_mean(self) -> float:
        return float(self.soc_est.mean())

    @property
    def heartbeat(self) -> int:
        """Alive counter (0..255) advancing every heartbeat period of BMS time."""
        return int(self.t_s / self.th["heartbeat_period_s"] + 1e-9) & 0xFF

    @property
    def gas_ppm(self) -> dict[str, float]:
        """Off-gas sensor readings (ppm, >= 0, 0.1 ppm resolution)."""
        return {s: max(0.0, round(v + 0.2 * self._snoise(), 1)) for s, v in self.gas.ppm.items()}

    @property
    def enclosure_pressure_Pa(self) -> float:
        return self.gas.pressure_Pa + 0.5 * self._snoise()

    @property
    def gas_stage(self) -> int:
        return 2 if self.alarms["gas_stage2"] else (1 if self.alarms["gas_stage1"] else 0)

    def cell_voltages_reported_V(self) -> np.ndarray:
        return self.v_reported.copy()

    def cell_temperatures_reported_degC(self) -> np.ndarray:
        return self.T_reported.copy()

    def event_time(self, text: str) -> float | None:
        """Time of the first logged event containing `text` (e.g. 'contactor open'), or None."""
        for t, e in self.events:
            if text in e:
                return t
        return None

    # ---- cycle ---------------------------------------------------------------------------------
    def _snoise(self) -> float:
        self._si += 1
        if self._si >= self._scalar_noise.size:
            self._scalar_noise = self._rng.standard_normal(self._scalar_noise.size)
            self._si = 0
        return float(self._scalar_noise[self._si])

    def _measure(self) -> None:
        S = self.n
        i = self._ni
        if i + 3 * S > self._noise.size:
            self._noise = self._rng.standard_normal(self._noise.size)
            i = 0
        nz = self._noise
        self._ni = i + 3 * S
        th = self.th
        v = self.pack.block_V + th["noise_voltage_V"] * nz[i : i + S]
        T_cells = self.pack.cells.T_degC
        hottest = T_cells[:, 0] if self._single_cells else _max(T_cells, 1)  # sensor sees the hottest cell
        T = hottest + th["noise_temperature_degC"] * nz[i + S : i + 2 * S]
        if self._stuck_any:
            T = np.where(self.stuck_mask, self.stuck_value_degC, T)
        cur = self.pack.current_A + th["current_offset_A"] + th["noise_current_A"] * nz[i + 2 * S]
        if self._override_any:
            v = np.where(np.isnan(self._v_override), v, self._v_override)
            T = np.where(np.isnan(self._T_override), T, self._T_override)
            cur = cur if self._i_override is None else self._i_override
        self.v_reported = v
        self.T_reported = T
        self.current_reported_A = cur
        self.v_min, self.v_max = _span(v)
        self.T_min, self.T_max = _span(T)

    def set_sensor_override(self, kind: str, index: int | None = None, value: float | None = None) -> None:
        """HIL sensor override (§4.7): force what the BMS reads, or release it with value=None.

        kind 'voltage' / 'temperature' take a series-element index; 'current' is the pack current
        sensor (index ignored). Protections, limits and reports then act on the forced value.
        """
        val = math.nan if value is None else float(value)
        if kind == "voltage":
            self._v_override[int(index)] = val
        elif kind == "temperature":
            self._T_override[int(index)] = val
        elif kind == "current":
            self._i_override = None if value is None else float(value)
        else:
            raise ValueError(f"sensor override kind must be voltage, temperature or current, got {kind!r}")
        self._override_any = bool(
            np.any(~np.isnan(self._v_override)) or np.any(~np.isnan(self._T_override)) or self._i_override is not None
        )
        self.changed = True

    def set_stuck_sensor(self, index: int, value_degC: float | None = None) -> None:
        """Freeze the temperature sensor of series element `index` at its present (or given) value."""
        self.stuck_mask[index] = True
        self.stuck_value_degC[index] = self.T_reported[index] if value_degC is None else value_degC
        self._stuck_any = True

    def next_deadline_s(self) -> float:
        """Time until the next protection delay or state-machine timer expires."""
        return self._deadline

    def _check(self, name: str, cond: bool, delay: float, value: float, h: float) -> None:
        if cond:
            tm = self._timers.get(name, 0.0) + h
            self._timers[name] = tm
            if tm >= delay - 1e-9:
                if not self.alarms[name]:
                    self._alarm(name, self.t_s - max(tm - delay, 0.0), value)
            elif delay - tm < self._deadline:
                self._deadline = delay - tm
        elif name in self._timers:
            del self._timers[name]

    def _alarm(self, name: str, t: float, value: float) -> None:
        self.alarms[name] = True
        self.alarm_values[name] = value
        self.events.append((t, f"alarm {name} ({value:.6g})"))
        if self.th["opens_contactor"].get(name, False):
            self._set_state(ERROR, f"trip {name}", t)

    def _set_state(self, state: int, why: str, t: float | None = None) -> None:
        if state == self.state:
            return
        t = self.t_s if t is None else t
        self.state = state
        self._state_timer = 0.0
        self.events.append((t, f"state {STATE_NAMES[state]} ({why})"))
        cmd = {PRECHARGE: 1, DISCHARGE: 2, CHARGE: 2, NORMAL: 2}.get(state, 0)
        if cmd != self.contactor_commanded:
            self.contactor_commanded = cmd
            self.events.append((t, {0: "contactor open", 1: "precharge close", 2: "contactor close"}[cmd]))
        self._update_path()

    def _update_path(self) -> None:
        cmd = self.contactor_commanded
        self.contactor_path = 2 if (self.welded and self.contactor_path == 2) else cmd

    def update(self, h: float, t_s: float) -> None:
        """One BMS cycle at the end of a physics sub-step of length h ending at t_s."""
        self.t_s = t_s
        self._deadline = math.inf
        th = self.th
        self._measure()
        i_A = self.current_reported_A
        charging = i_A < -th["rest_current_rel"] * self.pack.nominal_capacity_Ah
        # -- protections. A _check whose condition is false only stops that alarm's running timer,
        # so each group of checks is skipped while all its conditions are false and no timer runs.
        timers = self._timers
        vmax, vmin, tmax, tmin = self.v_max, self.v_min, self.T_max, self.T_min
        ov = vmax > th["ov_alarm_V"]
        uv = vmin < (th["uv_alarm_cold_V"] if tmin <= 0.0 else th["uv_alarm_V"])
        if not self.alarms["cell_ot"]:
            self._codes["cell_ot"] = 23 if charging else 26
        ot = tmax > (th["ot_charge_alarm_degC"] if charging else th["ot_discharge_alarm_degC"])
        if not self.alarms["cell_ut"]:
            self._codes["cell_ut"] = 29 if charging else 32
        ut = tmin < (th["ut_charge_alarm_degC"] if charging else th["ut_discharge_alarm_degC"])
        oc_ch = -i_A > th["oc_charge_alarm_A"]
        oc_dis = i_A > th["oc_discharge_alarm_A"]
        if ov or uv or ot or ut or oc_ch or oc_dis or timers:
            self._check("cell_ov", ov, th["ov_delay_s"], vmax, h)
            self._check("cell_uv", uv, th["uv_delay_s"], vmin, h)
            self._check("cell_ot", ot, th["ot_delay_s"], tmax, h)
            self._check("cell_ut", ut, th["ut_delay_s"], tmin, h)
            self._check("oc_charge", oc_ch, th["oc_delay_s"], i_A, h)
            self._check("oc_discharge", oc_dis, th["oc_delay_s"], i_A, h)
        self._limits()
        if self.contactor_path == 2 and self.state != ERROR:
            tol_r, tol_a = th["over_limit_tolerance_rel"], th["over_limit_tolerance_A"]
            over_ch = -i_A > self.max_charge_current_A * (1 + tol_r) + tol_a
            over_dis = i_A > self.max_discharge_current_A * (1 + tol_r) + tol_a
            if over_ch or over_dis or timers:
                self._check("charge_over_limit", over_ch, th["over_limit_delay_s"], i_A, h)
                self._check("discharge_over_limit", over_dis, th["over_limit_delay_s"], i_A, h)
        grad = tmax - tmin
        steep = grad >= th["gradient_alarm_K"]
        if steep or timers:
            self._check("thermal_gradient", steep, th["gradient_delay_s"], grad, h)
        self._comms(h)
        self._insulation(h)
        self._gas(h)
        self._rate_of_rise(h)
        w = self.warnings
        w["cell_ov"] = vmax > th["ov_warn_V"]
        w["cell_uv"] = vmin < th["uv_warn_V"]
        w["cell_ot"] = tmax > th["ot_warn_degC"]
        w["cell_ut"] = tmin < th["ut_warn_degC"]
        w["oc_charge"] = -i_A > th["oc_warn_rel"] * th["oc_charge_alarm_A"]
        w["oc_discharge"] = i_A > th["oc_warn_rel"] * th["oc_discharge_alarm_A"]
        w["cold_charge"] = self.max_charge_current_A == 0.0 and charging
        w["thermal_gradient"] = grad >= th["gradient_warn_K"]
        # -- estimation, balancing, state machine
        self._estimate(h, i_A)
        self._bal_timer += h
        if self._bal_timer >= th["balancing_period_s"]:
            self._balance()
        self._state_machine(h)

    def _limits(self) -> None:
        th = self.th
        tc, fc, td, fd = self._der
        t_lo, t_hi = self.T_min, self.T_max
        (c0, c1, c), (d0, d1, d) = self._der_flat
        # with every sensor inside a table's flat stretch both lookups give its value: skip them
        fch = c if c0 <= t_lo and t_hi <= c1 else min(interp_table(t_lo, tc, fc), interp_table(t_hi, tc, fc))
        fdis = d if d0 <= t_lo and t_hi <= d1 else min(interp_table(t_lo, td, fd), interp_table(t_hi, td, fd))
        if self.T_min < th["cold_charge_floor_degC"]:
            fch = 0.0  # cold-charge inhibit: lithium plating below the floor
        if self.state == ERROR:
            fch = fdis = 0.0
        self.max_charge_current_A = th["max_charge_current_A"] * fch
        self.max_discharge_current_A = th["max_discharge_current_A"] * fdis

    def _comms(self, h: float) -> None:
        if self.comms_forced_lost:
            self.comms_ok = False
        if self.comms_ok:
            self._comms_timer = 0.0
            self._timers.pop("comms_loss", None)
            return
        self._check("comms_loss", True, self.th["comms_timeout_s"], 0.0, h)

    def _insulation(self, h: float) -> None:
        th = self.th
        target = min(self.pack.dut_isolation_ohm, th["insulation_max_ohm"])
        r = self.insulation_resistance_ohm
        if r != target:  # the IMD's reading settles exponentially in log(R)
            a = math.exp(-h / th["insulation_tau_s"])
            r = target if abs(r - target) < 1e-6 * target else r**a * target ** (1.0 - a)
            self.insulation_resistance_ohm = r
        v_ref = self.chem.v_max_V * self.n
        self.warnings["insulation"] = r < th["insulation_warn_ohm_per_V"] * v_ref
        low = r < th["insulation_alarm_ohm_per_V"] * v_ref
        if low or self._timers:  # see update(): a false condition only stops a running timer
            self._check("insulation", low, th["insulation_delay_s"], r, h)

    def _gas(self, h: float) -> None:
        g = self.gas
        if g.quiet and _GAS_TIMERS.isdisjoint(self._timers):
            return
        th = self.th
        s1 = th["gas_stage1_ppm"]
        s2 = th["gas_stage2_ppm"]
        ppm = g.ppm
        st1 = any(ppm[s] >= s1[s] for s in SPECIES if s in s1)
        st2 = any(ppm[s] >= s2[s] for s in SPECIES if s in s2)
        worst = max(ppm.values())
        self._check("gas_stage1", st1, th["gas_delay_s"], worst, h)
        self._check("gas_stage2", st2, th["gas_delay_s"], worst, h)
        self._check("pressure", g.pressure_Pa >= th["pressure_alarm_Pa"], th["pressure_delay_s"], g.pressure_Pa, h)

    def _rate_of_rise(self, h: float) -> None:
        th = self.th
        self._ror_timer += h
        if self._ror_timer < th["ror_sample_s"]:
            return
        self._ror_timer = 0.0
        hist = self._ror_hist
        hist.append((self.t_s, self.T_reported))
        while len(hist) > 1 and self.t_s - hist[1][0] >= th["ror_window_s"]:
            hist.popleft()
        t0, T0 = hist[0]
        if self.t_s - t0 >= 0.5 * th["ror_window_s"]:
            rate = float((self.T_reported - T0).max()) * 60.0 / (self.t_s - t0)
            self.temp_rise_rate_degC_per_min = rate
            self.warnings["temp_rise_rate"] = rate >= 0.5 * th["ror_alarm_degC_per_min"]
            if rate >= th["ror_alarm_degC_per_min"] and not self.alarms["temp_rise_rate"]:
                self._alarm("temp_rise_rate", self.t_s, rate)

    def _estimate(self, h: float, i_A: float) -> None:
        """Coulomb counting per element; at long rests recalibrate from OCV and estimate capacity."""
        th = self.th
        pack = self.pack
        # without bleeds every element counts the same charge: one scalar, two array operations fewer
        dah = (i_A + pack.bleed_A) * (h / 3600.0) if pack.bleeding else i_A * (h / 3600.0)
        self._ah_count += dah
        self.soc_est -= dah / self.capacity_est_Ah
        lo, hi = _span(self.soc_est)
        self.warnings["soc_low"] = lo < th["soc_low_warn"]
        self.warnings["soc_high"] = hi > th["soc_high_warn"]
        if abs(i_A) < th["rest_current_rel"] * pack.nominal_capacity_Ah:
            self._rest_time += h
            if self._rest_time >= th["rest_time_s"] and not self._rest_done:
                self._rest_done = True
                self._rest_point()
        else:
            self._rest_time = 0.0
            self._rest_done = False

    def _rest_point(self) -> None:
        chem = self.chem
        soc_ocv = np.clip(chem.soc_from_ocv(self.v_reported), 0.0, 1.0)
        trusted = chem.ocv_slope_V(soc_ocv) >= self.th["ocv_trust_slope_V"]
        if self._anchor is not None:
            soc0, ah0 = self._anchor
            dsoc = soc0 - soc_ocv
            ok = trusted & (np.abs(dsoc) >= 0.3)
            if np.any(ok):
                cap = (self._ah_count[ok] - ah0[ok]) / dsoc[ok]
                good = cap > 0
                if np.any(good):
                    est = self.capacity_est_Ah.copy()
                    est[np.flatnonzero(ok)[good]] = cap[good]
                    self.capacity_est_Ah = 0.5 * self.capacity_est_Ah + 0.5 * est
                    self.soh = float(self.capacity_est_Ah.min() / self.pack.nominal_capacity_Ah)
                    self.events.append((self.t_s, f"capacity estimate SOH={self.soh:.3f}"))
        self.soc_est = np.where(trusted, soc_ocv, self.soc_est)
        if np.all(trusted) or self._anchor is None:
            self._anchor = (soc_ocv, self._ah_count.copy())

    def _balance(self) -> None:
        th = self.th
        self._bal_timer = 0.0
        v = self.v_reported
        ok = (
            self.balancing_allowed
            and th["balancing_enabled"]
            and self.state != ERROR
            and self.current_reported_A <= th["rest_current_rel"] * self.pack.nominal_capacity_Ah
        )
        if ok:
            self.balancing = (v > self.v_min + th["balancing_threshold_V"]) & (v > th["balancing_min_V"])
        else:
            self.balancing = np.zeros(self.n, dtype=bool)
        bleed = np.where(self.balancing & ~self.balancer_failed, self.pack.block_V / th["bleed_ohm"], 0.0)
        self.pack.set_bleed(bleed)

    def _condition_now(self, name: str) -> bool:
        th = self.th
        if name == "cell_ov":
            return self.v_max > th["ov_alarm_V"]
        if name == "cell_uv":
            return self.v_min < (th["uv_alarm_cold_V"] if self.T_min <= 0.0 else th["uv_alarm_V"])
        if name == "cell_ot":
            return self.T_max > min(th["ot_charge_alarm_degC"], th["ot_discharge_alarm_degC"])
        if name == "cell_ut":
            return self.T_min < th["ut_discharge_alarm_degC"]
        if name == "comms_loss":
            return not self.comms_ok
        if name == "contactor_welded":
            return self.welded
        if name in ("gas_stage1", "gas_stage2"):
            lv = th["gas_stage1_ppm" if name == "gas_stage1" else "gas_stage2_ppm"]
            return any(self.gas.ppm[s] >= lv[s] for s in lv)
        if name == "pressure":
            return self.gas.pressure_Pa >= th["pressure_alarm_Pa"]
        if name == "insulation":
            return self.insulation_resistance_ohm < th["insulation_alarm_ohm_per_V"] * self.chem.v_max_V * self.n
        if name == "thermal_gradient":
            return self.T_max - self.T_min >= th["gradient_alarm_K"]
        if name == "temp_rise_rate":
            return self.temp_rise_rate_degC_per_min >= th["ror_alarm_degC_per_min"]
        i = self.current_reported_A  # current alarms clear once the open contactor stops it
        if name == "oc_charge":
            return -i > th["oc_charge_alarm_A"]
        if name == "oc_discharge":
            return i > th["oc_discharge_alarm_A"]
        if name == "charge_over_limit":
            return -i > self.max_charge_current_A * (1 + th["over_limit_tolerance_rel"]) + th["over_limit_tolerance_A"]
        if name == "discharge_over_limit":
            return (
                i > self.max_discharge_current_A * (1 + th["over_limit_tolerance_rel"]) + th["over_limit_tolerance_A"]
            )
        return False  # precharge: the failed attempt itself was the condition

    def _state_machine(self, h: float) -> None:
        th = self.th
        self._state_timer += h
        st = self.state
        req = self.request
        if st == ERROR:
            held = self._state_timer >= th["alarm_hold_s"]
            if (
                held
                and req == REQUEST_STANDBY
                and not any(self._condition_now(n) for n, on in self.alarms.items() if on)
            ):
                for n in self.alarms:
                    self.alarms[n] = False
                self._timers.clear()
                self._set_state(STANDBY, "recovered")
        elif st in (STANDBY, IDLE, OPEN_CONTACTORS, UNINITIALIZED, INITIALIZATION, INITIALIZED):
            if st == OPEN_CONTACTORS and self._state_timer >= th["open_time_s"]:
                self._set_state(STANDBY, "contactors open")
            elif st != OPEN_CONTACTORS and req in (REQUEST_DISCHARGE, REQUEST_CHARGE):
                self._set_state(PRECHARGE, "close requested")
            elif st not in (STANDBY, OPEN_CONTACTORS):
                self._set_state(STANDBY, "initialised")
        elif st == PRECHARGE:
            if req == REQUEST_STANDBY:
                self._set_state(OPEN_CONTACTORS, "standby requested")
            elif self._state_timer >= th["precharge_time_s"] - 1e-9:
                v_pack = self.pack.ocv_total_V()
                ok = abs(self.bus_voltage_V - v_pack) <= th["precharge_tolerance_rel"] * v_pack
                if ok:
                    self._set_state(CHARGE if req == REQUEST_CHARGE else DISCHARGE, "precharged")
                elif not self.alarms["precharge"]:
                    self._alarm("precharge", self.t_s, self.bus_voltage_V)
            else:
                self._deadline = min(self._deadline, th["precharge_time_s"] - self._state_timer)
        elif st in (NORMAL, DISCHARGE, CHARGE):
            if req == REQUEST_STANDBY:
                self._set_state(OPEN_CONTACTORS, "standby requested")
            elif req == REQUEST_CHARGE and st != CHARGE:
                self._set_state(CHARGE, "charge requested")
            elif req == REQUEST_DISCHARGE and st != DISCHARGE:
                self._set_state(DISCHARGE, "discharge requested")
        if self.state == OPEN_CONTACTORS:
            self._deadline = min(self._deadline, max(th["open_time_s"] - self._state_timer, 1e-6))
        self._update_path()
        if (
            self.welded
            and self.contactor_commanded == 0
            and self.contactor_path == 2
            and not self.alarms["contactor_welded"]
        ):
            self._alarm("contactor_welded", self.t_s, abs(self.current_reported_A))
