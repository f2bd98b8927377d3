"""Series/parallel pack (nSmP) built from the cell array and the thermal network.

Cells of one parallel group share a terminal voltage, so each group is reduced to its Thevenin
equivalent (conductance-weighted EMF, parallel resistance) and the groups add in series to the
pack's Thevenin equivalent. After the bus has fixed the pack current, each group voltage follows
and every cell's current is (E_cell - V_group) * g_cell: unequal cells share current unequally
and circulate charge at rest, as real parallel cells do.

Throughout, "cell" in the external API means one series element (a parallel group of P cells):
that is what a BMS measures with its cell taps. `*_all_*` methods give the per-cell (S, P) view.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instruments.sim.plant.cells import CellArray
from instruments.sim.plant.chemistry import Chemistry
from instruments.sim.plant.thermal import ThermalNetwork

_sum = np.add.reduce  # the ufunc reduce skips ndarray.sum's Python wrapper (hot path)


class Pack:
    """The battery pack: electrical and thermal state of all cells."""

    def __init__(self, cfg: dict[str, Any], chem: Chemistry, rng: np.random.Generator, T0_degC: float) -> None:
        self.chem = chem
        self.n_series = int(cfg.get("n_series", 16))
        self.n_parallel = int(cfg.get("n_parallel", 1))
        if self.n_series < 1 or self.n_parallel < 1:
            raise ValueError("pack needs n_series >= 1 and n_parallel >= 1")
        cap = float(cfg.get("cell_capacity_Ah", 100.0))
        self.cell_capacity_Ah = cap
        self.cells = CellArray(
            chem,
            self.n_series,
            self.n_parallel,
            cap,
            rng,
            soc0=float(cfg.get("soc0", 0.5)),
            soc_spread=float(cfg.get("soc_spread", 0.002)),
            capacity_spread_rel=float(cfg.get("capacity_spread_rel", 0.01)),
            resistance_spread_rel=float(cfg.get("resistance_spread_rel", 0.03)),
            T0_degC=float(cfg.get("T0_degC", T0_degC)),
            r0_ohm=cfg.get("cell_r0_ohm"),
            self_discharge_per_month=cfg.get("self_discharge_per_month"),
        )
        c_th = float(cfg.get("cell_heat_capacity_J_per_K", chem.heat_capacity_J_per_K_Ah * cap))
        area_scale = (cap / 50.0) ** (2.0 / 3.0)  # convective area grows with cell size
        self.thermal = ThermalNetwork(
            (self.n_series, self.n_parallel),
            c_th * self.cells.capacity_Ah / cap,
            hA_still_W_per_K=float(cfg.get("hA_still_W_per_K", 0.5 * area_scale)),
            hA_forced_W_per_K=float(cfg.get("hA_forced_W_per_K", 1.2 * area_scale)),
            k_series_W_per_K=float(cfg.get("k_series_W_per_K", 1.5 * area_scale)),
            k_parallel_W_per_K=float(cfg.get("k_parallel_W_per_K", 1.5 * area_scale)),
            edge_cooling_factor=float(cfg.get("edge_cooling_factor", 1.5)),
        )
        self.slow_period_s = float(cfg.get("slow_period_s", 5.0))
        self.dut_isolation_ohm = float(cfg.get("dut_isolation_ohm", 500e6))
        self.bleed_A = np.zeros(self.n_series)  # balancing bleed drawn from each series element
        self._bleeding = False
        self.current_A = 0.0  # + = discharge
        self.charge_throughput_Ah = 0.0  # cumulative |I| dt
        self.charge_in_Ah = 0.0
        self.charge_out_Ah = 0.0
        self.energy_in_Wh = 0.0
        self.energy_out_Wh = 0.0
        self._since_slow = 0.0
        ocv = self.cells.ocv_V()
        self.block_V = ocv.mean(axis=1)
        self.voltage_V = float(self.block_V.sum())
        self._E = self._Rg = self._Eg = None
        # heat each cell made in the last advance() (what the thermal step used); None after a slow refresh
        self.last_heat_W: np.ndarray | None = None

    # ---- solve interface -----------------------------------------------------------------
    def set_bleed(self, bleed_A: np.ndarray) -> None:
        """Balancing currents per series element (A, drawn from the element's terminals)."""
        self.bleed_A = bleed_A
        self._bleeding = bool(np.any(bleed_A != 0.0))

    def thevenin(self, h: float) -> tuple[float, float]:
        """Pack end-of-step Thevenin equivalent (E_V, R_ohm) for a step of h seconds."""
        E, g = self.cells.thevenin(h)
        if self.n_parallel == 1:  # a group of one cell: its sums are the cell's own values
            Rg = 1.0 / g[:, 0]
            Eg = (g[:, 0] * E[:, 0]) * Rg
        else:
            Rg = 1.0 / _sum(g, 1)
            Eg = _sum(g * E, 1) * Rg
        self._Rg = Rg
        self._Eg = Eg
        if self._bleeding:
            return float(_sum(Eg - Rg * self.bleed_A)), float(_sum(Rg))
        return float(_sum(Eg)), float(_sum(Rg))

    def advance(self, h: float, current_A: float, T_air_degC: float, forced_air: bool) -> None:
        """Apply pack current (+ = discharge) for h seconds; update cells and temperatures."""
        cells = self.cells
        if self._bleeding:
            Vg = self._Eg - self._Rg * (current_A + self.bleed_A)
        else:
            Vg = self._Eg - self._Rg * current_A
        cells.advance(h, cells._g * (cells._E - Vg[:, None]))
        self.block_V = Vg
        v = float(_sum(Vg))
        self.voltage_V = v
        self.current_A = current_A
        ah = current_A * h / 3600.0
        if ah >= 0.0:
            self.charge_out_Ah += ah
            self.energy_out_Wh += ah * v
        else:
            self.charge_in_Ah -= ah
            self.energy_in_Wh -= ah * v
        self.charge_throughput_Ah += abs(ah)
        q = cells.heat_W()
        cells.T_degC = self.thermal.step(cells.T_degC, q, T_air_degC, h, forced_air)
        self.last_heat_W = q
        self._since_slow += h
        if self._since_slow >= self.slow_period_s:
            self._since_slow = 0.0
            cells.refresh_slow()
            self.last_heat_W = None  # new resistances: cells.heat_W() now gives other values

    # ---- queries ---------------------------------------------------------------------------
    @property
    def bleeding(self) -> bool:
        """Some series element has a balancing bleed on (see set_bleed)."""
        return self._bleeding

    @property
    def nominal_capacity_Ah(self) -> float:
        """Rated pack capacity: cell capacity times cells in parallel."""
        return self.cell_capacity_Ah * self.n_parallel

    @property
    def n_cells(self) -> int:
        """Number of physical cells (S x P)."""
        return self.n_series * self.n_parallel

    def cell_voltages_V(self) -> np.ndarray:
        """Terminal voltage of each series element (includes IR drop), shape (S,)."""
        return np.array(self.block_V, dtype=float)

    def cell_voltages_all_V(self) -> np.ndarray:
        """Terminal voltage of every cell, shape (S, P)."""
        return np.array(self.cells.v_term_V, dtype=float)

    def cell_temperatures_degC(self) -> np.ndarray:
        """Hottest cell of each series element, shape (S,): what a sensor on the element reads."""
        return self.cells.T_degC.max(axis=1)

    def cell_temperatures_all_degC(self) -> np.ndarray:
        """Temperature of every cell, shape (S, P)."""
        return self.cells.T_degC.copy()

    def ocv_V(self) -> np.ndarray:
        """Open-circuit voltage of each series element, shape (S,) (mean of its cells)."""
        ocv = self.cells.ocv_V()
        if self.n_parallel == 1:
            return ocv[:, 0]
        return _sum(ocv, 1) / self.n_parallel  # = ocv.mean(axis=1), without its Python wrapper

    def ocv_total_V(self) -> float:
        """Pack open-circuit voltage (sum over series elements)."""
        return float(_sum(self.ocv_V()))

    def soc(self) -> np.ndarray:
        """True state of charge of each series element (0..1), capacity-weighted over its cells."""
        c = self.cells.capacity_Ah * self.cells.capacity_factor
        return (self.cells.soc * c).sum(axis=1) / c.sum(axis=1)

    def soc_all(self) -> np.ndarray:
        """True SOC of every cell, shape (S, P)."""
        return self.cells.soc.copy()

    def block_capacity_Ah(self) -> np.ndarray:
        """Accessible capacity of each series element (Ah) at its present temperature, with faults."""
        return self.cells.cap_eff_Ah.sum(axis=1)

    def resistance_ohm(self) -> float:
        """Present pack DC resistance R0 (sum over series of the parallel R0), for diagnostics."""
        return float((1.0 / (1.0 / self.cells.R0_ohm).sum(axis=1)).sum())
