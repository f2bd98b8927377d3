"""An installed BESS through its site controller over SunSpec Modbus TCP (pysunspec2 models).

Models used: 1 (identity), 701 (AC measurement at the PCS), 702 (ratings, settable limits),
704 (AC controls), 713 (storage capacity), 714 (DC measurement, one port per block), 802 per
block (803/804 where offered) and the vendor model 64901 (alarms by name, protective settings,
firmware; its SunSpec JSON definition ships in instruments/sunspec_models, and a station may name
more definition directories in `model_defs`). Reads and writes go through
`instruments.sunspec_link.SunSpecLink` (one held connection, bounded journalled retries,
FC06 -> FC16 fall-back, every write read back).

Power: `set_active_power` uses 704 WSet (WSetMod WATTS) where implemented, else WSetPct
(W_MAX_PCT of 702 WMax) - the 1547 profile does not require either - and raises
`PointNotImplemented` naming both when neither is. Signs: + = export/discharge.
Safe state: WSetEna DISABLED and WSet 0, then 802 SetOp DISCONNECT on every block, confirmed by
every block's contactor (803 StrConSt, else 802 State) reading open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import (
    BlockStatus,
    CellScan,
    PointNotImplemented,
    SiteController,
    SitePoint,
    SiteStatus,
)
from instruments.errors import InstrumentError
from instruments.sunspec_link import SunSpecLink, regs_to_bytes
from instruments.sunspec_point import bit_names, locate, parse_name, symbols, to_raw, to_site_point
from instruments.transports.modbus import ModbusExceptionError

VENDOR = 64901
SETOP_CONNECT, SETOP_DISCONNECT = 1, 2


def _nan(unit: str) -> pint.Quantity:
    return Q_(float("nan"), unit)


class SunSpecSite(SiteController):
    SIMULATOR = "instruments.sim.site.station:serve_controller"

    def __init__(
        self,
        resource: str,
        *,
        name: str = "site",
        timeout: pint.Quantity = Q_(1, "s"),
        device_id: int = 1,
        retries: int = 2,
        write_function: int | str = "auto",
        model_defs: list[str] | None = None,
        probe_point: str = "704.WRmp",
        open_timeout: str = "10 s",
        poll: str = "0.1 s",
        vendor_model: int = VENDOR,
    ) -> None:
        super().__init__(name)
        self.resource = resource
        self.probe_point = probe_point
        self.vendor = int(vendor_model)
        self.open_timeout_s = float(Q_(open_timeout).to("s").magnitude)
        self.poll_s = float(Q_(poll).to("s").magnitude)
        self.sleep: Callable[[float], None] = time.sleep
        self._link_args = {
            "name": name,
            "timeout_s": float(Q_(timeout).to("s").magnitude),
            "device_id": device_id,
            "retries": retries,
            "write_function": write_function,
            "model_defs": model_defs,
        }
        self.link = SunSpecLink(resource, **self._link_args)
        self._power_mode = ""
        self._writable: set[str] = set()  # points found implemented (their scale factor read) on this link
        try:
            self.scan_time_s = self.link.scan()
            if 1 not in self.link.model_counts():
                raise InstrumentError(name, "no SunSpec common model (1) found", command="scan")
            self.common = self.link.read_model(1)
        except Exception:
            self.link.close()
            raise

    # -- plumbing ------------------------------------------------------------------------------------
    def attach_clock(self, clock: Any) -> None:
        self.sleep = lambda s: clock.sleep(Q_(s, "s"))

    def attach_journal(self, hook: Callable[[str, str, dict[str, Any]], None]) -> None:
        """Retries, FC06 fall-back and re-connections are journalled through `hook(kind, message, data)`."""
        self.link.attach_journal(hook)

    def close(self) -> None:
        self.link.close()

    def _point(self, name: str) -> tuple[Any, Any]:
        mid, inst, parts = parse_name(name)
        model = self.link.model(mid, inst)
        try:
            return model, locate(model, parts, name)
        except KeyError as exc:
            raise InstrumentError(self.name, str(exc).strip("'\"")) from None

    def _refresh(self, model: Any, points: list[Any]) -> None:
        """Read just the registers spanning `points` and their scale factors (one request), else the model."""
        span = list(points)
        for p in points:
            if p.sf_required and p.sf:
                sf = p.group.points.get(p.sf) or model.points.get(p.sf)
                if sf is not None:
                    span.append(sf)
        lo = min(p.offset for p in span)
        hi = max(p.offset + p.len for p in span)
        if hi - lo > 125:
            model.read()
            return
        data = regs_to_bytes(self.link.read(model.model_addr + lo, hi - lo))
        for p in sorted(span, key=lambda p: p.offset):
            p.set_mb(data[2 * (p.offset - lo) : 2 * (p.offset - lo + p.len)])

    def read_point(self, name: str) -> SitePoint:
        model, point = self._point(name)
        self._refresh(model, [point])
        return to_site_point(name, point)

    def _read_many(self, model_id: int, names: list[str], instance: int = 1) -> dict[str, SitePoint]:
        model = self.link.model(model_id, instance)
        pts = {n: model.points[n] for n in names}
        self._refresh(model, list(pts.values()))
        return {n: to_site_point(f"{model_id}.{n}", p) for n, p in pts.items()}

    def write_point(self, name: str, value: pint.Quantity | int | str, *, verify: bool = True) -> SitePoint:
        model, point = self._point(name)
        if point.pdef.get("access") != "RW":
            raise InstrumentError(self.name, f"{name} is read-only in SunSpec model {model.model_id}")
        if name not in self._writable:  # first write of this point: implemented? scale factor?
            self._refresh(model, [point])
            if point.value is None and point.pdef["type"] not in ("string",):
                raise PointNotImplemented(self.name, name, "reads 'not implemented' before the write")
            self._writable.add(name)
        try:
            raw = to_raw(point, value)
            if point.sf_required:
                point.cvalue = raw
            else:
                point.value = int(raw) if not isinstance(raw, str) else raw
            point.write()  # through the link: FC06/FC16, register read-back (MOD-3)
        except ValueError as exc:
            raise InstrumentError(self.name, f"cannot write {value!r} to {name}: {exc}") from None
        return to_site_point(name, point)  # the link compared the registers read back (MOD-3)

    def _trigger(self, name: str, value: int = 1) -> None:
        """Write a command point that reads back 0 (AlmRst): no read-back comparison."""
        model, point = self._point(name)
        self._refresh(model, [point])
        point.value = value
        data = point.info.to_data(point.value, int(point.len) * 2)
        self.link.write(
            model.model_addr + point.offset,
            [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)],
            verify=False,
        )

    def _implemented(self, name: str) -> bool:
        try:
            return self.read_point(name).implemented
        except InstrumentError:
            return False

    # -- identity -----------------------------------------------------------------------------------
    def identity(self) -> str:
        c = {n: self.common.points[n].value for n in ("Mn", "Md", "SN", "Vr")}
        return f"{c['Mn']} {c['Md']} SN {c['SN']} firmware {c['Vr']}"

    def models(self) -> dict[int, int]:
        return self.link.model_counts()

    def nameplate(self) -> dict[str, Any]:
        r = self._read_many(702, ["WMaxRtg", "VAMaxRtg", "WChaRteMaxRtg", "WDisChaRteMaxRtg"])
        out: dict[str, Any] = {k: (v.value if v.implemented else None) for k, v in r.items()}
        out["WHRtg"] = self.read_point("713.WHRtg").value
        out["blocks"] = self.models().get(802, 0)
        return out

    def firmware(self) -> dict[str, str]:
        out = {"controller": str(self.common.points["Vr"].value or "")}
        if self.vendor in self.models():
            m = self.link.read_model(self.vendor)
            if "PcsVr" in m.points:
                out["pcs"] = str(m.points["PcsVr"].value or "")
            for i, g in enumerate(m.groups.get("Blk", []) or []):
                out[f"bms[{i + 1}]"] = str(g.points["BmsVr"].value or "")
        return out

    # -- status -------------------------------------------------------------------------------------
    def status(self) -> SiteStatus:
        m701 = self._read_many(701, ["InvSt", "W", "Var"])
        m713 = self.link.read_model(713)
        m714 = self._read_many(714, ["DCW"])
        state, alarms = "UNKNOWN", []
        if self.vendor in self.models():
            v = self.link.read_model(self.vendor)
            st = v.points["St"].value
            state = "NOT IMPLEMENTED" if st is None else symbols(v.points["St"]).get(st, f"UNKNOWN({st})")
            alarms = bit_names(v.points["Alm"], v.points["Alm"].value)

        def q(p: SitePoint, unit: str) -> pint.Quantity:
            return p.value if p.implemented and isinstance(p.value, pint.Quantity) else _nan(unit)

        pts = {n: to_site_point(f"713.{n}", m713.points[n]) for n in ("SoC", "SoH", "WHAvail", "Sta")}
        soh = pts["SoH"].value if pts["SoH"].implemented else None
        return SiteStatus(
            state=state,
            inverter_state=m701["InvSt"].symbol or "UNKNOWN",
            active_power=q(m701["W"], "W"),
            reactive_power=q(m701["Var"], "VA"),
            soc=q(pts["SoC"], "percent"),
            soh=soh,
            energy_available=q(pts["WHAvail"], "W*h"),
            storage_status=pts["Sta"].symbol or "UNKNOWN",
            dc_power=q(m714["DCW"], "W"),
            alarms=alarms,
            timestamp_s=time.monotonic(),
        )

    def blocks(self) -> list[BlockStatus]:
        counts = self.models()
        vendor = self.link.read_model(self.vendor) if self.vendor in counts else None
        out = []
        for i in range(1, counts.get(802, 0) + 1):
            b = self.link.read_model(802, i)
            p = {
                n: to_site_point(f"802[{i}].{n}", b.points[n])
                for n in (
                    "State",
                    "SoC",
                    "SoH",
                    "V",
                    "A",
                    "W",
                    "WHRtg",
                    "WChaRteMax",
                    "WDisChaRteMax",
                    "CellVMax",
                    "CellVMin",
                    "Evt1",
                )
            }

            def q(n: str, unit: str, p: dict[str, SitePoint] = p) -> pint.Quantity:
                return p[n].value if p[n].implemented and isinstance(p[n].value, pint.Quantity) else _nan(unit)

            state = p["State"].symbol or "UNKNOWN"
            closed = state == "CONNECTED"
            t_max = t_min = None
            if counts.get(803, 0) >= i:
                bank = self.link.read_model(803, i)
                s = bank.groups.get("string") or []
                if s and s[0].points["StrConSt"].value is not None:
                    closed = bool(s[0].points["StrConSt"].value & 1)  # the auxiliary contact
                tp = to_site_point("803.ModTmpMax", bank.points["ModTmpMax"])
                tn = to_site_point("803.ModTmpMin", bank.points["ModTmpMin"])
                t_max = tp.value if tp.implemented else None
                t_min = tn.value if tn.implemented else None
            avail, alarms = "", bit_names(b.points["Evt1"], b.points["Evt1"].value)
            if vendor is not None and len(vendor.groups.get("Blk", []) or []) >= i:
                g = vendor.groups["Blk"][i - 1]
                avail = symbols(g.points["BlkSt"]).get(g.points["BlkSt"].value or 0, "")
                alarms += bit_names(g.points["BlkAlm"], g.points["BlkAlm"].value)
            out.append(
                BlockStatus(
                    index=i,
                    state=state,
                    contactor_closed=closed,
                    soc=q("SoC", "percent"),
                    soh=p["SoH"].value if p["SoH"].implemented else None,
                    voltage=q("V", "V"),
                    current=q("A", "A"),
                    power=q("W", "W"),
                    energy_rating=q("WHRtg", "W*h"),
                    max_charge_power=q("WChaRteMax", "W"),
                    max_discharge_power=q("WDisChaRteMax", "W"),
                    cell_voltage_max=q("CellVMax", "V"),
                    cell_voltage_min=q("CellVMin", "V"),
                    cell_temperature_max=t_max,
                    cell_temperature_min=t_min,
                    availability=avail,
                    alarms=alarms,
                )
            )
        return out

    def cell_scan(self) -> CellScan:
        """Every block's 802, 803 and 804 (module cell extremes) read once; wall time of the link."""
        counts = self.models()
        t0 = time.perf_counter()
        regs = 0
        blocks = []
        for i in range(1, counts.get(802, 0) + 1):
            entry: dict[str, Any] = {"block": i}
            for mid in (802, 803, 804):
                if counts.get(mid, 0) >= i:
                    m = self.link.read_model(mid, i)
                    regs += int(m.len)
            if counts.get(804, 0) >= i:
                m = self.link.model(804, i)
                mods = m.groups.get("lithium_ion_string_module") or []
                entry["cell_voltage_max"] = [g.points["ModCellVMax"].cvalue for g in mods]
                entry["cell_voltage_min"] = [g.points["ModCellVMin"].cvalue for g in mods]
                entry["cell_temperature_max"] = [g.points["ModCellTmpMax"].cvalue for g in mods]
            blocks.append(entry)
        return CellScan(elapsed=Q_(time.perf_counter() - t0, "s"), blocks=blocks, registers=regs)

    def alarms(self) -> list[str]:
        out = list(self.status().alarms)
        for b in self.blocks():
            out += [f"block[{b.index}].{a}" for a in b.alarms]
        return out

    def reset_alarms(self) -> None:
        self._trigger(f"{self.vendor}.AlmRst", 1)

    # -- commands -----------------------------------------------------------------------------------
    def enable(self, on: bool) -> None:
        n = self.models().get(802, 0)
        if on:
            for i in range(1, n + 1):
                self.write_point(f"802[{i}].SetOp" if i > 1 else "802.SetOp", SETOP_CONNECT)
            self.write_point("704.WSetEna", 1)
        else:
            self.set_active_power(Q_(0, "W"))
            self.write_point("704.WSetEna", 0)
            for i in range(1, n + 1):
                self.write_point(f"802[{i}].SetOp" if i > 1 else "802.SetOp", SETOP_DISCONNECT)

    def set_active_power(self, power: pint.Quantity) -> None:
        w = float(power.to("W").magnitude)
        if self._power_mode == "WSet":
            self.write_point("704.WSet", Q_(round(w), "W"))
            return
        if self._implemented("704.WSet"):
            if self.read_point("704.WSetMod").raw != 1:
                self.write_point("704.WSetMod", 1)
            self.write_point("704.WSet", Q_(round(w), "W"))
            self._power_mode = "WSet"  # checked once per connection; the write's read-back keeps it honest
            return
        if self._implemented("704.WSetPct"):
            wmax = self.read_point("702.WMax")
            if not wmax.implemented:
                raise PointNotImplemented(self.name, "702.WMax", "needed to command 704.WSetPct")
            if self.read_point("704.WSetMod").raw != 0:
                self.write_point("704.WSetMod", 0)
            self.write_point("704.WSetPct", Q_(100.0 * w / float(wmax.value.to("W").magnitude), "percent"))
            return
        raise PointNotImplemented(self.name, "704.WSet", "and 704.WSetPct: no active-power setpoint")

    def set_reactive_power(self, power: pint.Quantity | None) -> None:
        if power is None:
            self.write_point("704.VarSetEna", 0)
            return
        if not self._implemented("704.VarSet"):
            raise PointNotImplemented(self.name, "704.VarSet", "reactive power setpoint")
        self.write_point("704.VarSetMod", 4)
        self.write_point("704.VarSet", power.to("VA"))
        self.write_point("704.VarSetEna", 1)

    def probe_write_access(self, source_address: str) -> str:
        """Write the probe point's own value back from `source_address` on a second connection.

        The held connection is closed for the probe (a one-client controller would refuse the
        second connection otherwise) and re-opened after it, both journalled."""
        model, point = self._point(self.probe_point)
        self._refresh(model, [point])
        addr, n = model.model_addr + point.offset, int(point.len)
        self.link.event("link", f"closing the held connection to probe writes from {source_address}")
        self.link.close()
        result = ""
        try:
            probe = SunSpecLink(
                self.resource,
                **{**self._link_args, "retries": 0, "write_function": 16, "name": f"{self.name}@{source_address}"},
                source_address=source_address,
            )
            try:
                regs = probe.read(addr, n)
                try:
                    probe.write(addr, regs, verify=False)
                    result = f"accepted: wrote {self.probe_point} (its own value) from {source_address}"
                except ModbusExceptionError as exc:
                    result = f"refused: {exc}"
            finally:
                probe.close()
        except InstrumentError as exc:
            result = f"refused: {exc}"
        finally:
            self.link.reopen()
        self.link.event(
            "write_access",
            f"write probe from {source_address}: {result}",
            {"source_address": source_address, "point": self.probe_point, "result": result},
        )
        return result

    def link_statistics(self) -> dict[str, int]:
        return dict(self.link.stats)

    # -- safe state ---------------------------------------------------------------------------------
    def safe_state(self) -> str:
        """Zero power, setpoint disabled, every block disconnected; confirmed by the contactors."""
        self.enable(False)
        polls = max(1, int(self.open_timeout_s / self.poll_s) + 1)
        for _ in range(polls):
            closed = [b.index for b in self.blocks() if b.contactor_closed]
            if not closed:
                return "power setpoint 0 W and disabled (704), every block disconnected (802 SetOp), contactors open"
            self.sleep(self.poll_s)
        raise InstrumentError(
            self.name,
            f"block(s) {closed} still connected {self.open_timeout_s:g} s after SetOp DISCONNECT",
            command="802 SetOp=2",
        )
