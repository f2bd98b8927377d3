"""Electronic load modelled on the Chroma 63200A: CC/CV/CP/CR in ranges L/M/H, short, protections.

The load draws nothing below its minimum operating voltage (it ramps linearly from 0 V to
`v_on_V`, so an unpowered bus settles at 0 V instead of chattering). In CC it sinks its setpoint,
in CR V/R, in CP P/V (linearised and iterated by the bus), in CV it shunts whatever current holds
the bus at the setpoint, up to its CV current limit. Every mode is clamped to the range's maximum
current. Protections (OTP from a heat-sink model, OVP, OCP, OPP, REV) latch the input off until
`clear_protection()`; `protection_status()` uses the Chroma STAT:CHAN:COND bit layout.
"""

from __future__ import annotations

import math
import random
from typing import Any

from instruments.sim.plant.bus import Element
from instruments.sim.plant.errors import check_range

PROT_OTP = 1
PROT_OVP = 2
PROT_OCP = 4
PROT_OPP = 8
PROT_REV = 16
_BITS = {"OTP": PROT_OTP, "OVP": PROT_OVP, "OCP": PROT_OCP, "OPP": PROT_OPP, "REV": PROT_REV}

MODES = ("CC", "CV", "CP", "CR")


class Load:
    """State, settings, protections and measurements of the simulated electronic load."""

    def __init__(self, cfg: dict[str, Any] | None = None, seed: int = 0, ambient_degC: float = 25.0) -> None:
        cfg = dict(cfg or {})
        self.model = str(cfg.get("model", "63206A-80-240"))
        self.rated_voltage_V = float(cfg.get("rated_voltage_V", 80.0))
        self.rated_current_A = float(cfg.get("rated_current_A", 240.0))
        self.rated_power_W = float(cfg.get("rated_power_W", 6000.0))
        ranges = cfg.get("ranges_A", {"L": 2.4, "M": 24.0, "H": self.rated_current_A})
        self.ranges_A = {k.upper(): float(v) for k, v in ranges.items()}
        self.v_on_V = float(cfg.get("v_on_V", 0.5))
        self.cr_max_ohm = float(cfg.get("cr_max_ohm", 10_000.0))
        self.cr_min_ohm = float(cfg.get("cr_min_ohm", 0.002))
        self.noise_voltage_V = float(cfg.get("noise_voltage_V", 0.001))
        self.noise_current_A = float(cfg.get("noise_current_A", 0.01))
        # Heat sink: steady rise at rated power and time constant; OTP threshold.
        self.heatsink_rise_K = float(cfg.get("heatsink_rise_at_rated_K", 50.0))
        self.heatsink_tau_s = float(cfg.get("heatsink_tau_s", 120.0))
        self.otp_degC = float(cfg.get("otp_degC", 95.0))
        self.ambient_degC = float(ambient_degC)
        self._rng = random.Random(seed * 104729 + 3)
        self.reset()

    def reset(self) -> None:
        """*RST state: input off, CC high range, all levels 0, protections at rating."""
        self.input_on = False
        self.short = False
        self.mode = "CC"
        self.range = "H"
        self.levels = {"CC": 0.0, "CV": self.rated_voltage_V, "CP": 0.0, "CR": self.cr_max_ohm}
        self.cv_current_limit_A = self.rated_current_A
        self.ovp_V = float(self.rated_voltage_V * 1.05)
        self.ocp_A = float(self.rated_current_A * 1.05)
        self.opp_W = float(self.rated_power_W * 1.05)
        self.protection: set[str] = set()
        self.heatsink_degC = self.ambient_degC
        self.voltage_V = 0.0
        self.current_A = 0.0
        self.nonlinear = False
        self.changed = True

    # ---- setters ---------------------------------------------------------------------------
    def set_input(self, on: bool) -> None:
        """LOAD ON/OFF; refused silently (stays off) while a protection is latched."""
        self.input_on = bool(on) and not self.protection
        self.changed = True

    def set_mode(self, mode: str, range_: str = "H") -> None:
        """MODE CCH etc.: operating mode and current range."""
        m = str(mode).strip().upper()
        r = str(range_).strip().upper()
        if m not in MODES:
            raise ValueError(f"load mode must be one of {MODES}, got {mode!r}")
        if r not in self.ranges_A:
            raise ValueError(f"load range must be one of {sorted(self.ranges_A)}, got {range_!r}")
        if m == "CC" and self.levels["CC"] > self.ranges_A[r]:
            self.levels["CC"] = self.ranges_A[r]
        self.mode = m
        self.range = r
        self.changed = True

    def set_level(self, mode: str, value: float) -> None:
        """Static level of a mode: CC in A, CV in V, CP in W, CR in ohm (checked against the range)."""
        m = str(mode).strip().upper()
        imax = self.ranges_A[self.range]
        if m == "CC":
            self.levels[m] = check_range("CC level", value, 0.0, imax)
        elif m == "CV":
            self.levels[m] = check_range("CV level", value, 0.0, self.rated_voltage_V)
        elif m == "CP":
            self.levels[m] = check_range("CP level", value, 0.0, self.rated_power_W)
        elif m == "CR":
            self.levels[m] = check_range("CR level", value, self.cr_min_ohm, self.cr_max_ohm)
        else:
            raise ValueError(f"load mode must be one of {MODES}, got {mode!r}")
        self.changed = True

    def set_cv_current_limit(self, A: float) -> None:
        """Most current the load sinks in CV mode (VOLT:STAT:ILIM)."""
        self.cv_current_limit_A = check_range("CV current limit", A, 0.0, self.rated_current_A)
        self.changed = True

    def set_short(self, on: bool) -> None:
        """LOAD:SHOR: sink the full current of the range (as a short would)."""
        self.short = bool(on)
        self.changed = True

    def set_ovp(self, V: float) -> None:
        """Input over-voltage protection level (latches the input off)."""
        self.ovp_V = check_range("load OVP", V, 0.0, self.rated_voltage_V * 1.1)

    def set_ocp(self, A: float) -> None:
        """Over-current protection level (latches the input off)."""
        self.ocp_A = check_range("load OCP", A, 0.0, self.rated_current_A * 1.1)

    def set_opp(self, W: float) -> None:
        """Over-power protection level (latches the input off)."""
        self.opp_W = check_range("load OPP", W, 0.0, self.rated_power_W * 1.1)

    def clear_protection(self) -> None:
        """LOAD:PROT:CLE: clear latched protections (the input stays off until switched on)."""
        self.protection.clear()
        self.changed = True

    # ---- getters ---------------------------------------------------------------------------
    def get_input(self) -> bool:
        return self.input_on

    def get_mode(self) -> tuple[str, str]:
        """(mode, range), e.g. ("CC", "H") for MODE CCH."""
        return self.mode, self.range

    def get_level(self, mode: str) -> float:
        return self.levels[str(mode).strip().upper()]

    def get_cv_current_limit(self) -> float:
        return self.cv_current_limit_A

    def get_short(self) -> bool:
        return self.short

    def protection_status(self) -> int:
        """Chroma STAT:CHAN:COND bitmask: OTP=1, OVP=2, OCP=4, OPP=8, REV=16."""
        bits = 0
        for name in self.protection:
            bits |= _BITS[name]
        return bits

    # ---- measurements ----------------------------------------------------------------------
    def measure_voltage_V(self) -> float:
        """Voltage at the load input (the bus), with seeded noise."""
        return self.voltage_V + self._rng.gauss(0.0, self.noise_voltage_V)

    def measure_current_A(self) -> float:
        """Sunk current (+ = into the load), with seeded noise; 0 plus noise when off."""
        return self.current_A + self._rng.gauss(0.0, self.noise_current_A)

    def measure_power_W(self) -> float:
        """Sunk power from the noisy V and I readings."""
        return self.measure_voltage_V() * self.measure_current_A()

    # ---- plant interface ---------------------------------------------------------------------
    def element(self, v_guess: float) -> Element | None:
        """Bus characteristic (current injected into the bus, i.e. minus the sunk current)."""
        self.nonlinear = False
        if not self.input_on or self.protection:
            return None
        imax = self.ranges_A[self.range]
        von = self.v_on_V
        if self.short:
            return (von,), ((0.0, imax / von), (-imax, 0.0))
        m = self.mode
        if m == "CC":
            i = self.levels["CC"]
            return (von,), ((0.0, i / von), (-i, 0.0))
        if m == "CR":
            g = 1.0 / self.levels["CR"]
            return (imax / g,), ((0.0, g), (-imax, 0.0))
        if m == "CV":
            ilim = min(self.cv_current_limit_A, imax)
            return (max(self.levels["CV"], 1e-6),), ((0.0, 0.0), (-ilim, 0.0))
        # CP: constant current at P / V_guess, iterated by the bus solver
        self.nonlinear = True
        i = min(self.levels["CP"] / max(v_guess, von), imax)
        return (von,), ((0.0, i / von), (-i, 0.0))

    def post_step(self, V: float, i_A: float, h: float) -> None:
        """Record the operating point, integrate the heat sink and run the protections."""
        self.voltage_V = V
        self.current_A = i_A if (self.input_on and not self.protection) else 0.0
        p = V * self.current_A
        target = self.ambient_degC + self.heatsink_rise_K * p / self.rated_power_W
        self.heatsink_degC += (target - self.heatsink_degC) * (1.0 - math.exp(-h / self.heatsink_tau_s))
        tripped = []
        if V < -0.2:
            tripped.append("REV")
        if V > self.ovp_V:
            tripped.append("OVP")
        if self.current_A > self.ocp_A:
            tripped.append("OCP")
        if p > self.opp_W:
            tripped.append("OPP")
        if self.heatsink_degC > self.otp_degC:
            tripped.append("OTP")
        if tripped:
            self.protection.update(tripped)
            self.input_on = False
            self.changed = True

    def next_deadline_s(self) -> float:
        """The load trips instantly, so it never asks the plant to land on a deadline."""
        return math.inf
