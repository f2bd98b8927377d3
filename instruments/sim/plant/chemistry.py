"""Cell chemistry data: OCV–SOC curves, resistance and capacity vs temperature, voltage windows.

Tables are the single source of the electrochemical numbers the plant uses; the equivalent
circuit (cells.py) only interpolates them. Windows follow typical cell datasheets (LFP 3.65/3.2/2.5 V,
2.0 V at or below 0 °C; NMC 4.2/3.65/2.5 V). The OCV tables extend a little past 0 % and 100 %
SOC with steep flanks so over-charge and over-discharge stay physical (voltage runs away) instead
of clipping, which is what the BMS over/under-voltage protections must catch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

try:  # np.interp's compiled kernel: same numbers without the wrapper's dtype checks (2 us on a 16x5 array)
    from numpy._core.multiarray import interp as fast_interp
except ImportError:  # numpy < 2, or a numpy that moved it: the public function, same numbers
    try:
        from numpy.core.multiarray import interp as fast_interp
    except ImportError:
        fast_interp = np.interp

GAS_CONSTANT = 8.314462618  # J/(mol K)
T_REF_K = 298.15

# SOC grid (fraction) and open-circuit voltage (V) per chemistry. Strictly increasing in both.
_LFP_OCV = (
    (-0.05, 1.50),
    (-0.02, 2.20),
    (0.00, 2.50),
    (0.01, 2.80),
    (0.03, 3.00),
    (0.05, 3.10),
    (0.10, 3.190),
    (0.15, 3.220),
    (0.20, 3.240),
    (0.30, 3.260),
    (0.40, 3.275),
    (0.50, 3.285),
    (0.60, 3.292),
    (0.70, 3.300),
    (0.80, 3.315),
    (0.90, 3.330),
    (0.95, 3.345),
    (0.98, 3.380),
    (0.99, 3.420),
    (1.00, 3.600),
    (1.01, 3.700),
    (1.03, 3.900),
    (1.06, 4.400),
)
_NMC_OCV = (
    (-0.05, 1.50),
    (-0.02, 2.20),
    (0.00, 2.75),
    (0.01, 3.10),
    (0.03, 3.30),
    (0.05, 3.42),
    (0.10, 3.530),
    (0.20, 3.600),
    (0.30, 3.650),
    (0.40, 3.700),
    (0.50, 3.750),
    (0.60, 3.820),
    (0.70, 3.900),
    (0.80, 3.980),
    (0.90, 4.070),
    (0.95, 4.120),
    (1.00, 4.180),
    (1.01, 4.230),
    (1.03, 4.350),
    (1.06, 4.600),
)
# Usable capacity relative to 25 °C (accessible charge shrinks in the cold).
_CAP_T = (
    (-40.0, 0.45),
    (-30.0, 0.60),
    (-20.0, 0.72),
    (-10.0, 0.82),
    (0.0, 0.90),
    (10.0, 0.96),
    (25.0, 1.00),
    (45.0, 1.02),
    (60.0, 1.02),
)


@dataclass(frozen=True)
class Chemistry:
    """Electrochemical parameters of one cell type; see module docstring for sources."""

    name: str
    ocv_soc: np.ndarray
    ocv_V: np.ndarray
    v_max_V: float
    v_nom_V: float
    v_min_V: float
    v_min_cold_V: float
    charge_T_degC: tuple[float, float]
    discharge_T_degC: tuple[float, float]
    r0_ohm_Ah: float  # R0 x capacity: R0 of a cell of C Ah is r0_ohm_Ah / C
    r1_rel: float  # R1 / R0
    r2_rel: float  # R2 / R0
    tau1_s: float
    tau2_s: float
    activation_J_per_mol: float  # Arrhenius activation energy of the resistance
    heat_capacity_J_per_K_Ah: float  # lumped cell heat capacity per Ah
    self_discharge_per_month: float  # fraction of capacity per 30 days at 25 °C
    vent_temp_degC: float
    cap_T_degC: np.ndarray = field(default_factory=lambda: np.array([p[0] for p in _CAP_T]))
    cap_T_factor: np.ndarray = field(default_factory=lambda: np.array([p[1] for p in _CAP_T]))

    def ocv(self, soc: np.ndarray | float) -> np.ndarray:
        """Open-circuit voltage for SOC (fraction); extrapolation is clamped to the table ends."""
        return fast_interp(soc, self.ocv_soc, self.ocv_V)

    def soc_from_ocv(self, ocv_V: np.ndarray | float) -> np.ndarray:
        """Inverse of `ocv` (valid because the table is strictly monotonic)."""
        return fast_interp(ocv_V, self.ocv_V, self.ocv_soc)

    def ocv_slope_V(self, soc: np.ndarray | float) -> np.ndarray:
        """dOCV/dSOC (V per unit SOC): the BMS trusts OCV-based SOC only where this is steep."""
        s = np.asarray(soc, dtype=float)
        return (self.ocv(s + 0.005) - self.ocv(s - 0.005)) / 0.01

    def resistance_T_factor(self, T_degC: np.ndarray | float) -> np.ndarray:
        """Arrhenius multiplier on all resistances, 1 at 25 °C, clipped to a plausible band."""
        T_K = np.asarray(T_degC, dtype=float) + 273.15
        f = np.exp(self.activation_J_per_mol / GAS_CONSTANT * (1.0 / T_K - 1.0 / T_REF_K))
        return np.minimum(np.maximum(f, 0.35), 30.0)  # np.clip, without its slower Python wrapper

    def resistance_soc_factor(self, soc: np.ndarray | float) -> np.ndarray:
        """Resistance rises at the SOC ends (depleted electrodes, saturation)."""
        s = np.minimum(np.maximum(np.asarray(soc, dtype=float), -0.05), 1.06)  # np.clip, faster
        # x / -c is exactly -x / c, one array operation fewer
        return 1.0 + 0.8 * np.exp(np.maximum(s, 0.0) / -0.06) + 0.15 * np.exp(np.maximum(1.0 - s, 0.0) / -0.04)

    def capacity_T_factor(self, T_degC: np.ndarray | float) -> np.ndarray:
        """Accessible capacity relative to 25 °C."""
        return fast_interp(T_degC, self.cap_T_degC, self.cap_T_factor)

    def v_min_at(self, T_degC: float) -> float:
        """Discharge cut-off voltage: LFP allows a lower cut-off at or below 0 °C (§4.6)."""
        return self.v_min_cold_V if T_degC <= 0.0 else self.v_min_V


def _table(points: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    soc = np.array([p[0] for p in points], dtype=float)
    ocv = np.array([p[1] for p in points], dtype=float)
    if np.any(np.diff(soc) <= 0) or np.any(np.diff(ocv) <= 0):
        raise ValueError("OCV table must be strictly increasing")
    return soc, ocv


def _lfp() -> Chemistry:
    soc, ocv = _table(_LFP_OCV)
    return Chemistry(
        name="LFP",
        ocv_soc=soc,
        ocv_V=ocv,
        v_max_V=3.65,
        v_nom_V=3.2,
        v_min_V=2.5,
        v_min_cold_V=2.0,
        charge_T_degC=(0.0, 55.0),
        discharge_T_degC=(-20.0, 55.0),
        r0_ohm_Ah=0.030,
        r1_rel=0.35,
        r2_rel=0.55,
        tau1_s=12.0,
        tau2_s=450.0,
        activation_J_per_mol=25_000.0,
        heat_capacity_J_per_K_Ah=24.0,
        self_discharge_per_month=0.025,
        vent_temp_degC=130.0,
    )


def _nmc() -> Chemistry:
    soc, ocv = _table(_NMC_OCV)
    return Chemistry(
        name="NMC",
        ocv_soc=soc,
        ocv_V=ocv,
        v_max_V=4.2,
        v_nom_V=3.65,
        v_min_V=2.5,
        v_min_cold_V=2.5,
        charge_T_degC=(0.0, 45.0),
        discharge_T_degC=(-20.0, 60.0),
        r0_ohm_Ah=0.060,
        r1_rel=0.45,
        r2_rel=0.45,
        tau1_s=8.0,
        tau2_s=250.0,
        activation_J_per_mol=22_000.0,
        heat_capacity_J_per_K_Ah=15.0,
        self_discharge_per_month=0.03,
        vent_temp_degC=110.0,
    )


CHEMISTRIES: dict[str, Chemistry] = {"LFP": _lfp(), "NMC": _nmc()}


def get_chemistry(name: str) -> Chemistry:
    """Look a chemistry up by name (case-insensitive): 'LFP' or 'NMC'."""
    try:
        return CHEMISTRIES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown chemistry {name!r}; known: {sorted(CHEMISTRIES)}") from None
