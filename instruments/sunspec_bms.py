"""BMS over Modbus TCP with SunSpec models 1 (common), 802 (battery), 803 (Li-ion bank),
804 (Li-ion string) and 805 (Li-ion module, per-cell data).

Discovery follows the SunSpec rule (and pysunspec2): read `SunS` at 40000, then 0, then 50000;
walk the chain [ID][L][L registers] until ID 0xFFFF. Point layouts below are written out from
the SunSpec JSON models shipped with pysunspec2 1.3.7 (a test checks them against it), so the
driver needs no SunSpec library at run time. Values are raw * 10^SF with the SF read in the same
block read; unimplemented markers (int16 0x8000, uint16/enum16 0xFFFF, uint32/bitfield32
0xFFFFFFFF, string all NUL) decode to None. Nothing is ever written unless a method is asked to.

BmsLink mapping (documented because SunSpec has no charge/discharge request):
  request_state('standby')            -> 802 SetOp = 2 DISCONNECT (contactors open)
  request_state('charge'|'discharge') -> 802 SetOp = 1 CONNECT (direction follows the current)
  reset_faults()                      -> 802 AlmRst = 1
  history(): 802 NCyc (cycle count), SoH, AHRtg/WHRtg (ratings); the rest of a module's history
            (events, throughput) is not in the SunSpec models and comes from the passport file.
  status(): 802 (SoC, V, A, CellVMax/Min, AChaMax/ADisChaMax, State, ChaSt, Evt1 decoded) and
            803 (ModTmpMax/Min as cell temperature extremes; StrConSt bit 0 as the contactor aux).
  Current sign: positive = discharging, as BmsStatus and the plant use.
  cell_voltages()/cell_temperatures(): from 805 (one model per module, per-cell CellV/CellTmp);
  804 carries only module min/max/avg, so without 805 these raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import BmsHistory, BmsLink, BmsStatus, ClockAware, FaultReset
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentTimeout
from instruments.transports.modbus import ModbusClient, ModbusExceptionError

SUNS = [0x5375, 0x6E53]
BASE_ADDRESSES = (40000, 0, 50000)

# name:type[:sf] ; types u16 i16 e16 b16 u32 b32 sf pad sN (string of N registers)
_M1 = "Mn:s16 Md:s16 Opt:s8 Vr:s8 SN:s16 DA:u16 Pad:pad"
_M802 = (
    "AHRtg:u16:AHRtg_SF WHRtg:u16:WHRtg_SF WChaRteMax:u16:WChaDisChaMax_SF WDisChaRteMax:u16:WChaDisChaMax_SF "
    "DisChaRte:u16:DisChaRte_SF SoCMax:u16:SoC_SF SoCMin:u16:SoC_SF SocRsvMax:u16:SoC_SF SoCRsvMin:u16:SoC_SF "
    "SoC:u16:SoC_SF DoD:u16:DoD_SF SoH:u16:SoH_SF NCyc:u32 ChaSt:e16 LocRemCtl:e16 Hb:u16 CtrlHb:u16 AlmRst:u16 "
    "Typ:e16 State:e16 StateVnd:e16 WarrDt:u32 Evt1:b32 Evt2:b32 EvtVnd1:b32 EvtVnd2:b32 V:u16:V_SF "
    "VMax:u16:V_SF VMin:u16:V_SF CellVMax:u16:CellV_SF CellVMaxStr:u16 CellVMaxMod:u16 CellVMin:u16:CellV_SF "
    "CellVMinStr:u16 CellVMinMod:u16 CellVAvg:u16:CellV_SF A:i16:A_SF AChaMax:u16:AMax_SF ADisChaMax:u16:AMax_SF "
    "W:i16:W_SF ReqInvState:e16 ReqW:i16:W_SF SetOp:e16 SetInvState:e16 AHRtg_SF:sf WHRtg_SF:sf "
    "WChaDisChaMax_SF:sf DisChaRte_SF:sf SoC_SF:sf DoD_SF:sf SoH_SF:sf V_SF:sf CellV_SF:sf A_SF:sf AMax_SF:sf W_SF:sf"
)
_M803 = (
    "NStr:u16 NStrCon:u16 ModTmpMax:i16:ModTmp_SF ModTmpMaxStr:u16 ModTmpMaxMod:u16 ModTmpMin:i16:ModTmp_SF "
    "ModTmpMinStr:u16 ModTmpMinMod:u16 ModTmpAvg:i16:ModTmp_SF StrVMax:u16:V_SF StrVMaxStr:u16 StrVMin:u16:V_SF "
    "StrVMinStr:u16 StrVAvg:u16:V_SF StrAMax:i16:A_SF StrAMaxStr:u16 StrAMin:i16:A_SF StrAMinStr:u16 "
    "StrAAvg:i16:A_SF NCellBal:u16 CellV_SF:sf ModTmp_SF:sf A_SF:sf SoH_SF:sf SoC_SF:sf V_SF:sf"
)
_M803_STRING = (
    "StrNMod:u16 StrSt:b32 StrConFail:e16 StrSoC:u16:SoC_SF StrSoH:u16:SoH_SF StrA:i16:A_SF "
    "StrCellVMax:u16:CellV_SF StrCellVMaxMod:u16 StrCellVMin:u16:CellV_SF StrCellVMinMod:u16 "
    "StrCellVAvg:u16:CellV_SF StrModTmpMax:i16:ModTmp_SF StrModTmpMaxMod:u16 StrModTmpMin:i16:ModTmp_SF "
    "StrModTmpMinMod:u16 StrModTmpAvg:i16:ModTmp_SF StrDisRsn:e16 StrConSt:b32 StrEvt1:b32 StrEvt2:b32 "
    "StrEvtVnd1:b32 StrEvtVnd2:b32 StrSetEna:e16 StrSetCon:e16 Pad1:pad Pad2:pad"
)
_M804 = (
    "Idx:u16 NMod:u16 St:b32 ConFail:e16 NCellBal:u16 SoC:u16:SoC_SF DoD:u16:DoD_SF NCyc:u32 SoH:u16:SoH_SF "
    "A:i16:A_SF V:u16:V_SF CellVMax:u16:CellV_SF CellVMaxMod:u16 CellVMin:u16:CellV_SF CellVMinMod:u16 "
    "CellVAvg:u16:CellV_SF ModTmpMax:i16:ModTmp_SF ModTmpMaxMod:u16 ModTmpMin:i16:ModTmp_SF ModTmpMinMod:u16 "
    "ModTmpAvg:i16:ModTmp_SF Pad1:pad ConSt:b32 Evt1:b32 Evt2:b32 EvtVnd1:b32 EvtVnd2:b32 SetEna:e16 "
    "SetCon:e16 SoC_SF:sf SoH_SF:sf DoD_SF:sf A_SF:sf V_SF:sf CellV_SF:sf ModTmp_SF:sf Pad2:pad Pad3:pad "
    "Pad4:pad"
)
_M804_MODULE = (
    "ModNCell:u16 ModSoC:u16:SoC_SF ModSoH:u16:SoH_SF ModCellVMax:u16:CellV_SF ModCellVMaxCell:u16 "
    "ModCellVMin:u16:CellV_SF ModCellVMinCell:u16 ModCellVAvg:u16:CellV_SF ModCellTmpMax:i16:ModTmp_SF "
    "ModCellTmpMaxCell:u16 ModCellTmpMin:i16:ModTmp_SF ModCellTmpMinCell:u16 ModCellTmpAvg:i16:ModTmp_SF "
    "Pad5:pad Pad6:pad Pad7:pad"
)
_M805 = (
    "StrIdx:u16 ModIdx:u16 NCell:u16 SoC:u16:SoC_SF DoD:u16:DoD_SF SoH:u16:SoH_SF NCyc:u32 V:u16:V_SF "
    "CellVMax:u16:CellV_SF CellVMaxCell:u16 CellVMin:u16:CellV_SF CellVMinCell:u16 CellVAvg:u16:CellV_SF "
    "CellTmpMax:i16:Tmp_SF CellTmpMaxCell:u16 CellTmpMin:i16:Tmp_SF CellTmpMinCell:u16 CellTmpAvg:i16:Tmp_SF "
    "NCellBal:u16 SN:s16 SoC_SF:sf SoH_SF:sf DoD_SF:sf V_SF:sf CellV_SF:sf Tmp_SF:sf"
)
_M805_CELL = "CellV:u16:CellV_SF CellTmp:i16:Tmp_SF CellSt:b32"

EVT1_BITS = {
    0: "COMMUNICATION_ERROR",
    1: "OVER_TEMP_ALARM",
    2: "OVER_TEMP_WARNING",
    3: "UNDER_TEMP_ALARM",
    4: "UNDER_TEMP_WARNING",
    5: "OVER_CHARGE_CURRENT_ALARM",
    6: "OVER_CHARGE_CURRENT_WARNING",
    7: "OVER_DISCHARGE_CURRENT_ALARM",
    8: "OVER_DISCHARGE_CURRENT_WARNING",
    9: "OVER_VOLT_ALARM",
    10: "OVER_VOLT_WARNING",
    11: "UNDER_VOLT_ALARM",
    12: "UNDER_VOLT_WARNING",
    13: "UNDER_SOC_MIN_ALARM",
    14: "UNDER_SOC_MIN_WARNING",
    15: "OVER_SOC_MAX_ALARM",
    16: "OVER_SOC_MAX_WARNING",
    17: "VOLTAGE_IMBALANCE_WARNING",
    18: "TEMPERATURE_IMBALANCE_ALARM",
    19: "TEMPERATURE_IMBALANCE_WARNING",
    20: "CONTACTOR_ERROR",
    21: "FAN_ERROR",
    22: "GROUND_FAULT",
    23: "OPEN_DOOR_ERROR",
    24: "CURRENT_IMBALANCE_WARNING",
    25: "OTHER_ALARM",
    26: "OTHER_WARNING",
    28: "CONFIGURATION_ALARM",
    29: "CONFIGURATION_WARNING",
}
STATES = {
    1: "DISCONNECTED",
    2: "INITIALIZING",
    3: "CONNECTED",
    4: "STANDBY",
    5: "SOC_PROTECTION",
    6: "SUSPENDING",
    99: "FAULT",
}
CHA_ST = {1: "OFF", 2: "EMPTY", 3: "DISCHARGING", 4: "CHARGING", 5: "FULL", 6: "HOLDING", 7: "TESTING"}
SETOP_CONNECT, SETOP_DISCONNECT = 1, 2
_SIZES = {"u16": 1, "i16": 1, "e16": 1, "b16": 1, "sf": 1, "pad": 1, "u32": 2, "b32": 2}


@dataclass(frozen=True)
class Point:
    name: str
    kind: str
    offset: int  # registers after ID and L
    size: int
    sf: str | None


def _compile(spec: str, start: int = 0) -> tuple[tuple[Point, ...], int]:
    points, off = [], start
    for item in spec.split():
        name, kind, *sf = item.split(":")
        size = int(kind[1:]) if kind.startswith("s") and kind != "sf" else _SIZES[kind]
        points.append(Point(name, kind, off, size, sf[0] if sf else None))
        off += size
    return tuple(points), off - start


# model id -> (fixed points, fixed length, repeating points, repeating length)
MODELS: dict[int, tuple[tuple[Point, ...], int, tuple[Point, ...], int]] = {}
for _mid, _fixed, _rep in (
    (1, _M1, ""),
    (802, _M802, ""),
    (803, _M803, _M803_STRING),
    (804, _M804, _M804_MODULE),
    (805, _M805, _M805_CELL),
):
    _fp, _fl = _compile(_fixed)
    _rp, _rl = _compile(_rep) if _rep else ((), 0)
    MODELS[_mid] = (_fp, _fl, _rp, _rl)


def _raw(p: Point, regs: list[int], base: int) -> Any:
    """One point's raw value (signed where the type is), None when unimplemented."""
    o = base + p.offset
    k = p.kind
    if k in ("u16", "e16", "b16"):
        r = regs[o]
        return None if r == 0xFFFF else r
    if k in ("i16", "sf"):
        r = regs[o]
        return None if r == 0x8000 else (r - 0x10000 if r & 0x8000 else r)
    if k in ("u32", "b32"):
        r = (regs[o] << 16) | regs[o + 1]
        return None if r == 0xFFFFFFFF else r
    if k == "pad":
        return None
    data = b"".join(v.to_bytes(2, "big") for v in regs[o : o + p.size])
    return data.split(b"\0", 1)[0].decode("latin-1").strip()


