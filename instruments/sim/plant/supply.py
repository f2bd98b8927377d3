"""Bidirectional DC supply modelled on the Keysight RP7900 (APS command tree).

Voltage priority: an ideal source at the (slewed) setpoint whose current is clamped to
[negative limit, positive limit] and to the power limit; beyond the clamp it becomes a current
source, which is what makes a CV charge of a battery start in CC and taper. Current priority: a
current source at the setpoint held inside [low voltage limit, positive voltage limit].
Protections (OVP, OCP when enabled, under-voltage protection with delay) latch the output off
until `clear_protection()`, as the real unit does. Status bits use the RP7900 layout.
"""

from __future__ import annotations

import math
import random
from typing import Any

from instruments.sim.plant.bus import Element
from instruments.sim.plant.errors import SimRangeError, check_range

# STATus:OPERation bits
OPER_CV = 1
OPER_CC = 2
OPER_OFF = 4
# STATus:QUEStionable[1] bits
QUES_OV = 1
QUES_OC = 2
QUES_PF = 4
QUES_CP_POS = 8
QUES_OT = 16
QUES_CP_NEG = 32
QUES_OV_NEG = 64
QUES_LIM_POS = 128
QUES_LIM_NEG = 256
QUES_INH = 512
QUES_UNR = 1024
QUES_PROT = 2048
# STATus:QUEStionable2 bits
QUES2_UV = 64


