"""Simulated SunSpec BMS over Modbus TCP, computed from the plant's BMS on every read.

Map: `SunS` @40000, model 1 @40002 (L 66), 802 @40070 (L 62), 803 @40134 (one string, L 58),
804 (one string, L 46 + 16 per module), one 805 per module (L 42 + 4 per cell), end 0xFFFF, 0.
Modules: role option `sim.cells_per_module` (default 8 when the series count divides by 8, else
all cells in one module). Points the plant does not model carry SunSpec's unimplemented
markers (DisChaRte, DoD, SoC limits and reserves, WarrDt, ReqInvState, ReqW, string enable and
connect commands, ...).

Writable: 802 SetOp (1 CONNECT -> plant BMS request 'discharge', i.e. close; 2 DISCONNECT ->
'standby'), AlmRst (1 -> clear latched faults whose condition is gone), CtrlHb and SetInvState
(stored only). Everything else is read-only (exception 2), a bad value is exception 3.

Comms: the plant's BMS has no watchdog fed by its master (its comms flag drops only with the
`comms_loss` fault), so this server feeds nothing; once `plant.comms_lost` is set it stops
answering, as a BMS with a dead link does. Evt1 bits come from the plant's alarms and warnings;
alarms with no SunSpec bit (gas, pressure, temperature rate of rise) set OTHER_ALARM and are
named in EvtVnd1 (house bits: 0 gas stage 1, 1 gas stage 2, 2 pressure, 3 rate of rise).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from instruments.sim.modbus_server import ModbusSimServer, RegisterMap
from instruments.sunspec_bms import MODELS, SUNS, encode_model

BASE = 40000
# plant BMS state (foxBMS numbering) -> SunSpec 802 State
_STATE = {0: 2, 1: 2, 2: 2, 3: 1, 4: 6, 5: 1, 6: 2, 7: 3, 8: 3, 9: 3, 10: 99, 11: 99}
_ALARM_BITS = {
    "comms_loss": 0,
    "cell_ot": 1,
    "cell_ut": 3,
    "oc_charge": 5,
    "charge_over_limit": 5,
    "oc_discharge": 7,
    "discharge_over_limit": 7,
    "cell_ov": 9,
    "cell_uv": 11,
    "thermal_gradient": 18,
    "contactor_welded": 20,
    "precharge": 20,
    "insulation": 22,
    "gas_stage1": 25,
    "gas_stage2": 25,
    "pressure": 25,
    "temp_rise_rate": 25,
}
_WARN_BITS = {
    "cell_ot": 2,
    "cell_ut": 4,
    "oc_charge": 6,
    "oc_discharge": 8,
    "cell_ov": 10,
    "cell_uv": 12,
    "soc_low": 14,
    "soc_high": 16,
    "thermal_gradient": 19,
    "insulation": 26,
    "temp_rise_rate": 26,
    "cold_charge": 26,
}
_VENDOR_BITS = {"gas_stage1": 0, "gas_stage2": 1, "pressure": 2, "temp_rise_rate": 3}


def _sf_for(value: float, digits: int = 0) -> int:
    """Smallest scale factor >= -digits that fits |value| into 16 bits."""
    sf = -digits
    while abs(value) / 10.0**sf > 32000 and sf < 10:
        sf += 1
    return sf


class SunSpecBmsSim:
    """Register computation for one simulated SunSpec BMS."""

    def __init__(
        self,
        plant: Any,
        *,
        lock: Any = None,
        faults: list[Any] | None = None,
        make: str = "",
        model: str = "",
        serial: str = "",
        firmware: str = "",
        cells_per_module: int | None = None,
    ) -> None:
        self.plant = plant
        self.bms = plant.bms
        n = int(plant.pack.n_series)
        cpm = int(cells_per_module or (8 if n % 8 == 0 else n))
        if cpm < 1 or n % cpm:
            raise ValueError(f"cells_per_module {cpm} must divide the series count {n}")
        self.n, self.cpm, self.nmod = n, cpm, n // cpm
        self.identity = {
            "Mn": make or "ESS Bench",
            "Md": model or "SIM-BMS-SUNSPEC",
            "Opt": "sim",
            "Vr": firmware or "1.0.0",
            "SN": serial or "SIM-BMS-0001",
            "DA": 1,
        }
        self.ctrl_hb = 0
        self.set_inv_state: int | None = None
        self.last_setop: int | None = None
        cap_ah = float(plant.pack.nominal_capacity_Ah)
        self.cap_ah = cap_ah
        wh = cap_ah * float(plant.pack.chem.v_nom_V) * n
        self.rating = {"AHRtg": cap_ah, "WHRtg": wh}
        th = self.bms.th
        p_max = max(th["max_charge_current_A"], th["max_discharge_current_A"]) * plant.pack.chem.v_max_V * n
        self.sf = {
            "AHRtg_SF": _sf_for(cap_ah),
            "WHRtg_SF": _sf_for(wh),
            "WChaDisChaMax_SF": _sf_for(p_max),
            "DisChaRte_SF": None,
            "SoC_SF": -1,
            "DoD_SF": None,
            "SoH_SF": -1,
            "V_SF": -1,
            "CellV_SF": -3,
            "A_SF": -1,
            "AMax_SF": -1,
            "W_SF": _sf_for(p_max),
        }
        self.p_max = p_max
        self.regmap = RegisterMap(lock, faults)
        self._layout()

    # -- layout --------------------------------------------------------------------------------
    def _layout(self) -> None:
        m = self.regmap
        m.read(BASE, 2, lambda: list(SUNS))
        addr = BASE + 2
        blocks: list[tuple[int, Any]] = [(1, self._m1), (802, self._m802), (803, self._m803), (804, self._m804)]
        blocks += [(805, partial(self._m805, k)) for k in range(self.nmod)]
        self.addresses: dict[int, list[int]] = {}
        for mid, fn in blocks:
            _, flen, _, rlen = MODELS[mid]
            groups = {803: 1, 804: self.nmod, 805: self.cpm}.get(mid, 0)
            length = flen + rlen * groups
            m.read(addr, length + 2, partial(self._with_header, mid, length, fn))
            self.addresses.setdefault(mid, []).append(addr)
            addr += length + 2
        m.read(addr, 2, lambda: [0xFFFF, 0])
        a802 = self.addresses[802][0] + 2
        off = {p.name: p.offset for p in MODELS[802][0]}
        m.write(a802 + off["SetOp"], 1, self._set_op)
        m.write(a802 + off["AlmRst"], 1, self._alm_rst)
        m.write(a802 + off["CtrlHb"], 1, self._ctrl_hb)
        m.write(a802 + off["SetInvState"], 1, self._set_inv_state)

    @staticmethod
    def _with_header(mid: int, length: int, fn: Any) -> list[int]:
        return [mid, length] + fn()

    # -- writes --------------------------------------------------------------------------------
    def _set_op(self, regs: list[int]) -> None:
        if regs[0] not in (1, 2):
            raise ValueError("SetOp takes 1 CONNECT or 2 DISCONNECT")
        self.last_setop = regs[0]
        self.bms.request_state("discharge" if regs[0] == 1 else "standby")

    def _alm_rst(self, regs: list[int]) -> None:
        if regs[0] != 1:
            raise ValueError("AlmRst takes 1")
        self.bms.clear_faults()

    def _ctrl_hb(self, regs: list[int]) -> None:
        self.ctrl_hb = regs[0]

    def _set_inv_state(self, regs: list[int]) -> None:
        if regs[0] not in (1, 2, 3):
            raise ValueError("SetInvState takes 1, 2 or 3")
        self.set_inv_state = regs[0]

    # -- values --------------------------------------------------------------------------------
    def _events(self) -> tuple[int, int]:
        b = self.bms
        evt = vnd = 0
        for name, on in b.alarms.items():
            if on:
                evt |= 1 << _ALARM_BITS.get(name, 25)
                if name in _VENDOR_BITS:
                    vnd |= 1 << _VENDOR_BITS[name]
        for name, on in b.warnings.items():
            if on and name in _WARN_BITS:
                evt |= 1 << _WARN_BITS[name]
        return evt, vnd

    def _cha_st(self, soc: float, current: float) -> int:
        if not self.bms.contactor_closed:
            return 1
        rest = self.bms.th["rest_current_rel"] * self.cap_ah
        if current < -rest:
            return 4
        if current > rest:
            return 3
        return 5 if soc >= 99.5 else (2 if soc <= 0.5 else 6)

    def _cells(self) -> tuple[list[float], list[float]]:
        v = [float(x) for x in self.bms.cell_voltages_reported_V()]
        t = [float(x) for x in self.bms.cell_temperatures_reported_degC()]
        return v, t

    def _ncyc(self) -> int:
        return int(self.plant.pack.charge_throughput_Ah / (2.0 * self.cap_ah))

    def _m1(self) -> list[int]:
        return encode_model(1, self.identity)

    def _m802(self) -> list[int]:
        b = self.bms
        v, _ = self._cells()
        soc = 100.0 * b.soc_mean
        current = float(b.current_reported_A)
        pack_v = sum(v)
        evt, vnd = self._events()
        imax = v.index(max(v))
        imin = v.index(min(v))
        vals = dict(self.sf)
        vals.update(self.rating)
        vals.update(
            {
                "WChaRteMax": b.max_charge_current_A * pack_v,
                "WDisChaRteMax": b.max_discharge_current_A * pack_v,
                "SoC": soc,
                "SoH": 100.0 * b.soh,
                "NCyc": self._ncyc(),
                "ChaSt": self._cha_st(soc, current),
                "LocRemCtl": 0,
                "Hb": b.heartbeat,
                "CtrlHb": self.ctrl_hb,
                "AlmRst": 0,
                "Typ": 4,
                "State": _STATE.get(b.state, 99),
                "StateVnd": b.state,
                "Evt1": evt,
                "Evt2": 0,
                "EvtVnd1": vnd,
                "EvtVnd2": 0,
                "V": pack_v,
                "VMax": self.plant.pack.chem.v_max_V * self.n,
                "VMin": self.plant.pack.chem.v_min_V * self.n,
                "CellVMax": max(v),
                "CellVMaxStr": 1,
                "CellVMaxMod": imax // self.cpm + 1,
                "CellVMin": min(v),
                "CellVMinStr": 1,
                "CellVMinMod": imin // self.cpm + 1,
                "CellVAvg": pack_v / len(v),
                "A": current,
                "AChaMax": b.max_charge_current_A,
                "ADisChaMax": b.max_discharge_current_A,
                "W": pack_v * current,
                "SetOp": self.last_setop,
                "SetInvState": self.set_inv_state,
            }
        )
        return encode_model(802, vals)

    def _m803(self) -> list[int]:
        b = self.bms
        v, t = self._cells()
        closed = bool(b.contactor_closed)
        evt, vnd = self._events()
        current = float(b.current_reported_A)
        tmax, tmin = max(t), min(t)
        mod_of = lambda i: i // self.cpm + 1  # noqa: E731
        pack_v = sum(v)
        vals = {
            "CellV_SF": -3,
            "ModTmp_SF": -1,
            "A_SF": -1,
            "SoH_SF": -1,
            "SoC_SF": -1,
            "V_SF": self.sf["V_SF"],
            "NStr": 1,
            "NStrCon": 1 if closed else 0,
            "ModTmpMax": tmax,
            "ModTmpMaxStr": 1,
            "ModTmpMaxMod": mod_of(t.index(tmax)),
            "ModTmpMin": tmin,
            "ModTmpMinStr": 1,
            "ModTmpMinMod": mod_of(t.index(tmin)),
            "ModTmpAvg": sum(t) / len(t),
            "StrVMax": pack_v,
            "StrVMaxStr": 1,
            "StrVMin": pack_v,
            "StrVMinStr": 1,
            "StrVAvg": pack_v,
            "StrAMax": current,
            "StrAMaxStr": 1,
            "StrAMin": current,
            "StrAMinStr": 1,
            "StrAAvg": current,
            "NCellBal": int(b.balancing.sum()),
        }
        string = {
            "StrNMod": self.nmod,
            "StrSt": 1 | (2 if closed else 0),
            "StrConFail": 0,
            "StrSoC": 100.0 * b.soc_mean,
            "StrSoH": 100.0 * b.soh,
            "StrA": current,
            "StrCellVMax": max(v),
            "StrCellVMaxMod": mod_of(v.index(max(v))),
            "StrCellVMin": min(v),
            "StrCellVMinMod": mod_of(v.index(min(v))),
            "StrCellVAvg": pack_v / len(v),
            "StrModTmpMax": tmax,
            "StrModTmpMaxMod": mod_of(t.index(tmax)),
            "StrModTmpMin": tmin,
            "StrModTmpMinMod": mod_of(t.index(tmin)),
            "StrModTmpAvg": sum(t) / len(t),
            "StrConSt": 1 if closed else 0,
            "StrEvt1": evt,
            "StrEvt2": 0,
            "StrEvtVnd1": vnd,
            "StrEvtVnd2": 0,
        }
        return encode_model(803, vals, [string])

    def _module(self, k: int, v: list[float], t: list[float]) -> dict[str, Any]:
        lo, hi = k * self.cpm, (k + 1) * self.cpm
        mv, mt = v[lo:hi], t[lo:hi]
        soc = [float(x) for x in self.bms.soc_est[lo:hi]]
        return {
            "mv": mv,
            "mt": mt,
            "soc": 100.0 * sum(soc) / len(soc),
            "vmax": max(mv),
            "vmaxc": mv.index(max(mv)) + 1,
            "vmin": min(mv),
            "vminc": mv.index(min(mv)) + 1,
            "tmax": max(mt),
            "tmaxc": mt.index(max(mt)) + 1,
            "tmin": min(mt),
            "tminc": mt.index(min(mt)) + 1,
        }

    def _m804(self) -> list[int]:
        b = self.bms
        v, t = self._cells()
        closed = bool(b.contactor_closed)
        evt, vnd = self._events()
        mods = [self._module(k, v, t) for k in range(self.nmod)]
        vals = {
            "SoC_SF": -1,
            "SoH_SF": -1,
            "DoD_SF": None,
            "A_SF": -1,
            "V_SF": self.sf["V_SF"],
            "CellV_SF": -3,
            "ModTmp_SF": -1,
            "Idx": 1,
            "NMod": self.nmod,
            "St": 1 | (2 if closed else 0),
            "ConFail": 0,
            "NCellBal": int(b.balancing.sum()),
            "SoC": 100.0 * b.soc_mean,
            "NCyc": self._ncyc(),
            "SoH": 100.0 * b.soh,
            "A": float(b.current_reported_A),
            "V": sum(v),
            "CellVMax": max(v),
            "CellVMaxMod": v.index(max(v)) // self.cpm + 1,
            "CellVMin": min(v),
            "CellVMinMod": v.index(min(v)) // self.cpm + 1,
            "CellVAvg": sum(v) / len(v),
            "ModTmpMax": max(t),
            "ModTmpMaxMod": t.index(max(t)) // self.cpm + 1,
            "ModTmpMin": min(t),
            "ModTmpMinMod": t.index(min(t)) // self.cpm + 1,
            "ModTmpAvg": sum(t) / len(t),
            "ConSt": 1 if closed else 0,
            "Evt1": evt,
            "Evt2": 0,
            "EvtVnd1": vnd,
            "EvtVnd2": 0,
        }
        groups = [
            {
                "ModNCell": self.cpm,
                "ModSoC": m["soc"],
                "ModSoH": 100.0 * b.soh,
                "ModCellVMax": m["vmax"],
                "ModCellVMaxCell": m["vmaxc"],
                "ModCellVMin": m["vmin"],
                "ModCellVMinCell": m["vminc"],
                "ModCellVAvg": sum(m["mv"]) / self.cpm,
                "ModCellTmpMax": m["tmax"],
                "ModCellTmpMaxCell": m["tmaxc"],
                "ModCellTmpMin": m["tmin"],
                "ModCellTmpMinCell": m["tminc"],
                "ModCellTmpAvg": sum(m["mt"]) / self.cpm,
            }
            for m in mods
        ]
        return encode_model(804, vals, groups)

    def _m805(self, k: int) -> list[int]:
        b = self.bms
        v, t = self._cells()
        m = self._module(k, v, t)
        bal = [bool(x) for x in b.balancing[k * self.cpm : (k + 1) * self.cpm]]
        vals = {
            "SoC_SF": -1,
            "SoH_SF": -1,
            "DoD_SF": None,
            "V_SF": -2,
            "CellV_SF": -3,
            "Tmp_SF": -1,
            "StrIdx": 1,
            "ModIdx": k + 1,
            "NCell": self.cpm,
            "SoC": m["soc"],
            "SoH": 100.0 * b.soh,
            "NCyc": self._ncyc(),
            "V": sum(m["mv"]),
            "CellVMax": m["vmax"],
            "CellVMaxCell": m["vmaxc"],
            "CellVMin": m["vmin"],
            "CellVMinCell": m["vminc"],
            "CellVAvg": sum(m["mv"]) / self.cpm,
            "CellTmpMax": m["tmax"],
            "CellTmpMaxCell": m["tmaxc"],
            "CellTmpMin": m["tmin"],
            "CellTmpMinCell": m["tminc"],
            "CellTmpAvg": sum(m["mt"]) / self.cpm,
            "NCellBal": sum(bal),
            "SN": f"{self.identity['SN']}-M{k + 1:02d}",
        }
        cells = [
            {"CellV": cv, "CellTmp": ct if math.isfinite(ct) else None, "CellSt": 1 if cb else 0}
            for cv, ct, cb in zip(m["mv"], m["mt"], bal, strict=True)
        ]
        return encode_model(805, vals, cells)


def serve(plant: Any, role: Any, clock: Any) -> ModbusSimServer:
    """Start the simulated SunSpec BMS for a station role; returns the running server."""
    opts = dict(getattr(role, "options", {}) or {})
    sim = SunSpecBmsSim(
        plant,
        lock=clock.lock,
        faults=plant.instrument_faults.setdefault(role.role, []),
        make=getattr(role, "make", ""),
        model=getattr(role, "model", ""),
        serial=getattr(role, "serial", ""),
        firmware=getattr(role, "firmware", ""),
        cells_per_module=dict(opts.get("sim", {}) or {}).get("cells_per_module"),
    )
    server = ModbusSimServer(
        sim.regmap.device(int(opts.get("device_id", 1))),
        name="sunspec-bms",
        mute_when=lambda: bool(getattr(plant, "comms_lost", False)),
    )
    server.sim = sim  # type: ignore[attr-defined]
    return server.start()
