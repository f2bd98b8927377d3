"""One battery block of the site: a string of cells with its BMS, reusing the battery plant.

The string of `cells_series` cells is modelled as one equivalent string with `tracked_cells`
cells tracked individually by `instruments.sim.plant.pack.Pack` (equivalent-circuit cells with
their spread, thermal network, self-discharge) and watched by the plant's own
`instruments.sim.plant.bms.Bms` (protections, contactor state machine, SoC estimation,
balancing). Every cell of a series string carries the same current, so the tracked cells are a
sample of the string: the string voltage, energy and heat are the tracked ones times
`k = cells_series / tracked_cells`. This keeps a 240-cell block as cheap as an 8-cell pack.

The PCS draws DC power from the block through the controller; for a power P the string current
follows from the string's end-of-step Thevenin source (E, R): P = (E - R*I)*I.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from instruments.sim.plant.bms import Bms, default_thresholds
from instruments.sim.plant.chemistry import Chemistry
from instruments.sim.plant.gas import GasModel
from instruments.sim.plant.pack import Pack


class Block:
    """Pack + BMS of one block; SI floats, + current = discharge."""

    def __init__(
        self, index: int, cfg: dict[str, Any], chem: Chemistry, rng: np.random.Generator, seed: int, T0_degC: float
    ) -> None:
        b = cfg["blocks"]
        self.index = index  # 1-based, as SunSpec and the plan count blocks
        self.n_cells = int(b["cells_series"])
        self.tracked = int(b["tracked_cells"])
        self.k = self.n_cells / self.tracked
        self.pack = Pack(
            {
                "n_series": self.tracked,
                "n_parallel": 1,
                "cell_capacity_Ah": float(b["cell_capacity_Ah"]),
                "soc0": float(b["soc0"]),
                "soc_spread": float(b["soc_spread"]),
                "capacity_spread_rel": float(b["capacity_spread_rel"]),
                "resistance_spread_rel": float(b["resistance_spread_rel"]),
                "cell_r0_ohm": float(b["cell_r0_ohm"]),
                "T0_degC": T0_degC,
                "slow_period_s": 30.0,
            },
            chem,
            rng,
            T0_degC,
        )
        bms_cfg = dict(b["bms"])
        known = set(default_thresholds(chem, self.pack.nominal_capacity_Ah, self.tracked))
        unknown = sorted(set(bms_cfg) - known - {"soc_init", "soh_initial", "balancing_allowed"})
        if unknown:
            raise ValueError(f"blocks.bms: unknown BMS threshold(s) {unknown}")
        bms_cfg.setdefault("soc_init", float(np.mean(self.pack.soc())))  # a BMS that has been running
        self.gas = GasModel(None)
        self.bms = Bms(bms_cfg, self.pack, self.gas, seed=seed + 101 * index)
        self.rated_Ah = float(self.pack.nominal_capacity_Ah)
        self.rated_Wh = self.rated_Ah * chem.v_nom_V * self.n_cells
        self.offline = False  # fault: block not available (BMS never closes)
        self.comms_cut = False  # controller <-> BMS link cut (stimulus)
        self.last_heartbeat_s = 0.0  # when the controller last heard this BMS
        self.current_A = 0.0
        self.voltage_V = float(self.pack.voltage_V * self.k)
        self.power_W = 0.0
        self.dc_out_Wh = 0.0
        self.dc_in_Wh = 0.0
        self.heat_W = 0.0
        self.soc = self.bms.soc_mean  # BMS SoC estimate (0..1), mean over the string; kept after each cycle

    # -- what the controller sees ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.bms.contactor_path == 2

    def available_power_W(self, discharge: bool, soc_min: float, soc_max: float) -> float:
        """DC power the BMS allows now in one direction (0 at the SoC window's end or when open)."""
        if not self.connected or self.offline or self.bms.state == 10:
            return 0.0
        v = max(self.voltage_V, 1.0)
        if discharge:
            return 0.0 if self.soc <= soc_min else self.bms.max_discharge_current_A * v
        return 0.0 if self.soc >= soc_max else self.bms.max_charge_current_A * v

    def headroom_Wh(self, discharge: bool, soc_min: float, soc_max: float) -> float:
        """Energy to the end of the SoC window, by the BMS's own capacity estimate."""
        cap_wh = float(np.add.reduce(self.bms.capacity_est_Ah)) / self.tracked * self.pack.chem.v_nom_V * self.n_cells
        return max(0.0, (self.soc - soc_min) if discharge else (soc_max - self.soc)) * cap_wh

    def stored_Wh(self) -> float:
        """True energy content above empty (plant truth, for the energy ledger)."""
        cells = self.pack.cells
        ah_cells = cells.soc * cells.capacity_Ah * cells.capacity_factor
        ah = float(np.add.reduce(ah_cells, axis=None) / ah_cells.size)  # = np.mean, without its Python wrapper
        return ah * self.pack.chem.v_nom_V * self.n_cells

    # -- physics ---------------------------------------------------------------------------------
    def step(self, h: float, t: float, p_dc_W: float, T_air_degC: float, dc_link_on: bool) -> None:
        """Draw `p_dc_W` (+ discharge) for h seconds; then one BMS cycle."""
        pack = self.pack
        E, R = pack.thevenin(h)
        E_s, R_s = E * self.k, R * self.k
        current = 0.0
        if self.connected and p_dc_W != 0.0:
            disc = E_s * E_s - 4.0 * R_s * p_dc_W
            current = (E_s - math.sqrt(max(disc, 0.0))) / (2.0 * R_s)
        pack.advance(h, current, T_air_degC, True)
        self.current_A = current
        self.voltage_V = pack.voltage_V * self.k
        self.power_W = self.voltage_V * current
        if current >= 0.0:
            self.dc_out_Wh += self.power_W * h / 3600.0
        else:
            self.dc_in_Wh -= self.power_W * h / 3600.0
        q = pack.last_heat_W  # the cells' heat, as the pack just computed it (unless it refreshed)
        if q is None:
            q = pack.cells.heat_W()
        self.heat_W = float(np.add.reduce(q, axis=None)) * self.k
        # the PCS precharges its DC link to the string voltage when it is energised
        self.bms.bus_voltage_V = pack.ocv_total_V() if dc_link_on else 0.0
        self.bms.update(h, t)
        self.soc = float(np.add.reduce(self.bms.soc_est)) / self.tracked
        if not self.comms_cut:
            self.last_heartbeat_s = t

    def next_deadline_s(self) -> float:
        return self.bms.next_deadline_s()
