"""The site controller's and the site meter's SunSpec maps, computed from the site plant.

Controller (unit 1, base 40000): 1 common, 701 AC measurement (at the PCS terminals), 702
capacity, 704 AC controls, 713 storage capacity, 714 DC measurement (one port per block), then
per block 802 battery, 803 bank (one string) and 804 string (one module group per tracked cell:
each module of the block is represented by one tracked cell, so module min = max = avg), then
the vendor model 64901 (alarms, protective settings, firmware; definition in
instruments/sunspec_models/model_64901.json), then the end model.

Writable: 702 WMax, VAMax, WChaRteMax, WDisChaRteMax; 704 WSetEna, WSetMod, WSet, WSetPct,
WMaxLimPctEna, WMaxLimPct, VarSetEna, VarSetMod, VarSet, VarSetPct, WRmp; 802 SetOp (per block);
64901 AlmRst and the protective settings. Other RW points of the models are refused
(exception 3): this controller does not implement them.

Meter (its own endpoint, unit 1): 1 common and one 701 per metering point: "poi" (the site's
point of interconnection, through the CT that the `ct_reversed` fault mounts backwards) and
"aux" (the auxiliary feeder: HVAC, pump, controls). Signs: W > 0 = export.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instruments.sim.site.plant import ALARM_BITS, STATE_NAMES, SitePlant
from instruments.sim.site.sunspec_image import NotImplementedPointError, SunSpecImage, put
from instruments.sunspec_models import add_model_definitions

_802_STATE = {0: 2, 1: 2, 2: 2, 3: 1, 4: 6, 5: 1, 6: 2, 7: 3, 8: 3, 9: 3, 10: 99, 11: 99}  # foxBMS -> SunSpec
_EVT1 = {
    "cell_ov": 9,
    "cell_uv": 11,
    "cell_ot": 1,
    "cell_ut": 3,
    "oc_charge": 5,
    "oc_discharge": 7,
    "charge_over_limit": 5,
    "discharge_over_limit": 7,
    "thermal_gradient": 18,
    "comms_loss": 0,
    "contactor_welded": 20,
    "precharge": 20,
    "insulation": 22,
}
WRITABLE = {
    "702.WMax",
    "702.VAMax",
    "702.WChaRteMax",
    "702.WDisChaRteMax",
    "704.WSetEna",
    "704.WSetMod",
    "704.WSet",
    "704.WSetPct",
    "704.WMaxLimPctEna",
    "704.WMaxLimPct",
    "704.VarSetEna",
    "704.VarSetMod",
    "704.VarSet",
    "704.VarSetPct",
    "704.WRmp",
    "64901.HvacSetpt",
    "64901.PumpPsiMin",
    "64901.ThermGrdLim",
    "64901.OvVltLim",
    "64901.CommsTmout",
    "64901.AlmDly",
    "64901.SoCMin",
    "64901.SoCMax",
}


def _bits(names: list[str], table: dict[str, int]) -> int:
    out = 0
    for n in names:
        out |= 1 << table[n]
    return out


class SiteSunSpec:
    """Register image of the simulated site controller."""

    def __init__(self, plant: SitePlant) -> None:
        self.p = plant
        add_model_definitions()
        self.image = SunSpecImage(not_implemented=lambda: plant.not_implemented)
        c = plant.controller
        n = len(plant.blocks)
        im = self.image
        self.identity = {
            "Mn": c["make"],
            "Md": c["model"],
            "Opt": "sim",
            "Vr": c["firmware"],
            "SN": c["serial"],
            "DA": 1,
        }
        im.add(1, lambda m: put(m, self.identity))
        im.add(701, self._m701)
        im.add(702, self._m702, on_write=self._write)
        im.add(704, self._m704, on_write=self._write)
        im.add(713, self._m713)
        im.add(714, self._m714, data={"NPrt": n, "Prt": [{} for _ in range(n)]})
        tracked = plant.blocks[0].tracked
        for b in plant.blocks:
            im.add(802, lambda m, b=b: self._m802(m, b), on_write=lambda name, v, b=b: self._write_802(b, name, v))
            im.add(803, lambda m, b=b: self._m803(m, b), data={"NStr": 1, "string": [{}]})
            im.add(
                804,
                lambda m, b=b: self._m804(m, b),
                data={"NMod": tracked, "lithium_ion_string_module": [{} for _ in range(tracked)]},
            )
        im.add(64901, self._vendor, data={"NBlk": n, "Blk": [{} for _ in range(n)]}, on_write=self._write)

    # -- writes ------------------------------------------------------------------------------------
    def _write(self, name: str, value: Any) -> None:
        if name == "64901.AlmRst":
            if int(value) != 1:
                raise ValueError("AlmRst takes 1")
            self.p.alarm_reset()
            return
        if name in self.p.not_implemented:
            raise NotImplementedPointError(name)
        if name not in WRITABLE:
            raise ValueError(f"{name} is not writable on this controller")
        self.p.set_setting(name, float(value))

    def _write_802(self, b: Any, name: str, value: Any) -> None:
        point = name.split(".", 1)[1]
        if point == "SetOp":
            self.p.block_setop(b.index, int(value))
        elif point == "AlmRst":
            b.bms.clear_faults()
        else:
            raise ValueError(f"802.{point} is not writable on this controller")

    # -- controller models ---------------------------------------------------------------------------
    def _m701(self, m: Any) -> None:
        p, pcs = self.p, self.p.pcs
        w, q = pcs.grid_power_W(), pcs.q_var
        va = (w * w + q * q) ** 0.5
        inv = 6 if p.state == 2 else (3 if abs(pcs.p_W) > 0.005 * pcs.rated_W else 7)
        put(
            m,
            {
                "W_SF": 1,
                "VA_SF": 1,
                "Var_SF": 1,
                "PF_SF": -3,
                "A_SF": -1,
                "V_SF": -1,
                "Hz_SF": -2,
                "TotWh_SF": 0,
                "TotVarh_SF": 0,
                "Tmp_SF": -1,
            },
        )
        put(
            m,
            {
                "ACType": 2,
                "St": 1,
                "InvSt": inv,
                "ConnSt": 1 if any(b.connected for b in p.blocks) else 0,
                "Alrm": 0,
                "W": w,
                "VA": va,
                "Var": q,
                "PF": (w / va) if va > 1 else 1.0,
                "A": va / (pcs.voltage_V * 3**0.5),
                "LLV": pcs.voltage_V,
                "LNV": pcs.voltage_V / 3**0.5,
                "Hz": pcs.frequency_Hz,
                "TotWhInj": p.poi_export_Wh,
                "TotWhAbs": p.poi_import_Wh,
                "TotVarhInj": p.poi_var_inj_h,
                "TotVarhAbs": p.poi_var_abs_h,
                "TmpAmb": p.aux.T_air_degC,
            },
        )

    def _m702(self, m: Any) -> None:
        pcs, pt = self.p.pcs, self.p.points
        put(m, {"W_SF": 1, "PF_SF": -3, "VA_SF": 1, "Var_SF": 1, "V_SF": -1, "A_SF": -1, "S_SF": 0})
        put(
            m,
            {
                "WMaxRtg": pcs.rated_W,
                "VAMaxRtg": pcs.rated_VA,
                "VarMaxInjRtg": pcs.rated_VA,
                "VarMaxAbsRtg": pcs.rated_VA,
                "WChaRteMaxRtg": pcs.rated_W,
                "WDisChaRteMaxRtg": pcs.rated_W,
                "VNomRtg": pcs.voltage_V,
                "VMaxRtg": pcs.voltage_V * 1.1,
                "VMinRtg": pcs.voltage_V * 0.88,
                "AMaxRtg": pcs.rated_VA / (pcs.voltage_V * 3**0.5),
                "CtrlModes": 0b11,
                "WMax": pt["702.WMax"],
                "VAMax": pt["702.VAMax"],
                "WChaRteMax": pt["702.WChaRteMax"],
                "WDisChaRteMax": pt["702.WDisChaRteMax"],
            },
        )

    def _m704(self, m: Any) -> None:
        pt = self.p.points
        put(m, {"PF_SF": -3, "WMaxLimPct_SF": -2, "WSet_SF": 0, "WSetPct_SF": -2, "VarSet_SF": 0, "VarSetPct_SF": -2})
        put(
            m,
            {
                "WMaxLimPctEna": pt["704.WMaxLimPctEna"],
                "WMaxLimPct": pt["704.WMaxLimPct"],
                "WSetEna": pt["704.WSetEna"],
                "WSetMod": pt["704.WSetMod"],
                "WSet": pt["704.WSet"],
                "WSetPct": pt["704.WSetPct"],
                "VarSetEna": pt["704.VarSetEna"],
                "VarSetMod": pt["704.VarSetMod"],
                "VarSet": pt["704.VarSet"],
                "VarSetPct": pt["704.VarSetPct"],
                "WRmp": pt["704.WRmp"],
                "WRmpRef": 1,
            },
        )

    def _m713(self, m: Any) -> None:
        p = self.p
        soc, soh = p.site_soc_pct(), p.site_soh_pct()
        warn = any(p.alarms.values())
        put(m, {"WH_SF": 1, "Pct_SF": -2})
        put(
            m,
            {
                "WHRtg": p.rated_Wh(),
                "WHAvail": p.rated_Wh() * soc / 100.0 * soh / 100.0,
                "SoC": soc,
                "SoH": soh,
                "Sta": 2 if p.state == 2 else (1 if warn else 0),
            },
        )

    def _m714(self, m: Any) -> None:
        blocks = self.p.blocks
        put(m, {"DCA_SF": -1, "DCV_SF": -1, "DCW_SF": 1, "DCWH_SF": 0, "Tmp_SF": -1})
        put(
            m,
            {
                "PrtAlrms": 0,
                "NPrt": len(blocks),
                "DCA": sum(b.current_A for b in blocks),
                "DCW": sum(b.power_W for b in blocks),
                "DCWhInj": sum(b.dc_out_Wh for b in blocks),
                "DCWhAbs": sum(b.dc_in_Wh for b in blocks),
            },
        )
        for g, b in zip(m.groups["Prt"], blocks, strict=True):
            put(
                g,
                {
                    "PrtTyp": 1,
                    "ID": b.index,
                    "IDStr": f"BLOCK{b.index}",
                    "DCA": b.current_A,
                    "DCV": b.voltage_V,
                    "DCW": b.power_W,
                    "DCWhInj": b.dc_out_Wh,
                    "DCWhAbs": b.dc_in_Wh,
                    "Tmp": b.bms.T_max,
                    "DCSta": 1 if b.connected else 0,
                    "DCAlrm": 0,
                },
            )

    def _m802(self, m: Any, b: Any) -> None:
        bms, k = b.bms, b.k
        v = bms.v_reported
        evt = 0
        for name, on in bms.alarms.items():
            if on and name in _EVT1:
                evt |= 1 << _EVT1[name]
        soc = 100.0 * b.soc
        cha_st = 1 if not b.connected else (4 if b.current_A < -1 else 3 if b.current_A > 1 else 6)
        put(
            m,
            {
                "AHRtg_SF": -1,
                "WHRtg_SF": 1,
                "WChaDisChaMax_SF": 1,
                "DisChaRte_SF": None,
                "SoC_SF": -2,
                "DoD_SF": None,
                "SoH_SF": -2,
                "V_SF": -1,
                "CellV_SF": -3,
                "A_SF": -1,
                "AMax_SF": -1,
                "W_SF": 1,
            },
        )
        put(
            m,
            {
                "AHRtg": b.rated_Ah,
                "WHRtg": b.rated_Wh,
                "WChaRteMax": bms.max_charge_current_A * b.voltage_V,
                "WDisChaRteMax": bms.max_discharge_current_A * b.voltage_V,
                "SoCMax": self.p.points["64901.SoCMax"],
                "SoCMin": self.p.points["64901.SoCMin"],
                "SoC": soc,
                "SoH": 100.0 * bms.soh,
                "NCyc": int(b.pack.charge_throughput_Ah / (2.0 * b.rated_Ah)),
                "ChaSt": cha_st,
                "LocRemCtl": 0,
                "Hb": bms.heartbeat,
                "CtrlHb": 0,
                "AlmRst": 0,
                "Typ": 4,
                "State": _802_STATE.get(bms.state, 99),
                "StateVnd": bms.state,
                "Evt1": evt,
                "Evt2": 0,
                "EvtVnd1": 0,
                "EvtVnd2": 0,
                "V": float(np.add.reduce(v)) * k,
                "VMax": b.pack.chem.v_max_V * b.n_cells,
                "VMin": b.pack.chem.v_min_V * b.n_cells,
                "CellVMax": bms.v_max,
                "CellVMaxStr": 1,
                "CellVMaxMod": int(np.argmax(v)) + 1,
                "CellVMin": bms.v_min,
                "CellVMinStr": 1,
                "CellVMinMod": int(np.argmin(v)) + 1,
                "CellVAvg": float(np.add.reduce(v)) / b.tracked,
                "A": bms.current_reported_A,
                "AChaMax": bms.max_charge_current_A,
                "ADisChaMax": bms.max_discharge_current_A,
                "W": b.power_W,
                "SetOp": 1 if bms.request else 2,
                "SetInvState": None,
            },
        )

    def _m803(self, m: Any, b: Any) -> None:
        bms = b.bms
        t = bms.T_reported
        closed = b.connected
        put(m, {"CellV_SF": -3, "ModTmp_SF": -1, "A_SF": -1, "SoH_SF": -2, "SoC_SF": -2, "V_SF": -1})
        put(
            m,
            {
                "NStr": 1,
                "NStrCon": 1 if closed else 0,
                "ModTmpMax": bms.T_max,
                "ModTmpMaxStr": 1,
                "ModTmpMaxMod": int(np.argmax(t)) + 1,
                "ModTmpMin": bms.T_min,
                "ModTmpMinStr": 1,
                "ModTmpMinMod": int(np.argmin(t)) + 1,
                "ModTmpAvg": float(np.add.reduce(t)) / b.tracked,
                "StrVMax": b.voltage_V,
                "StrVMaxStr": 1,
                "StrVMin": b.voltage_V,
                "StrVMinStr": 1,
                "StrVAvg": b.voltage_V,
                "StrAMax": bms.current_reported_A,
                "StrAMaxStr": 1,
                "StrAMin": bms.current_reported_A,
                "StrAMinStr": 1,
                "StrAAvg": bms.current_reported_A,
                "NCellBal": int(bms.balancing.sum()),
            },
        )
        # the one string: the same points as model 804's, named with the "Str" prefix model 803 uses
        strings = {f"Str{k}": v for k, v in _string_points(b).items()}
        put(m.groups["string"][0], {**strings, "StrDisRsn": 0})

    def _m804(self, m: Any, b: Any) -> None:
        bms = b.bms
        v, t = bms.v_reported, bms.T_reported
        put(m, {"SoC_SF": -2, "SoH_SF": -2, "DoD_SF": None, "A_SF": -1, "V_SF": -1, "CellV_SF": -3, "ModTmp_SF": -1})
        put(
            m,
            {
                "Idx": 1,
                **_string_points(b),
                "NCellBal": int(bms.balancing.sum()),
                "DoD": None,
                "NCyc": int(b.pack.charge_throughput_Ah / (2.0 * b.rated_Ah)),
                "V": b.voltage_V,
            },
        )
        cells_per_module = int(round(b.k))
        soc = 100.0 * bms.soc_est
        for i, g in enumerate(m.groups["lithium_ion_string_module"]):
            put(
                g,
                {
                    "ModNCell": cells_per_module,
                    "ModSoC": soc[i],
                    "ModSoH": 100.0 * bms.soh,
                    "ModCellVMax": v[i],
                    "ModCellVMaxCell": 1,
                    "ModCellVMin": v[i],
                    "ModCellVMinCell": 1,
                    "ModCellVAvg": v[i],
                    "ModCellTmpMax": t[i],
                    "ModCellTmpMaxCell": 1,
                    "ModCellTmpMin": t[i],
                    "ModCellTmpMinCell": 1,
                    "ModCellTmpAvg": t[i],
                },
            )

    def _vendor(self, m: Any) -> None:
        p, pt, c = self.p, self.p.points, self.p.controller
        active = [n for n, on in p.alarms.items() if on]
        put(m, {"Press_SF": 0, "Tmp_SF": -1, "CellV_SF": -3, "Tms_SF": -1, "Pct_SF": -1})
        put(
            m,
            {
                "St": p.state,
                "Alm": _bits(active, ALARM_BITS),
                "AlmRst": 0,
                "CoolPress": p.aux.pressure_kPa,
                "ThermGrd": p.thermal_gradient_K(),
                "CellVMax": p.cell_v_max(),
                "HvacSetpt": pt["64901.HvacSetpt"],
                "PumpPsiMin": pt["64901.PumpPsiMin"],
                "ThermGrdLim": pt["64901.ThermGrdLim"],
                "OvVltLim": pt["64901.OvVltLim"],
                "CommsTmout": pt["64901.CommsTmout"],
                "AlmDly": pt["64901.AlmDly"],
                "SoCMin": pt["64901.SoCMin"],
                "SoCMax": pt["64901.SoCMax"],
                "NBlk": len(p.blocks),
                "CtrlVr": c["firmware"],
                "PcsVr": c["pcs_firmware"],
            },
        )
        for g, b in zip(m.groups["Blk"], p.blocks, strict=True):
            st = 0 if b.offline or not b.connected else (3 if b.bms.state == 10 else (2 if b.bms.soh < 0.9 else 1))
            blk_alm = (1 << ALARM_BITS["BMS_TRIP"]) if b.bms.state == 10 else 0
            if b.offline:
                blk_alm |= 1 << ALARM_BITS["BLOCK_OFFLINE"]
            put(g, {"BlkSt": st, "BlkAlm": blk_alm, "BmsVr": c["bms_firmware"]})

    def state_name(self) -> str:
        return STATE_NAMES[self.p.state]


class MeterSunSpec:
    """Register image of the two-point site meter."""

    def __init__(self, plant: SitePlant, seed: int = 0) -> None:
        self.p = plant
        mc = plant.config["meter"]
        self.noise_W = float(mc["noise_W"])
        self._rng = np.random.default_rng(seed + 4242)
        self.image = SunSpecImage()
        ident = {
            "Mn": mc["make"],
            "Md": mc["model"],
            "Opt": "poi,aux",
            "Vr": mc["firmware"],
            "SN": mc["serial"],
            "DA": 1,
        }
        self.image.add(1, lambda m: put(m, ident))
        self.image.add(701, self._poi)
        self.image.add(701, self._aux)

    def _common(self, m: Any, w: float, q: float, exp_wh: float, imp_wh: float) -> None:
        pcs = self.p.pcs
        va = (w * w + q * q) ** 0.5
        put(
            m,
            {
                "W_SF": 1,
                "VA_SF": 1,
                "Var_SF": 1,
                "PF_SF": -3,
                "A_SF": -1,
                "V_SF": -1,
                "Hz_SF": -3,
                "TotWh_SF": 0,
                "TotVarh_SF": 0,
                "Tmp_SF": None,
            },
        )
        put(
            m,
            {
                "ACType": 2,
                "St": 1,
                "InvSt": None,
                "ConnSt": 1,
                "Alrm": 0,
                "W": w,
                "VA": va,
                "Var": q,
                "PF": (w / va) if va > 1 else 1.0,
                "A": va / (pcs.voltage_V * 3**0.5),
                "LLV": pcs.voltage_V,
                "LNV": pcs.voltage_V / 3**0.5,
                "Hz": pcs.frequency_Hz,
                "TotWhInj": exp_wh,
                "TotWhAbs": imp_wh,
            },
        )

    def _poi(self, m: Any) -> None:
        w, q, exp_wh, imp_wh = self.p.meter_poi()
        noise = self.noise_W * float(self._rng.standard_normal())
        self._common(m, w + noise, q, exp_wh, imp_wh)

    def _aux(self, m: Any) -> None:
        w = -self.p.aux.power_W()
        self._common(m, w + self.noise_W * 0.1 * float(self._rng.standard_normal()), 0.0, 0.0, self.p.aux_Wh)


def _string_points(b: Any) -> dict[str, Any]:
    """A block's string as both SunSpec models describe it (803 per string with a "Str" prefix,
    804 for the string itself): state, SoC/SoH, current, cell-voltage and module-temperature
    extremes with where they are, contactor state; events none, settings not implemented."""
    bms = b.bms
    v, t = bms.v_reported, bms.T_reported
    closed = b.connected
    return {
        "NMod": b.tracked,
        "St": 1 | (2 if closed else 0),
        "ConFail": 0,
        "SoC": 100.0 * b.soc,
        "SoH": 100.0 * bms.soh,
        "A": bms.current_reported_A,
        "CellVMax": bms.v_max,
        "CellVMaxMod": int(np.argmax(v)) + 1,
        "CellVMin": bms.v_min,
        "CellVMinMod": int(np.argmin(v)) + 1,
        "CellVAvg": float(np.add.reduce(v)) / b.tracked,
        "ModTmpMax": bms.T_max,
        "ModTmpMaxMod": int(np.argmax(t)) + 1,
        "ModTmpMin": bms.T_min,
        "ModTmpMinMod": int(np.argmin(t)) + 1,
        "ModTmpAvg": float(np.add.reduce(t)) / b.tracked,
        "ConSt": 1 if closed else 0,
        "Evt1": 0,
        "Evt2": 0,
        "EvtVnd1": 0,
        "EvtVnd2": 0,
        "SetEna": None,
        "SetCon": None,
    }