class Supply:
    """State, settings, protections and measurements of the simulated bidirectional supply."""

    def __init__(self, cfg: dict[str, Any] | None = None, seed: int = 0) -> None:
        cfg = dict(cfg or {})
        self.model = str(cfg.get("model", "RP7952A"))
        self.rated_voltage_V = float(cfg.get("rated_voltage_V", 80.0))
        self.rated_current_A = float(cfg.get("rated_current_A", 200.0))
        self.rated_power_W = float(cfg.get("rated_power_W", 12_000.0))
        self.ovp_max_V = float(cfg.get("ovp_max_V", 1.1 * self.rated_voltage_V))
        self.noise_voltage_V = float(cfg.get("noise_voltage_V", 0.0005))
        self.noise_current_A = float(cfg.get("noise_current_A", 0.005))
        self._rng = random.Random(seed * 7919 + 11)
        self.reset()

    def reset(self) -> None:
        """*RST state: output off, voltage priority, 0 V, limits at rating, protections cleared."""
        self.output_on = False
        self.priority = "VOLT"
        self.voltage_set_V = 0.0
        self.current_set_A = 0.0
        self.current_limit_pos_A = self.rated_current_A
        self.current_limit_neg_A = -self.rated_current_A
        self.voltage_limit_pos_V = self.rated_voltage_V
        self.voltage_limit_low_V = 0.0
        self.ovp_V = self.ovp_max_V
        self.ocp_enabled = False
        self.ocp_delay_s = 0.02
        self.uvp_V = 0.0
        self.uvp_delay_s = 0.0
        self.uvp_enabled = False
        self.power_limit_W = self.rated_power_W
        self.slew_V_per_s = math.inf
        self.protection: set[str] = set()  # latched: "OV", "OC", "UV"
        self._output_before_trip = False
        self._v_eff = 0.0
        self._ocp_timer = 0.0
        self._uvp_timer = 0.0
        self.voltage_V = 0.0
        self.current_A = 0.0
        self.mode = "OFF"  # "CV" | "CC" | "OFF"
        self.limit_flags: set[str] = set()  # "LIM+", "LIM-", "CP+", "CP-"
        self.nonlinear = False
        self.changed = True

    # ---- setters (servers call these; out-of-range raises SimRangeError -> SCPI -222) ------
    def set_output(self, on: bool) -> None:
        """Output on/off. While a protection is latched the output stays off."""
        on = bool(on)
        if on and self.protection:
            self._output_before_trip = True
            return
        if on and not self.output_on:
            self._v_eff = 0.0 if math.isfinite(self.slew_V_per_s) else self.voltage_set_V
        self.output_on = on
        self.changed = True

    def set_voltage(self, V: float) -> None:
        """CV setpoint (voltage priority); the effective voltage slews towards it."""
        self.voltage_set_V = check_range("voltage", V, 0.0, self.rated_voltage_V)
        self.changed = True

    def set_current(self, A: float) -> None:
        """Current setpoint for current priority (negative = sink)."""
        self.current_set_A = check_range("current", A, -self.rated_current_A, self.rated_current_A)
        self.changed = True

    def set_current_limit_pos(self, A: float) -> None:
        """Sourcing current limit in voltage priority: the CC level of a CC-CV charge."""
        self.current_limit_pos_A = check_range("current limit", A, 0.0, self.rated_current_A)
        self.changed = True

    def set_current_limit_neg(self, A: float) -> None:
        """Negative (sink) current limit; a negative value as on the RP7900."""
        self.current_limit_neg_A = check_range("negative current limit", A, -self.rated_current_A, 0.0)
        self.changed = True

    def set_voltage_limit_pos(self, V: float) -> None:
        """Upper voltage limit in current priority."""
        self.voltage_limit_pos_V = check_range("voltage limit", V, 0.0, self.rated_voltage_V)
        self.changed = True

    def set_voltage_limit_low(self, V: float) -> None:
        """Lower voltage limit in current priority."""
        self.voltage_limit_low_V = check_range("low voltage limit", V, 0.0, self.rated_voltage_V)
        self.changed = True

    def set_priority(self, mode: str) -> None:
        m = str(mode).strip().upper()
        m = {"VOLTAGE": "VOLT", "CURRENT": "CURR"}.get(m, m)
        if m not in ("VOLT", "CURR"):
            raise ValueError(f"priority must be VOLT or CURR, got {mode!r}")
        self.priority = m
        self.changed = True

    def set_ovp(self, V: float) -> None:
        """Over-voltage protection level; the bus above it latches the output off."""
        self.ovp_V = check_range("OVP level", V, 0.0, self.ovp_max_V)

    def set_ocp_enabled(self, enabled: bool) -> None:
        """OCP: when on, entering current limit for ocp_delay_s latches the output off."""
        self.ocp_enabled = bool(enabled)
        self._ocp_timer = 0.0

    def set_ocp_delay(self, s: float) -> None:
        """Time the output may sit in current limit before OCP trips."""
        self.ocp_delay_s = check_range("OCP delay", s, 0.0, 2611.0)

    def set_uvp(self, V: float, delay_s: float = 0.0, enabled: bool = True) -> None:
        """Under-voltage protection: trips when output on and V < level for delay_s."""
        self.uvp_V = check_range("UVP level", V, 0.0, self.rated_voltage_V)
        self.uvp_delay_s = check_range("UVP delay", delay_s, 0.0, 2611.0)
        self.uvp_enabled = bool(enabled)
        self._uvp_timer = 0.0

    def set_power_limit(self, W: float) -> None:
        """Power limit for both directions (CP+ / CP- flags when it clamps)."""
        self.power_limit_W = check_range("power limit", W, 0.0, self.rated_power_W)
        self.changed = True

    def set_slew(self, V_per_s: float) -> None:
        """Voltage slew rate (V/s); math.inf = as fast as possible (the RP7900 default MAX)."""
        v = float(V_per_s)
        if not v > 0.0:
            raise SimRangeError("voltage slew", v, 0.0, math.inf)
        self.slew_V_per_s = v

    def clear_protection(self) -> None:
        """OUTP:PROT:CLE: clear latched protections; the output returns to its pre-trip state."""
        if self.protection:
            self.protection.clear()
            self._ocp_timer = self._uvp_timer = 0.0
            if self._output_before_trip:
                self.set_output(True)
            self._output_before_trip = False
            self.changed = True

    # ---- getters ---------------------------------------------------------------------------
    def get_output(self) -> bool:
        return self.output_on

    def get_voltage(self) -> float:
        return self.voltage_set_V

    def get_current(self) -> float:
        return self.current_set_A

    def get_current_limit_pos(self) -> float:
        return self.current_limit_pos_A

    def get_current_limit_neg(self) -> float:
        return self.current_limit_neg_A

    def get_voltage_limit_pos(self) -> float:
        return self.voltage_limit_pos_V

    def get_voltage_limit_low(self) -> float:
        return self.voltage_limit_low_V

    def get_priority(self) -> str:
        return self.priority

    def get_ovp(self) -> float:
        return self.ovp_V

    def get_ocp_enabled(self) -> bool:
        return self.ocp_enabled

    def get_uvp(self) -> tuple[float, float, bool]:
        """(level V, delay s, enabled)."""
        return self.uvp_V, self.uvp_delay_s, self.uvp_enabled

    def get_power_limit(self) -> float:
        return self.power_limit_W

    def get_slew(self) -> float:
        return self.slew_V_per_s

    # ---- measurements ----------------------------------------------------------------------
    def measure_voltage_V(self) -> float:
        """Voltage at the output terminals (the bus), with seeded measurement noise."""
        return self.voltage_V + self._rng.gauss(0.0, self.noise_voltage_V)

    def measure_current_A(self) -> float:
        """Output current, + = sourcing, - = sinking, with seeded noise."""
        return self.current_A + self._rng.gauss(0.0, self.noise_current_A)

    def measure_power_W(self) -> float:
        """Output power, + = sourcing, from the noisy V and I readings."""
        return self.measure_voltage_V() * self.measure_current_A()

    # ---- status ----------------------------------------------------------------------------
    def status_operation(self) -> int:
        """STAT:OPER:COND? bits: CV=1, CC=2, OFF=4."""
        if self.mode == "OFF":
            return OPER_OFF
        return OPER_CV if self.mode == "CV" else OPER_CC

    def status_questionable(self) -> int:
        """STAT:QUES:COND? bits: OV=1, OC=2, CP+=8, CP-=32, LIM+=128, LIM-=256, PROT=2048."""
        bits = 0
        if "OV" in self.protection:
            bits |= QUES_OV
        if "OC" in self.protection:
            bits |= QUES_OC
        if self.protection:
            bits |= QUES_PROT
        f = self.limit_flags
        if f:
            bits |= (QUES_CP_POS if "CP+" in f else 0) | (QUES_CP_NEG if "CP-" in f else 0)
            bits |= (QUES_LIM_POS if "LIM+" in f else 0) | (QUES_LIM_NEG if "LIM-" in f else 0)
        return bits

    def status_questionable2(self) -> int:
        """STAT:QUES2:COND? bits: UV=64 (latched under-voltage protection)."""
        return QUES2_UV if "UV" in self.protection else 0

    def status_flags(self) -> set[str]:
        """Readable union of the status: CV/CC/OFF plus OV/OC/UV/PROT and limit flags."""
        flags = {self.mode} | set(self.protection) | set(self.limit_flags)
        if self.protection:
            flags.add("PROT")
        return flags

    # ---- plant interface ---------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.output_on and not self.protection

    def pre_step(self, h: float) -> None:
        """Slew the effective voltage setpoint towards the programmed one."""
        target = self.voltage_set_V
        if self._v_eff != target:
            dv = self.slew_V_per_s * h
            if dv >= abs(target - self._v_eff):
                self._v_eff = target
            else:
                self._v_eff += dv if target > self._v_eff else -dv

    def element(self, v_guess: float) -> Element | None:
        """Bus characteristic for this step (see bus.py), or None when the output is off."""
        if not (self.output_on and not self.protection):
            self.nonlinear = False
            return None
        p = self.power_limit_W
        p_lim = p / v_guess if v_guess > 1e-3 else math.inf
        self.nonlinear = p_lim < self.rated_current_A
        if self.priority == "VOLT":
            i_pos = min(self.current_limit_pos_A, p_lim)
            i_neg = max(self.current_limit_neg_A, -p_lim)
            return (self._v_eff,), ((i_pos, 0.0), (i_neg, 0.0))
        i_max = min(self.rated_current_A, p_lim)
        i = min(max(self.current_set_A, -i_max), i_max)
        lo, hi = self.voltage_limit_low_V, self.voltage_limit_pos_V
        if lo > 0.0:
            return (lo, hi), ((i_max, 0.0), (i, 0.0), (-i_max, 0.0))
        return (hi,), ((i, 0.0), (-i_max, 0.0))

    def post_step(self, V: float, i_A: float, h: float) -> None:
        """Record the solved operating point; classify CV/CC; run the protections."""
        self.voltage_V = V
        self.current_A = i_A
        flags: set[str] = set()
        if not self.active:
            self.mode = "OFF"
            self.current_A = 0.0
            self._ocp_timer = self._uvp_timer = 0.0
        else:
            if self.priority == "VOLT":
                if V == self._v_eff:
                    self.mode = "CV"
                else:
                    self.mode = "CC"
                    flags.add("LIM+" if V < self._v_eff else "LIM-")
            else:
                if V in (self.voltage_limit_pos_V, self.voltage_limit_low_V) and V > 0.0:
                    self.mode = "CV"
                    flags.add("LIM+" if V == self.voltage_limit_pos_V else "LIM-")
                else:
                    self.mode = "CC"
            pw = V * i_A
            if pw >= self.power_limit_W * (1.0 - 1e-4) and self.power_limit_W < self.rated_power_W:
                flags.add("CP+")
            elif -pw >= self.power_limit_W * (1.0 - 1e-4) and self.power_limit_W < self.rated_power_W:
                flags.add("CP-")
            self._protect(V, h)
        self.limit_flags = flags

    def _protect(self, V: float, h: float) -> None:
        if V > self.ovp_V:
            self._trip("OV")
            return
        if self.ocp_enabled and self.mode == "CC" and self.priority == "VOLT":
            self._ocp_timer += h
            if self._ocp_timer >= self.ocp_delay_s:
                self._trip("OC")
                return
        else:
            self._ocp_timer = 0.0
        if self.uvp_enabled and V < self.uvp_V:
            self._uvp_timer += h
            if self._uvp_timer >= self.uvp_delay_s:
                self._trip("UV")
        else:
            self._uvp_timer = 0.0

    def _trip(self, what: str) -> None:
        self._ocp_timer = self._uvp_timer = 0.0
        self.protection.add(what)
        self._output_before_trip = self.output_on
        self.output_on = False
        self.mode = "OFF"
        self.changed = True

    def next_deadline_s(self) -> float:
        """Time until a running protection delay expires (so the plant can land on it)."""
        d = math.inf
        if self._uvp_timer > 0.0 and self._uvp_timer < self.uvp_delay_s:
            d = self.uvp_delay_s - self._uvp_timer
        if self._ocp_timer > 0.0 and self._ocp_timer < self.ocp_delay_s:
            d = min(d, self.ocp_delay_s - self._ocp_timer)
        return max(d, 1e-6)
