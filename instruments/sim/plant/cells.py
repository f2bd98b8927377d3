"""Vectorised equivalent-circuit model of every cell in the pack (R0 + two RC pairs).

All state is held in (n_series, n_parallel) arrays so one step is a handful of numpy operations
regardless of cell count. The RC pairs are integrated with their exact exponential for a current
held over the step and solved implicitly together with the OCV slope: the cell is presented to
the pack solver as a Thevenin source (E, R_eff) valid at the *end* of the step, which keeps the
model stable for steps much longer than the RC time constants (the pack solve never overshoots).

Parameters that drift slowly (temperature- and SOC-dependent resistance, temperature-dependent
capacity, self-discharge) are refreshed by `refresh_slow()`, which the pack calls every few
seconds of simulated time and whenever a fault changes a factor.

SOC counts charge against the cell's (fault-scaled) capacity, so coulomb counting closes exactly.
Cold shrinks the *accessible* capacity f_T < 1 by cutting the bottom of the window: the OCV is
looked up at soc_eff = 1 - (1 - soc) / f_T, so a cold cell reaches its empty flank with charge
still inside, and gives it back when it warms up (charge is conserved, as in a real cell).
"""

from __future__ import annotations

import numpy as np

from instruments.sim.plant.chemistry import Chemistry, fast_interp

SECONDS_PER_MONTH = 30.0 * 86400.0


