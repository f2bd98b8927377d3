"""Insulation resistance tester (Kikusui TOS9213S-style settings, Hioki-style result tuple).

The tester applies its DC test voltage between the shorted pack terminals and the chassis and
reads R = V / I. The current is the leakage V/R_iso plus the charging current of the Y
capacitance during the rise and a dielectric-absorption current decaying over the dwell, so the
apparent resistance rises with dwell time as on a real DUT (why tests specify a 60 s dwell).
The source is current-limited: a hard fault pulls the applied voltage down.
"""

from __future__ import annotations

import math
import random
from typing import Any

from instruments.sim.plant.errors import check_range


class InsulationTester:
    """State machine READY -> TEST -> DONE with a judgement against lower/upper limits."""

    def __init__(self, cfg: dict[str, Any] | None = None, seed: int = 0) -> None:
        cfg = dict(cfg or {})
        self.model = str(cfg.get("model", "TOS9213S"))
        self.v_min_V = float(cfg.get("v_min_V", 10.0))
        self.v_max_V = float(cfg.get("v_max_V", 1020.0))
        self.i_limit_A = float(cfg.get("i_limit_A", 1e-3))
        self.r_min_ohm = float(cfg.get("r_min_ohm", 1e4))  # below: under-range
        self.r_max_ohm = float(cfg.get("r_max_ohm", 1e10))  # above: over-range
        self.y_cap_F = float(cfg.get("dut_capacitance_F", 100e-9))
        self.abs_cap_F = float(cfg.get("absorption_capacitance_F", 10e-9))
        self.abs_tau_s = float(cfg.get("absorption_tau_s", 3.0))
        self.noise_rel = float(cfg.get("noise_rel", 0.01))
        # Full-scale resistance ranges; readings are quantised to 1/2000 of the range in use.
        self.ranges_ohm = sorted(float(r) for r in cfg.get("ranges_ohm", [2e6, 20e6, 200e6, 2e9, 10e9]))
        self.range_ohm: float | None = None  # None = auto-range
        self._rng = random.Random(seed * 31337 + 5)
        self.test_voltage_V = 250.0
        self.dwell_s = 60.0
        self.rise_time_s = 0.5
        self.lower_limit_ohm = 0.5e6
        self.lower_enabled = True
        self.upper_limit_ohm = 1e10
        self.upper_enabled = False
        self.state = "READY"
        self.elapsed_s = 0.0
        self.voltage_V = 0.0
        self.current_A = 0.0
        self.resistance_ohm = math.inf
        self.judgement = "OFF"

    # ---- settings ------------------------------------------------------------------------------
    def set_test_voltage(self, V: float) -> None:
        """DC test voltage applied between pack and chassis (IR:TESTV)."""
        self.test_voltage_V = check_range("IR test voltage", V, self.v_min_V, self.v_max_V)

    def set_dwell(self, s: float) -> None:
        """Test time after which the reading is judged (IR:TIMER)."""
        self.dwell_s = check_range("IR timer", s, 0.5, 999.0)

    def set_rise_time(self, s: float) -> None:
        """Ramp time of the test voltage (IR:RISETIME)."""
        self.rise_time_s = check_range("IR rise time", s, 0.0, 99.0)

    def set_lower_limit(self, ohm: float, enabled: bool = True) -> None:
        """Pass requires R >= this when enabled (IR:LOWER)."""
        self.lower_limit_ohm = check_range("IR lower limit", ohm, 0.0, self.r_max_ohm)
        self.lower_enabled = bool(enabled)

    def set_upper_limit(self, ohm: float, enabled: bool = True) -> None:
        """Pass requires R <= this when enabled (IR:UPPER)."""
        self.upper_limit_ohm = check_range("IR upper limit", ohm, 0.0, 10 * self.r_max_ohm)
        self.upper_enabled = bool(enabled)

    def set_range(self, ohm: float | str | None) -> None:
        """Fixed resistance range (the smallest full scale >= ohm), or None/'AUTO' for auto-range."""
        if ohm is None or (isinstance(ohm, str) and ohm.strip().upper() == "AUTO"):
            self.range_ohm = None
            return
        v = check_range("IR range", float(ohm), 0.0, self.ranges_ohm[-1])
        self.range_ohm = next(r for r in self.ranges_ohm if r >= v)

    def get_range(self) -> float | None:
        return self.range_ohm

    def _full_scale(self, r: float) -> float:
        if self.range_ohm is not None:
            return self.range_ohm
        return next((fs for fs in self.ranges_ohm if fs >= r), self.ranges_ohm[-1])

    # ---- control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin a test (only from READY or DONE, as the instrument refuses otherwise)."""
        if self.state == "TEST":
            raise RuntimeError("insulation test already running")
        self.state = "TEST"
        self.elapsed_s = 0.0
        self.judgement = "OFF"

    def stop(self) -> None:
        """Abort: discharge the DUT and return to READY without a judgement."""
        self.state = "READY"
        self.voltage_V = 0.0
        self.current_A = 0.0
        self.judgement = "OFF"

    @property
    def over_range(self) -> bool:
        """Reading above the full scale of the range in use (Hioki reports 9999)."""
        return self.resistance_ohm > min(self.r_max_ohm, self._full_scale(self.resistance_ohm))

    @property
    def under_range(self) -> bool:
        """Reading below the smallest measurable resistance."""
        return self.resistance_ohm < self.r_min_ohm

    def result(self) -> tuple[float, float, float, str]:
        """(applied V, R in ohm clamped and quantised to the range, elapsed s, PASS/LFAIL/UFAIL/ULFAIL/OFF)."""
        fs = self._full_scale(self.resistance_ohm)
        r = min(max(self.resistance_ohm, self.r_min_ohm), self.r_max_ohm, fs)
        q = fs / 2000.0
        return self.voltage_V, round(r / q) * q, self.elapsed_s, self.judgement

    def step(self, h: float, dut_isolation_ohm: float) -> None:
        """Advance a running test by h seconds against the present DUT isolation resistance."""
        if self.state != "TEST":
            return
        self.elapsed_s += h
        t = self.elapsed_s
        rise = self.rise_time_s
        v_set = self.test_voltage_V * (min(1.0, t / rise) if rise > 0 else 1.0)
        dvdt = self.test_voltage_V / rise if (rise > 0 and t < rise) else 0.0
        i_abs = self.test_voltage_V * self.abs_cap_F / self.abs_tau_s * math.exp(-t / self.abs_tau_s)
        i = v_set / dut_isolation_ohm + self.y_cap_F * dvdt + i_abs
        v = v_set
        if i > self.i_limit_A:  # compliance: the source cannot hold its voltage
            v = v_set * self.i_limit_A / i
            i = self.i_limit_A
        self.voltage_V = v
        self.current_A = i
        self.resistance_ohm = (v / i if i > 0 else math.inf) * (1.0 + self.noise_rel * self._rng.gauss(0.0, 1.0))
        if t >= self.dwell_s - 1e-9:
            self.state = "DONE"
            r = self.resistance_ohm
            low = self.lower_enabled and r < self.lower_limit_ohm
            high = self.upper_enabled and r > self.upper_limit_ohm
            self.judgement = "ULFAIL" if (low and high) else "LFAIL" if low else "UFAIL" if high else "PASS"
            self.voltage_V = 0.0  # output off and DUT discharged at the end of the test

    def next_deadline_s(self) -> float:
        """Time to the end of the dwell, so the plant lands on the judgement."""
        return self.dwell_s - self.elapsed_s if self.state == "TEST" else math.inf