def _decode_group(points: tuple[Point, ...], regs: list[int], base: int, sfs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in points:
        if p.kind == "pad" or p.kind == "sf":
            continue
        v = _raw(p, regs, base)
        if p.sf is not None and v is not None:
            sf = sfs.get(p.sf)
            v = None if sf is None else (v * 10.0**sf if sf else float(v))
        out[p.name] = v
    return out


def decode_model(model_id: int, regs: list[int]) -> dict[str, Any]:
    """Registers after ID and L -> {point: scaled value or None, 'SFs': {...}, 'groups': [...]}."""
    fixed, flen, rep, rlen = MODELS[model_id]
    sfs = {p.name: _raw(p, regs, 0) for p in fixed if p.kind == "sf"}
    out = _decode_group(fixed, regs, 0, sfs)
    out["SFs"] = sfs
    if rlen:
        n = (len(regs) - flen) // rlen
        out["groups"] = [_decode_group(rep, regs, flen + i * rlen, sfs) for i in range(n)]
    return out


def encode_model(model_id: int, values: dict[str, Any], groups: list[dict[str, Any]] | None = None) -> list[int]:
    """Inverse of decode_model for simulators: missing/None points get the unimplemented marker."""
    fixed, flen, rep, rlen = MODELS[model_id]
    groups = groups or []
    regs = [0] * (flen + rlen * len(groups))
    sfs = {p.name: values.get(p.name) for p in fixed if p.kind == "sf"}

    def put(points: tuple[Point, ...], vals: dict[str, Any], base: int) -> None:
        for p in points:
            o = base + p.offset
            v = vals.get(p.name)
            if p.kind == "pad":
                regs[o] = 0x8000
            elif p.kind.startswith("s") and p.kind != "sf":
                data = str(v or "").encode("latin-1")[: 2 * p.size].ljust(2 * p.size, b"\0")
                regs[o : o + p.size] = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
            elif v is None or (p.sf is not None and sfs.get(p.sf) is None):
                marker = {"i16": 0x8000, "sf": 0x8000, "u32": 0xFFFFFFFF, "b32": 0xFFFFFFFF}.get(p.kind, 0xFFFF)
                if p.size == 2:
                    regs[o : o + 2] = [marker >> 16, marker & 0xFFFF]
                else:
                    regs[o] = marker
            else:
                x = round(v / 10.0 ** sfs[p.sf]) if p.sf is not None else int(v)
                if p.size == 2:
                    x = max(0, min(0xFFFFFFFE, x))
                    regs[o : o + 2] = [x >> 16, x & 0xFFFF]
                elif p.kind in ("i16", "sf"):
                    regs[o] = max(-0x7FFF, min(0x7FFF, x)) & 0xFFFF
                else:
                    regs[o] = max(0, min(0xFFFE, x))

    put(fixed, values, 0)
    for i, g in enumerate(groups):
        put(rep, g, flen + i * rlen)
    return regs


def point_offset(model_id: int, name: str) -> int:
    """Register offset of a fixed point from the model's ID register (ID and L included)."""
    for p in MODELS[model_id][0]:
        if p.name == name:
            return p.offset + 2
    raise KeyError(f"model {model_id} has no point {name!r}")


def _q(value: float | None, unit: str) -> pint.Quantity:
    """Quantity, NaN for a point the BMS does not implement (never a made-up number)."""
    return Q_(float("nan") if value is None else value, unit)


class SunSpecBms(BmsLink, FaultReset, BmsHistory, ClockAware):
    """BMS reached over SunSpec Modbus; discovery at connect, then block reads per model."""

    SIMULATOR = "instruments.sim.modbus_sunspec:serve"
    safe_state_order = 40

    def __init__(
        self,
        resource: str,
        *,
        name: str = "bms_modbus",
        timeout: pint.Quantity = Q_(1, "s"),
        device_id: int = 1,
        base_addresses: list[int] | tuple[int, ...] = BASE_ADDRESSES,
        open_timeout: str = "2 s",
        poll: str = "0.05 s",
    ) -> None:
        super().__init__(name)
        self.resource = resource
        self.open_timeout_s = float(Q_(open_timeout).to("s").magnitude)
        self.poll_s = float(Q_(poll).to("s").magnitude)
        self.sleep: Callable[[float], None] = time.sleep
        self.bus = ModbusClient(
            resource, name=name, timeout_s=float(Q_(timeout).to("s").magnitude), device_id=device_id, word_order="big"
        )
        try:
            self.base = self._find_base(tuple(int(b) for b in base_addresses))
            self.models: dict[int, list[tuple[int, int]]] = self._walk()
            for required in (1, 802):
                if required not in self.models:
                    raise InstrumentError(
                        name, f"SunSpec model {required} not found; models present: {sorted(self.models)}"
                    )
            self.common = decode_model(1, self.read_model_registers(1))
        except Exception:
            self.bus.close()
            raise

    # -- discovery ---------------------------------------------------------------------------
    def _find_base(self, bases: tuple[int, ...]) -> int:
        seen = []
        for base in bases:
            try:
                regs = self.bus.read_holding(base, 2)
            except ModbusExceptionError as exc:
                seen.append(f"{base}: exception {exc.code}")
                continue
            if regs == SUNS:
                return base
            seen.append(f"{base}: {regs[0]:04x} {regs[1]:04x}")
        raise InstrumentError(self.name, "no SunSpec marker 'SunS' found", command="discovery", reply="; ".join(seen))

    def _walk(self) -> dict[int, list[tuple[int, int]]]:
        models: dict[int, list[tuple[int, int]]] = {}
        addr = self.base + 2
        for _ in range(256):  # bounded walk: a device with more models than this is broken
            mid, length = self.bus.read_holding(addr, 2)
            if mid == 0xFFFF:
                return models
            models.setdefault(mid, []).append((addr, length))
            addr += length + 2
            if addr > 0xFFFF:
                break
        raise InstrumentError(self.name, "SunSpec model chain has no end model (0xFFFF)", command="discovery")

    def read_model_registers(self, model_id: int, index: int = 0) -> list[int]:
        """The L registers after ID and L of one model instance (chunked reads)."""
        try:
            addr, length = self.models[model_id][index]
        except (KeyError, IndexError):
            raise InstrumentError(
                self.name, f"SunSpec model {model_id}[{index}] not present; models: {sorted(self.models)}"
            ) from None
        return self.bus.read_holding(addr + 2, length)

    def read_model(self, model_id: int, index: int = 0) -> dict[str, Any]:
        """Decoded, scaled points of one model instance (floats/ints/None)."""
        if model_id not in MODELS:
            raise InstrumentError(self.name, f"SunSpec model {model_id} is not supported by this driver")
        return decode_model(model_id, self.read_model_registers(model_id, index))

    def _write_point(self, model_id: int, point: str, value: int) -> None:
        addr = self.models[model_id][0][0] + point_offset(model_id, point)
        self.bus.write_register(addr, value)

    # -- identity / lifecycle ----------------------------------------------------------------
    def identity(self) -> str:
        c = self.common
        return ",".join(str(c.get(k) or "") for k in ("Mn", "Md", "SN", "Vr"))

    def close(self) -> None:
        self.bus.close()

    def attach_clock(self, clock: Any) -> None:
        """Wait through `clock.sleep` (virtual time in simulation) instead of time.sleep."""
        self.sleep = lambda s: clock.sleep(Q_(s, "s"))

    def safe_state(self) -> str:
        """SetOp DISCONNECT, then poll until State and the contactor aux say open (or raise)."""
        st = self._set_op("standby")
        return f"contactors open (SetOp DISCONNECT; State {st.state}, contactor aux open)"

    def _set_op(self, state: str) -> BmsStatus:
        """Write SetOp and poll (driver time) until the BMS confirms it: for 'standby' State not
        CONNECTED and the contactor aux open, for 'charge'/'discharge' the contactor aux closed.
        A BMS that does not confirm within `open_timeout` raises, naming what it reported."""
        closing = state != "standby"
        value = SETOP_CONNECT if closing else SETOP_DISCONNECT
        self._write_point(802, "SetOp", value)

        def confirmed(st: BmsStatus) -> bool:
            return st.contactor_closed if closing else (not st.contactor_closed and st.state != "CONNECTED")

        st = self.status()
        for _ in range(max(1, int(self.open_timeout_s / self.poll_s) + 1)):
            if confirmed(st):
                return st
            self.sleep(self.poll_s)
            st = self.status()
        if confirmed(st):
            return st
        raise InstrumentTimeout(
            self.name,
            f"contactor still {'open' if closing else 'closed'} {self.open_timeout_s:g} s after SetOp "
            f"{'CONNECT' if closing else 'DISCONNECT'}",
            command=f"SetOp={value}",
            reply=f"State {st.state}, contactor_closed={st.contactor_closed}",
        )

    # -- capability ----------------------------------------------------------------------------
    def status(self) -> BmsStatus:
        b = self.read_model(802)
        bank = self.read_model(803) if 803 in self.models else {}
        evt1 = b.get("Evt1") or 0
        alarms = {name: bool(evt1 >> bit & 1) for bit, name in EVT1_BITS.items()}
        state = STATES.get(b.get("State"), f"UNKNOWN({b.get('State')})")
        contactor = state == "CONNECTED"
        strings = bank.get("groups") or []
        if strings and strings[0].get("StrConSt") is not None:
            contactor = bool(strings[0]["StrConSt"] & 1)  # the aux contact, not the commanded state
        soh = b.get("SoH")
        return BmsStatus(
            state=state,
            contactor_closed=contactor,
            pack_voltage=_q(b.get("V"), "V"),
            pack_current=_q(b.get("A"), "A"),
            soc=_q(b.get("SoC"), "percent"),
            cell_voltage_min=_q(b.get("CellVMin"), "V"),
            cell_voltage_max=_q(b.get("CellVMax"), "V"),
            cell_temperature_min=_q(bank.get("ModTmpMin"), "degC"),
            cell_temperature_max=_q(bank.get("ModTmpMax"), "degC"),
            max_charge_current=_q(b.get("AChaMax"), "A"),
            max_discharge_current=_q(b.get("ADisChaMax"), "A"),
            alarms=alarms,
            soh=None if soh is None else Q_(soh, "percent"),
            timestamp_s=time.monotonic(),
        )

    def charge_status(self) -> str:
        return CHA_ST.get(self.read_model(802).get("ChaSt"), "UNKNOWN")

    def request_state(self, state: str) -> None:
        """SetOp CONNECT ('charge', 'discharge') or DISCONNECT ('standby'), confirmed by the contactor aux."""
        s = str(state).strip().lower()
        if s not in ("standby", "charge", "discharge"):
            raise InstrumentRangeError(self.name, f"state must be 'standby', 'charge' or 'discharge', got {state!r}")
        self._set_op(s)

    def reset_faults(self) -> None:
        """AlmRst = 1: the BMS clears latched alarms whose condition is gone."""
        self._write_point(802, "AlmRst", 1)

    def history(self) -> dict[str, Any]:
        """What SunSpec 802 keeps of the battery's past: cycle count (NCyc), state of health and
        the ratings it reports. Points the BMS leaves unimplemented are left out."""
        b = self.read_model(802)
        out: dict[str, Any] = {"source": f"BMS (SunSpec model 802, {self.identity()})"}
        if b.get("NCyc") is not None:
            out["cycle_count"] = int(b["NCyc"])
        if b.get("SoH") is not None:
            out["soh"] = Q_(float(b["SoH"]), "percent")
        if b.get("AHRtg") is not None:
            out["rated_capacity"] = Q_(float(b["AHRtg"]), "A*h")
        if b.get("WHRtg") is not None:
            out["rated_energy"] = Q_(float(b["WHRtg"]), "W*h")
        return out

    def _cells(self, point: str, unit: str) -> list[pint.Quantity]:
        if 805 not in self.models:
            raise InstrumentError(
                self.name,
                "BMS publishes no per-cell data (no SunSpec model 805); model 804 carries module min/max/avg only",
            )
        modules = [self.read_model(805, i) for i in range(len(self.models[805]))]
        modules.sort(key=lambda m: (m.get("StrIdx") or 0, m.get("ModIdx") or 0))
        return [_q(cell.get(point), unit) for m in modules for cell in m.get("groups", [])]

    def cell_voltages(self) -> list[pint.Quantity]:
        return self._cells("CellV", "V")

    def cell_temperatures(self) -> list[pint.Quantity]:
        return self._cells("CellTmp", "degC")
