"""The simulated site: blocks behind one PCS, a site controller, auxiliary loads and meters.

The site controller is the top-level orchestrator of modular blocks: it turns the SCADA
command (SunSpec 704) into one AC setpoint for the PCS, shares the resulting DC power between
the connected blocks in proportion to the energy each has left to the end of the SoC window
(so their SoCs converge; each block's share clipped to what its BMS allows), stops at the
window's ends, and watches the site's protective functions: cell over-voltage, thermal
gradient, coolant pressure, the heartbeat of every block BMS, and any BMS trip. A protective
alarm that persists for its delay latches, stops the PCS at once and opens every block's
contactors (SAFE_STOP) until an alarm reset with the condition gone.

Energy is integrated at the point of interconnection (the PCS AC terminals, as the site meter
sees them), on the auxiliary feeder and at each block's DC terminals; `ledger` keeps these
totals against virtual time so a test can compare what a plan measured with what the plant did.

`step(dt)` sub-steps adaptively: `fast_substep_s` while the PCS has a pending command or ramps
and for `fast_window_s` after any change, `max_substep_s` under steady power, `rest_substep_s`
at rest, each shortened to land on BMS and controller protection deadlines and fault times.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from instruments.sim.plant.chemistry import get_chemistry
from instruments.sim.site.block import Block
from instruments.sim.site.config import build_config
from instruments.sim.site.faults import apply_fault, check_fault
from instruments.sim.site.pcs import AuxLoads, Pcs

ALARM_BITS = {
    "ERR_THERM_GRD_LIMIT": 0,
    "OVR_VLT_ALARM": 1,
    "PUMP_PSI_LOW": 2,
    "COMMS_LOSS": 3,
    "BLOCK_OFFLINE": 4,
    "HVAC_FAULT": 5,
    "ESTOP": 6,
    "BMS_TRIP": 7,
}
# alarm -> protective function it belongs to (for protection_defect) and whether it stops the site
TRIPS = {
    "ERR_THERM_GRD_LIMIT": "thermal_gradient",
    "OVR_VLT_ALARM": "over_voltage",
    "PUMP_PSI_LOW": "coolant_pressure",
    "COMMS_LOSS": "comms_loss",
    "BMS_TRIP": None,
}
STANDBY, RUNNING, SAFE_STOP = 0, 1, 2
STATE_NAMES = {STANDBY: "STANDBY", RUNNING: "RUNNING", SAFE_STOP: "SAFE_STOP", 3: "FAULT"}
LEDGER_PERIOD_S = 10.0


class SitePlant:
    """Physics and control of one site; SI floats; the clock calls `step(dt)` under its lock."""

    def __init__(self, overrides: dict[str, Any] | None = None, seed: int = 0) -> None:
        cfg = build_config(overrides)
        self.config = cfg
        self.seed = int(seed)
        self.chem = get_chemistry(str(cfg["chemistry"]))
        self.ambient_degC = float(cfg["ambient_degC"])
        rng = np.random.default_rng(self.seed)
        n = int(cfg["blocks"]["count"])
        self.blocks = [Block(i + 1, cfg, self.chem, rng, self.seed, self.ambient_degC) for i in range(n)]
        self.pcs = Pcs(cfg)
        c = cfg["controller"]
        self.controller = dict(c)
        self.aux = AuxLoads(cfg, float(c["hvac_setpoint_degC"]))
        sim = cfg["sim"]
        self.max_substep_s = float(sim["max_substep_s"])
        self.rest_substep_s = float(sim["rest_substep_s"])
        self.fast_substep_s = float(sim["fast_substep_s"])
        self.fast_window_s = float(sim["fast_window_s"])
        rated = self.pcs.rated_W
        # writable settings and controls, by "<model>.<point>", in the point's SI unit
        self.points: dict[str, float] = {
            "702.WMax": rated,
            "702.VAMax": self.pcs.rated_VA,
            "702.WChaRteMax": rated,
            "702.WDisChaRteMax": rated,
            "704.WRmp": float(c["wrmp_pct_per_s"]),
            "704.WSetEna": 0,
            "704.WSetMod": 1,
            "704.WSet": 0.0,
            "704.WSetPct": 0.0,
            "704.WMaxLimPctEna": 0,
            "704.WMaxLimPct": 100.0,
            "704.VarSetEna": 0,
            "704.VarSetMod": 4,
            "704.VarSet": 0.0,
            "704.VarSetPct": 0.0,
            "64901.HvacSetpt": float(c["hvac_setpoint_degC"]),
            "64901.PumpPsiMin": float(c["pump_pressure_min_kPa"]),
            "64901.ThermGrdLim": float(c["thermal_gradient_limit_K"]),
            "64901.OvVltLim": float(c["ov_limit_V"]),
            "64901.CommsTmout": float(c["comms_timeout_s"]),
            "64901.AlmDly": float(c["alarm_delay_s"]),
            "64901.SoCMin": float(c["soc_min_pct"]),
            "64901.SoCMax": float(c["soc_max_pct"]),
        }
        self.not_implemented: set[str] = {k for k, v in c["implemented"].items() if not v}
        self.state = STANDBY
        self.alarms: dict[str, bool] = dict.fromkeys(ALARM_BITS, False)
        self._alarm_timers: dict[str, float] = {}
        self.protection_delay_s: dict[str, float] = {}
        self._deadline = math.inf
        self.stuck_soc_pct: float | None = None
        self.ct_reversed = False
        self.drop_every_n = 0
        self.drop_until_s = math.inf
        self.link_cut = False  # bench <-> controller link cut (stimulus)
        self.t_s = 0.0
        self._fast_until = 0.0
        self.events: list[tuple[float, str]] = []
        # energy accounting (Wh) at the POI, the auxiliary feeder and the DC side
        self.poi_export_Wh = self.poi_import_Wh = 0.0
        self.poi_var_inj_h = self.poi_var_abs_h = 0.0
        self.aux_Wh = 0.0
        self.poi_W = 0.0
        self.ledger: list[tuple[float, ...]] = []
        self._next_ledger = 0.0
        self.ledger_path: str | None = None
        self._pending: list[dict[str, Any]] = []
        self._stimulus: Any = None
        self.instrument_faults: dict[str, list[dict[str, Any]]] = {}  # per role, for simulated SCPI instruments
        n_cells = int(cfg["blocks"]["tracked_cells"])
        for i, spec in enumerate(cfg["faults"]):
            self.inject(check_fault(spec, n, n_cells, f"faults[{i}]"))
        self._record_ledger()

    # -- faults and events ---------------------------------------------------------------------------
    def inject(self, fault: dict[str, Any]) -> None:
        f = check_fault(fault, len(self.blocks), self.blocks[0].tracked, "fault")
        if f["at_s"] <= self.t_s + 1e-9:
            apply_fault(self, f)
            self._fast_until = self.t_s + self.fast_window_s
        else:
            self._pending.append(f)
            self._pending.sort(key=lambda x: x["at_s"])

    def log(self, text: str) -> None:
        self.events.append((self.t_s, text))

    def stimulus_target(self) -> Any:
        """The site's stimulus target (CONTRACTS.md target protocol), one per plant."""
        if self._stimulus is None:
            from instruments.sim.site.stimulus_target import SiteStimulusTarget

            self._stimulus = SiteStimulusTarget(self)
        return self._stimulus

    # -- settings and commands (the controller's Modbus side calls these) ----------------------------
    def set_setting(self, point: str, value: float) -> None:
        """Write a setting or control point (SI value); ValueError for a value the controller refuses."""
        if point not in self.points:
            raise ValueError(f"{point} is not writable")
        if point in self.not_implemented:
            raise ValueError(f"{point} is not implemented")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{point}: not a number")
        rated = self.pcs.rated_W
        bounds = {
            "702.WMax": (0, rated),
            "702.VAMax": (0, self.pcs.rated_VA),
            "702.WChaRteMax": (0, rated),
            "702.WDisChaRteMax": (0, rated),
            "704.WRmp": (0.1, 1000),
            "704.WSetEna": (0, 1),
            "704.WSetMod": (0, 1),
            "704.WSet": (-rated, rated),
            "704.WSetPct": (-100, 100),
            "704.WMaxLimPctEna": (0, 1),
            "704.WMaxLimPct": (0, 100),
            "704.VarSetEna": (0, 1),
            "704.VarSetMod": (0, 4),
            "704.VarSet": (-self.pcs.rated_VA, self.pcs.rated_VA),
            "704.VarSetPct": (-100, 100),
            "64901.HvacSetpt": (10, 35),
            "64901.PumpPsiMin": (0, 1000),
            "64901.ThermGrdLim": (1, 50),
            "64901.OvVltLim": (2, 5),
            "64901.CommsTmout": (0.1, 600),
            "64901.AlmDly": (0, 60),
            "64901.SoCMin": (0, 100),
            "64901.SoCMax": (0, 100),
        }
        lo, hi = bounds[point]
        if not lo <= v <= hi:
            raise ValueError(f"{point} = {v:g} outside {lo:g}..{hi:g}")
        self.points[point] = v
        if point.startswith("704.") or point.startswith("702."):
            self._command()

    def _command(self) -> None:
        """The AC setpoint from the 704/702 points (0 when not enabled or latched in SAFE_STOP)."""
        pt = self.points
        wmax = pt["702.WMax"]
        p = 0.0
        if self.state != SAFE_STOP and pt["704.WSetEna"] == 1:
            p = pt["704.WSet"] if pt["704.WSetMod"] == 1 else pt["704.WSetPct"] / 100.0 * wmax
        if pt["704.WMaxLimPctEna"] == 1:
            lim = pt["704.WMaxLimPct"] / 100.0 * wmax
            p = min(max(p, -lim), lim)
        p = min(max(p, -min(wmax, pt["702.WChaRteMax"])), min(wmax, pt["702.WDisChaRteMax"]))
        q = 0.0
        if self.state != SAFE_STOP and pt["704.VarSetEna"] == 1:
            q = pt["704.VarSet"] if pt["704.VarSetMod"] == 4 else pt["704.VarSetPct"] / 100.0 * pt["702.VAMax"]
        self.pcs.command(self.t_s, p, q)

    def block_setop(self, index: int, op: int) -> None:
        """802 SetOp of block `index`: 1 CONNECT, 2 DISCONNECT."""
        b = self.blocks[index - 1]
        if op not in (1, 2):
            raise ValueError("SetOp takes 1 CONNECT or 2 DISCONNECT")
        if op == 1 and self.state == SAFE_STOP:
            raise ValueError("site latched in SAFE_STOP: reset the alarms first")
        if op == 1 and not b.offline:
            b.bms.request_state("discharge")
        else:
            b.bms.request_state("standby")
        self._fast_until = self.t_s + self.fast_window_s

    def alarm_reset(self) -> None:
        """Vendor AlmRst: clear latched alarms whose condition is gone; leave SAFE_STOP if none is left."""
        for name in self.alarms:
            if self.alarms[name] and not self._condition(name):
                self.alarms[name] = False
        self._alarm_timers.clear()
        for b in self.blocks:
            if b.bms.state == 10:
                b.bms.clear_faults()
        if self.state == SAFE_STOP and not any(self.alarms[a] for a in TRIPS):
            self.state = STANDBY
            self.log("alarms reset: STANDBY")
            self._command()

    # -- what the controller reports ---------------------------------------------------------------
    def site_soc_pct(self) -> float:
        """Energy-weighted BMS SoC of the blocks (what 713 SoC reports), unless stuck."""
        if self.stuck_soc_pct is not None:
            return self.stuck_soc_pct
        w = [b.rated_Wh for b in self.blocks]
        return 100.0 * sum(b.soc * wi for b, wi in zip(self.blocks, w, strict=True)) / sum(w)

    def site_soh_pct(self) -> float:
        w = [b.rated_Wh for b in self.blocks]
        return 100.0 * sum(b.bms.soh * wi for b, wi in zip(self.blocks, w, strict=True)) / sum(w)

    def rated_Wh(self) -> float:
        return sum(b.rated_Wh for b in self.blocks)

    def thermal_gradient_K(self) -> float:
        return max(b.bms.T_max - b.bms.T_min for b in self.blocks)

    def cell_v_max(self) -> float:
        return max(b.bms.v_max for b in self.blocks)

    def state_name(self) -> str:
        return STATE_NAMES[self.state]

    def meter_poi(self) -> tuple[float, float, float, float]:
        """(W, var, exported Wh, imported Wh) as the site meter's CT sees them."""
        w, q = self.poi_W, self.pcs.q_var
        exp_wh, imp_wh = self.poi_export_Wh, self.poi_import_Wh
        if self.ct_reversed:
            return -w, -q, imp_wh, exp_wh
        return w, q, exp_wh, imp_wh

    # -- protections ---------------------------------------------------------------------------------
    def _condition(self, name: str) -> bool:
        pt = self.points
        if name == "ERR_THERM_GRD_LIMIT":
            return self.thermal_gradient_K() > pt["64901.ThermGrdLim"]
        if name == "OVR_VLT_ALARM":
            return self.cell_v_max() > pt["64901.OvVltLim"]
        if name == "PUMP_PSI_LOW":
            return self.aux.pressure_kPa < pt["64901.PumpPsiMin"]
        if name == "COMMS_LOSS":
            return any(not b.offline and self.t_s - b.last_heartbeat_s > pt["64901.CommsTmout"] for b in self.blocks)
        if name == "BMS_TRIP":
            return any(b.bms.state == 10 for b in self.blocks)
        if name == "BLOCK_OFFLINE":
            return any(b.offline for b in self.blocks)
        if name == "HVAC_FAULT":
            return abs(self.aux.T_air_degC - pt["64901.HvacSetpt"]) > 10.0
        return False

    def _protections(self, h: float) -> None:
        delay = self.points["64901.AlmDly"]
        for name in ALARM_BITS:
            if self.alarms[name]:
                continue
            if self._condition(name):
                fn = TRIPS.get(name)
                need = (0.0 if name in ("BLOCK_OFFLINE", "BMS_TRIP") else delay) + self.protection_delay_s.get(
                    fn or "", 0.0
                )
                # counted from the sub-step end where it was first seen (not the whole sub-step before)
                tm = self._alarm_timers[name] + h if name in self._alarm_timers else 0.0
                self._alarm_timers[name] = tm
                if tm >= need - 1e-9:
                    self.alarms[name] = True
                    self.log(f"alarm {name}")
                    if name in TRIPS:
                        self._safe_stop(name)
                else:
                    self._deadline = min(self._deadline, need - tm)
            else:
                self._alarm_timers.pop(name, None)
        if not self.alarms["COMMS_LOSS"]:
            for b in self.blocks:  # land exactly on the heartbeat time-out
                if b.comms_cut and not b.offline:
                    left = b.last_heartbeat_s + self.points["64901.CommsTmout"] - self.t_s
                    if left > 0:
                        self._deadline = min(self._deadline, left + 1e-6)

    def _safe_stop(self, why: str) -> None:
        if self.state == SAFE_STOP:
            return
        self.state = SAFE_STOP
        self.pcs.fast_stop()
        for b in self.blocks:
            b.bms.request_state("standby")
        self.log(f"SAFE_STOP ({why}): PCS stopped, block contactors opening")
        self._fast_until = self.t_s + self.fast_window_s

    # -- integration ---------------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        if dt <= 0:
            return
        t_end = self.t_s + dt
        for _ in range(10_000_000):
            if t_end - self.t_s <= 1e-12:
                break
            while self._pending and self._pending[0]["at_s"] <= self.t_s + 1e-9:
                apply_fault(self, self._pending.pop(0))
                self._fast_until = self.t_s + self.fast_window_s
            if any(b.bms.changed for b in self.blocks):
                for b in self.blocks:
                    b.bms.changed = False
                self._fast_until = self.t_s + self.fast_window_s
            pcs = self.pcs
            if self.t_s < self._fast_until:
                h = self.fast_substep_s
            elif abs(pcs.p_W) < 1.0 and not pcs.transient() and not any(b.comms_cut for b in self.blocks):
                h = self.rest_substep_s
            else:
                h = self.max_substep_s
            nxt = pcs.next_event_s(self.t_s)
            if nxt > 0:
                h = min(h, nxt)
            if pcs.ramping:  # end a sub-step where the ramp ends: power is linear inside it
                h = min(h, max(pcs.ramp_time_s(self.points["704.WRmp"]), 1e-3))
            h = min(h, t_end - self.t_s, self._deadline, *(b.next_deadline_s() for b in self.blocks))
            if self._pending:
                h = min(h, max(self._pending[0]["at_s"] - self.t_s, 1e-6))
            h = max(h, min(1e-4, t_end - self.t_s))
            self._substep(h)
        self.t_s = t_end

    def _share(self, p_dc: float, avail: list[float] | None = None) -> list[float]:
        """Split DC power over the blocks in proportion to their headroom, each within its BMS limit.

        `avail`: each block's available power in the direction of `p_dc`, when the caller has it."""
        discharge = p_dc > 0
        lo, hi = self.points["64901.SoCMin"] / 100.0, self.points["64901.SoCMax"] / 100.0
        if avail is None:
            avail = [b.available_power_W(discharge, lo, hi) for b in self.blocks]
        weight = [b.headroom_Wh(discharge, lo, hi) if a > 0 else 0.0 for b, a in zip(self.blocks, avail, strict=True)]
        share = [0.0] * len(self.blocks)
        free = [i for i, a in enumerate(avail) if a > 0]
        need = abs(p_dc)
        for _ in range(len(self.blocks) + 1):
            if not free or need <= 0:
                break
            w_free = sum(weight[i] for i in free)
            total_w = w_free or float(len(free))
            capped = [i for i in free if need * (weight[i] or 1.0) / total_w > avail[i]]
            if not capped:
                for i in free:
                    share[i] = need * (weight[i] if w_free else 1.0) / total_w
                break
            for i in capped:
                share[i] = avail[i]
                need -= avail[i]
                free.remove(i)
        sign = 1.0 if discharge else -1.0
        return [sign * s for s in share]

    def _substep(self, h: float) -> None:
        t = self.t_s + h
        pt = self.points
        lo, hi = pt["64901.SoCMin"] / 100.0, pt["64901.SoCMax"] / 100.0
        pcs = self.pcs
        # what each block allows, both ways; the PCS step leaves the blocks alone, so _share reuses it
        avail_dis = [b.available_power_W(True, lo, hi) for b in self.blocks]
        avail_ch = [b.available_power_W(False, lo, hi) for b in self.blocks]
        dis = pcs.ac_from_dc(sum(avail_dis))
        ch = -pcs.ac_from_dc(-sum(avail_ch))
        p_mean = pcs.step(h, t, pt["704.WRmp"], dis, ch)
        p_want = pcs.dc_power(p_mean)
        shares = self._share(p_want, avail_dis if p_want > 0 else avail_ch)
        link_on = self.state != SAFE_STOP
        heat = 0.0
        for b, p in zip(self.blocks, shares, strict=True):
            b.step(h, t, p, self.aux.T_air_degC, link_on)
            heat += b.heat_W
        # what the blocks actually gave decides the AC power (a BMS limit bites at once)
        p_dc = sum(b.power_W for b in self.blocks)
        if abs(p_dc - p_want) > 1.0:
            p_mean = pcs.ac_from_dc(p_dc)
            if not pcs.ramping:
                pcs.p_W = p_mean
        self.aux.step(h, heat, pt["64901.HvacSetpt"])
        mean_poi = pcs.grid_power_W(p_mean)
        self.poi_W = pcs.grid_power_W()
        if mean_poi >= 0:
            self.poi_export_Wh += mean_poi * h / 3600.0
        else:
            self.poi_import_Wh -= mean_poi * h / 3600.0
        q = pcs.q_var
        if q >= 0:
            self.poi_var_inj_h += q * h / 3600.0
        else:
            self.poi_var_abs_h -= q * h / 3600.0
        self.aux_Wh += self.aux.power_W() * h / 3600.0
        self.t_s = t
        self._deadline = math.inf
        self._protections(h)
        if self.state != SAFE_STOP:
            running = pt["704.WSetEna"] == 1 and any(b.connected for b in self.blocks)
            self.state = RUNNING if running else STANDBY
        if t >= self._next_ledger - 1e-9:
            self._record_ledger()

    # -- ledger ------------------------------------------------------------------------------------------
    def _record_ledger(self) -> None:
        self.ledger.append(
            (
                self.t_s,
                self.poi_export_Wh,
                self.poi_import_Wh,
                self.aux_Wh,
                sum(b.dc_out_Wh for b in self.blocks),
                sum(b.dc_in_Wh for b in self.blocks),
                sum(b.stored_Wh() for b in self.blocks),
            )
        )
        self._next_ledger = self.t_s + LEDGER_PERIOD_S

    def write_ledger(self, path: str | Path) -> None:
        """The plant's own energy accounting, for tests that check what a plan measured."""
        self._record_ledger()
        cols = ["t_s", "poi_export_Wh", "poi_import_Wh", "aux_Wh", "dc_out_Wh", "dc_in_Wh", "stored_Wh"]
        Path(path).write_text(
            json.dumps({"columns": cols, "rows": self.ledger, "events": self.events}), encoding="utf-8"
        )