class CellArray:
    """State and parameters of all cells; shapes are (S, P)."""

    def __init__(
        self,
        chem: Chemistry,
        n_series: int,
        n_parallel: int,
        capacity_Ah: float,
        rng: np.random.Generator,
        soc0: float = 0.5,
        soc_spread: float = 0.0,
        capacity_spread_rel: float = 0.01,
        resistance_spread_rel: float = 0.03,
        T0_degC: float = 25.0,
        r0_ohm: float | None = None,
        self_discharge_per_month: float | None = None,
    ) -> None:
        shape = (n_series, n_parallel)
        self.chem = chem
        self.shape = shape
        self.nominal_capacity_Ah = float(capacity_Ah)
        self.capacity_Ah = capacity_Ah * np.clip(1.0 + capacity_spread_rel * rng.standard_normal(shape), 0.5, 1.5)
        r0 = chem.r0_ohm_Ah / capacity_Ah if r0_ohm is None else float(r0_ohm)
        self.nominal_r0_ohm = r0
        self.r0_ohm = r0 * np.clip(1.0 + resistance_spread_rel * rng.standard_normal(shape), 0.5, 2.0)
        self.soc = np.clip(soc0 + soc_spread * rng.standard_normal(shape), -0.04, 1.05)
        self.v_rc = np.zeros((2,) + shape)  # RC pair voltages (V), positive on discharge
        self.T_degC = np.full(shape, float(T0_degC))
        sd = chem.self_discharge_per_month if self_discharge_per_month is None else self_discharge_per_month
        self.self_discharge_per_month = float(sd)
        # Fault hooks: multipliers and extra sources, all neutral by default.
        self.capacity_factor = np.ones(shape)
        self.resistance_factor = np.ones(shape)
        self.leak_conductance_S = np.zeros(shape)  # internal soft short (1/R_leak)
        self.extra_heat_W = np.zeros(shape)
        self.heater_W = np.zeros(shape)  # external heaters (stimuli), see set_heater
        self._heaters: dict[str, tuple[tuple[tuple[int, int], ...], float]] = {}
        self.i_A = np.zeros(shape)  # terminal current of each cell, + = discharge
        self.v_term_V = chem.ocv(self.soc)
        self._leak_any = False
        self._tau = np.array([chem.tau1_s, chem.tau2_s]).reshape(2, 1, 1)
        self._rel = np.array([chem.r1_rel, chem.r2_rel]).reshape(2, 1, 1)
        slope_soc = np.linspace(chem.ocv_soc[0], chem.ocv_soc[-1], 400)
        self._slope_soc = slope_soc
        self._slope_tab = np.gradient(chem.ocv(slope_soc), slope_soc)
        self._h = self._a_h = -1.0
        self.refresh_slow()

    # ---- slowly varying parameters -------------------------------------------------------
    def refresh_slow(self) -> None:
        """Recompute resistances, capacity and self-discharge from temperature, SOC and faults."""
        chem = self.chem
        f = chem.resistance_T_factor(self.T_degC) * chem.resistance_soc_factor(self.soc) * self.resistance_factor
        self.R0_ohm = self.r0_ohm * f
        self.R_rc_ohm = self._rel * self.R0_ohm  # (2, S, P)
        self.cap_T = chem.capacity_T_factor(self.T_degC)
        self._inv_cap_T = 1.0 / self.cap_T
        self.charge_capacity_Ah = self.capacity_Ah * self.capacity_factor
        self.cap_eff_Ah = self.charge_capacity_Ah * self.cap_T  # accessible at this temperature
        self._inv_cap_As = 1.0 / (3600.0 * self.charge_capacity_Ah)
        # Self-discharge as an internal current, doubling every 10 K.
        self.i_self_A = (
            (self.self_discharge_per_month * 3600.0 / SECONDS_PER_MONTH)
            * self.capacity_Ah
            * np.exp2((self.T_degC - 25.0) / 10.0)
        )
        self._h = -1.0  # step-dependent terms must be rebuilt

    def _prepare_h(self, h: float) -> None:
        if h != self._a_h:  # the RC decay depends on h alone: a slow refresh keeps it
            self._a = np.exp(-h / self._tau)
            self._one_minus_a = 1.0 - self._a
            self._a_h = h
        self._Rb = self.R_rc_ohm * self._one_minus_a  # RC contribution to the end-of-step resistance
        self._R_static = self.R0_ohm + self._Rb[0] + self._Rb[1]
        self._h_inv_cap = h * self._inv_cap_As
        self._h = h

    # ---- per-step ------------------------------------------------------------------------
    def thevenin(self, h: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell end-of-step Thevenin source: (E_V, g_S) with g = 1/R_eff.

        R_eff includes R0, the RC pairs over the step and the OCV slope times the charge moved
        (implicit SOC), so the pack solver's answer is consistent with the state after the step.
        """
        if h != self._h:
            self._prepare_h(h)
        inv_f = self._inv_cap_T
        soc_eff = 1.0 + (self.soc - 1.0) * inv_f
        ocv = fast_interp(soc_eff, self.chem.ocv_soc, self.chem.ocv_V)
        slope = fast_interp(soc_eff, self._slope_soc, self._slope_tab) * inv_f
        v = self._a * self.v_rc
        self._av = v  # the RC decay over the step, reused by advance()
        E = ocv - v[0] - v[1]
        g = 1.0 / (self._R_static + slope * self._h_inv_cap)
        self._E = E
        self._g = g
        return E, g

    def advance(self, h: float, i_cell_A: np.ndarray) -> None:
        """Integrate SOC and RC states over h for terminal currents `i_cell_A` (+ = discharge).

        Called after `thevenin(h)` for the same step, whose end-of-step source it completes."""
        self.i_A = i_cell_A
        internal = self.i_self_A
        if self._leak_any:
            internal = internal + self.v_term_V * self.leak_conductance_S
        self.soc = self.soc - (i_cell_A + internal) * self._h_inv_cap
        self.v_rc = self._av + self._Rb * i_cell_A  # _av = a * v_rc, from thevenin()
        self.v_term_V = self._E - i_cell_A / self._g

    def set_leak(self, index: tuple[int, int], conductance_S: float) -> None:
        """Install an internal leak (soft short) on one cell."""
        self.leak_conductance_S[index] = conductance_S
        self._leak_any = bool(np.any(self.leak_conductance_S > 0))

    def set_heater(self, name: str, cells: list[tuple[int, int]], watts: float | None) -> None:
        """External heater `name` (a heater pad or cartridge) spreading `watts` evenly over `cells`,
        or removed with None. Kept apart from `extra_heat_W`, which faults rewrite every step."""
        if watts is None:
            self._heaters.pop(name, None)
        else:
            if not cells:
                raise ValueError(f"heater {name!r} needs at least one cell")
            self._heaters[name] = (tuple((int(s), int(p)) for s, p in cells), float(watts))
        total = np.zeros(self.shape)
        for where, w in self._heaters.values():
            for idx in where:
                total[idx] += w / len(where)
        self.heater_W = total

    def heaters(self) -> dict[str, tuple[tuple[tuple[int, int], ...], float]]:
        """Installed external heaters: name -> (cells, total watts)."""
        return dict(self._heaters)

    def heat_W(self) -> np.ndarray:
        """Heat generated in each cell over the last step: I²R0 + RC losses + leak + fault heat."""
        i = self.i_A
        v = self.v_rc
        rc = v * v / self.R_rc_ohm
        q = i * i * self.R0_ohm + (rc[0] + rc[1])  # the two RC pairs (cheaper than a reduce)
        if self._leak_any:
            q = q + self.v_term_V * self.v_term_V * self.leak_conductance_S
        q = q + self.extra_heat_W
        if self._heaters:
            q = q + self.heater_W
        return q

    def ocv_V(self) -> np.ndarray:
        """Present open-circuit voltage of every cell (temperature-shifted window, see module doc)."""
        return fast_interp(1.0 + (self.soc - 1.0) * self._inv_cap_T, self.chem.ocv_soc, self.chem.ocv_V)
