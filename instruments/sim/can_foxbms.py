"""Simulated foxBMS 2 BMS on CAN: the plant's BMS as a node on python-can's virtual bus.

Frames are encoded with the project DBC (`instruments/dbc/ess_bench_bms.dbc`, foxBMS layouts)
from plant values, in VIRTUAL time: the node is a SimClock listener, so it runs inside every
clock step while the clock holds `clock.lock`, after the plant listener has integrated that step
(SimulatedStation registers the plant first; tests must do the same).

Emission and the coalescing trade-off. Each cyclic message has a due time every DBC cycle
(multiplexed 0x250/0x260 send one page per `cycle / pages in the foxBMS layout`, i.e. 100 ms and
150 ms per page, round-robin over the pages this pack needs). At the end of a clock step every
message that fell due in that step is sent ONCE, with the plant state at the end of the step:

* steps no longer than the cycle (the real-time driver's 50 ms ticks, 100 ms waits while a
  driver polls) give exact-cycle emission, one frame per due time;
* a step spanning k cycles sends one frame (one full round of pages for mux messages) instead
  of k identical-in-spirit frames. A 4 h sleep with 1 s steps emits 14,400 frames per 100 ms
  message instead of 144,000, and the clock is not forced to step every 100 ms just for CAN.
  What is lost: intermediate values inside a long step (nobody could read them anyway: the
  plan was asleep) and frame counts/timing statistics over such a step (`stats` counts them as
  `coalesced`). A receiver judging staleness in virtual time still sees a fresh frame at every
  moment the plan can look, because the last frame of a step carries the step's end time.

Exact cycles (`exact_cycles(True)`, what high-rate capture asks for): the node registers a
periodic on the clock for each cycle period (re-anchoring its schedules at that moment), so the
clock stops at every due time and each frame is sent at its own due time with the plant state of
that moment: one frame per cycle, nothing coalesced, still deterministic in virtual time. Every
frame carries its virtual send time in `timestamp` (the virtual bus keeps sender timestamps), which
the driver hands to frame subscribers as the reception time. The cost: the plant integrates in
steps no longer than the shortest page period (100 ms) while exact cycles are on
(benchmarks/telemetry_sim_cost.py).

Requests (0x210) are drained from the node's own bus at the start of every step and applied to
the plant BMS (RequestBmsMode, ResetPersistentFlags, ActivateBalancing, SetBalancingThreshold).
Draining in the clock step instead of on a Notifier thread keeps runs deterministic: a request
sent before a `clock.sleep` is always applied at the start of that sleep. Comms loss (the
plant's `comms_loss` fault: `plant.comms_lost` or `bms.comms_ok` False) silences every cyclic message.

`serve(plant, role, clock)` returns the running node; its `.resource` is "virtual:<channel>",
unique per station. `options.sim.resource = "socketcan:vcan0"` in the role puts it on a real
virtual CAN interface instead (for outside tools with `bench sim serve`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import can

from bench.units import Q_
from instruments.foxbms_protocol import load_dbc
from instruments.sim.virtual_can import SimVirtualBus
from instruments.transports.can_bus import open_bus, parse_resource

PAGES_IN_LAYOUT = {0x250: (54, 4), 0x260: (30, 6)}  # pages in the foxBMS layout, values per page
CYCLIC = (0x220, 0x230, 0x231, 0x232, 0x233, 0x235, 0x240, 0x250, 0x260)
_ids = itertools.count(1)
ENCODED_PER_MESSAGE = 256  # recent payloads kept encoded per message (bounded: the memo restarts when full)
EXACT_TOLERANCE_S = 1e-4  # the clock's periodic due times accumulate float error; frames keep exact stamps

OT_MSL = ("OvertemperatureChargeMslError", "OvertemperatureDischargeMslError")
UT_MSL = ("UndertemperatureChargeMslError", "UndertemperatureDischargeMslErro")
OT_MOL = ("OvertemperatureChargeMolWarning", "OvertemperatureDischargeMolWarni")
UT_MOL = ("UndertemperatureChargeMolWarning", "UndertemperatureDischargeMolWarn")


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if not x >= lo else (hi if x > hi else x)  # NaN -> lo


class _Schedule:
    __slots__ = ("frame_id", "message", "period_s", "t0", "k", "next_due", "pages", "per_page", "page", "cache", "keys")

    def __init__(self, message: Any, t0: float, n_values: int = 0) -> None:
        self.frame_id = message.frame_id
        self.message = message
        cycle_ms = float(message.cycle_time)
        self.pages = 1
        self.per_page = 0
        if message.frame_id in PAGES_IN_LAYOUT:
            layout_pages, self.per_page = PAGES_IN_LAYOUT[message.frame_id]
            cycle_ms /= layout_pages
            self.pages = max(1, min(layout_pages, -(-n_values // self.per_page)))
        self.period_s = cycle_ms / 1000.0
        self.t0 = t0
        self.k = 1  # due times are t0 + k * period (no drift from summing periods)
        self.next_due = t0 + self.period_s
        self.page = 0
        self.cache: dict[tuple[Any, ...], bytes] = {}  # recent (page, values) -> encoded payload
        self.keys: dict[int, list[tuple[int, str, str]]] = {}  # page -> (index, value signal, flag signal)


class SimFoxBmsCan:
    """One simulated BMS node; `start()` hooks it to the clock, `stop()` unhooks and closes."""

    def __init__(
        self, plant: Any, clock: Any, *, resource: str | None = None, dbc: str | None = None, strict: bool = False
    ) -> None:
        self.strict = strict
        self.plant = plant
        self.bms = plant.bms
        self.clock = clock
        self.resource = resource or f"virtual:essbench-bms-{next(_ids)}-{id(self):x}"
        self.db = load_dbc(dbc)
        res = parse_resource(self.resource, name="sim-bms")
        if res.interface == "virtual":  # the same python-can virtual channel, sent without a deep copy per frame
            self.bus = SimVirtualBus(channel=res.channel, preserve_timestamps=True, **res.kwargs)
        else:
            self.bus = open_bus(self.resource, name="sim-bms")
        self._direct = isinstance(self.bus, SimVirtualBus)  # frames go out without a Message to copy
        self.n_cells = int(self.bms.n)
        t0 = clock.now_s()
        self.schedules = [_Schedule(self.db.get_message_by_frame_id(i), t0, self.n_cells) for i in CYCLIC]
        self._request = self.db.get_message_by_frame_id(0x210)
        self.stats = {"sent": 0, "coalesced": 0, "suppressed": 0, "requests": 0, "bad_requests": 0, "send_errors": 0}
        self.last_request: dict[str, Any] | None = None
        self._listening = False
        self._exact: list[Any] = []  # clock periodic handles while exact cycles are on
        self._encoders = {
            0x220: self._bms_state,
            0x230: self._temps,
            0x231: self._volts,
            0x232: self._limits,
            0x233: self._p0,
            0x235: self._sox,
            0x240: self._string,
        }

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SimFoxBmsCan:
        self.clock.add_listener(self.on_step)
        self._listening = True
        return self

    def exact_cycles(self, on: bool = True) -> None:
        """Emit every cyclic frame at its own DBC due time (True) or coalesce per clock step (False)."""
        if on == bool(self._exact):
            return
        if not on:
            for handle in self._exact:
                self.clock.cancel(handle)
            self._exact = []
            return
        with self.clock.lock:
            now = self.clock.now_s()
            for sch in self.schedules:  # re-anchor so due times coincide with the clock's periodics
                sch.t0, sch.k = now, 1
                sch.next_due = now + sch.period_s
            periods: list[float] = []
            for p in sorted({round(s.period_s, 9) for s in self.schedules}):
                if not any(abs(p / q - round(p / q)) < 1e-9 for q in periods):
                    periods.append(p)
            self._exact = [self.clock.every(Q_(p, "s"), lambda _t: None, name=f"can-cycle-{p:g}s") for p in periods]

    @property
    def exact(self) -> bool:
        return bool(self._exact)

    def stop(self) -> None:
        self.exact_cycles(False)
        if self._listening:
            self.clock.remove_listener(self.on_step)
            self._listening = False
        self.bus.shutdown()

    # -- the clock step ----------------------------------------------------------------------
    def on_step(self, t: float, dt: float) -> None:
        """SimClock listener (clock.lock held): apply requests, then send what fell due by t."""
        self.drain_requests()
        silent = getattr(self.plant, "comms_lost", False) or not getattr(self.bms, "comms_ok", True)
        tol = EXACT_TOLERANCE_S if self._exact else 1e-9
        for sch in self.schedules:
            if t + tol < sch.next_due:
                continue
            due = int(math.floor((t + tol - sch.next_due) / sch.period_s)) + 1
            first_due = sch.next_due
            sch.k += due
            sch.next_due = sch.t0 + sch.k * sch.period_s
            frames = due if self._exact else min(due, sch.pages)
            self.stats["coalesced"] += due - frames
            if silent:
                self.stats["suppressed"] += frames
                continue
            for n in range(frames):
                # exact: each frame carries its own due time; coalesced: the step's end
                self._send(sch, first_due + n * sch.period_s if self._exact else t)

    def _send(self, sch: _Schedule, stamp: float) -> None:
        values = self._page(sch) if sch.per_page else self._encoders[sch.frame_id]()
        key = (sch.page, *values.values())  # each encoder builds its dict in a fixed key order
        data = sch.cache.get(key)  # values sent recently: skip the encode
        if data is None:
            # strict=False: every value is clipped to its signal's range above, and the range check
            # costs more than the encode itself (tests encode with strict=True to prove the clipping).
            data = sch.message.encode(values, scaling=True, strict=self.strict)
            if len(sch.cache) >= ENCODED_PER_MESSAGE:
                sch.cache.clear()
            sch.cache[key] = data
        try:
            if self._direct:
                self.bus.send_data_frame(sch.frame_id, data, stamp)
            else:
                self.bus.send(
                    can.Message(arbitration_id=sch.frame_id, data=data, is_extended_id=False, timestamp=stamp)
                )
            self.stats["sent"] += 1
        except can.CanError:
            self.stats["send_errors"] += 1
        if sch.per_page:
            sch.page = (sch.page + 1) % sch.pages

    def drain_requests(self) -> None:
        """Apply every 0x210 waiting on the node's bus (bounded by what is queued now)."""
        for _ in range(1000):
            msg = self.bus.recv(timeout=0.0)
            if msg is None:
                return
            if msg.arbitration_id != 0x210 or msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame:
                continue
            try:
                req = self._request.decode(msg.data, decode_choices=False, scaling=True)
            except Exception:  # a garbled request is ignored by a real BMS too
                self.stats["bad_requests"] += 1
                continue
            self.stats["requests"] += 1
            self.last_request = req
            self.apply_request(req)

    def apply_request(self, req: dict[str, Any]) -> None:
        mode = int(req["RequestBmsMode"])
        if mode not in (0, 1, 2):
            self.stats["bad_requests"] += 1
            return
        bms = self.bms
        if req.get("ResetPersistentFlags"):
            bms.clear_faults()
        threshold = int(req.get("SetBalancingThreshold", 0))
        bms.set_balancing(bool(req.get("ActivateBalancing", 0)), threshold / 1000.0 if threshold else None)
        bms.request_state(mode)

    # -- frame contents from the plant -------------------------------------------------------
    def _bms_state(self) -> dict[str, Any]:
        b = self.bms
        alarms, warnings = b.alarms, b.warnings
        err = any(alarms.values())
        closed = bool(b.contactor_closed)
        return {
            "NumberOfConnectedStrings": 1 if closed else 0,
            "BmsState": int(b.state),
            "BmsSubstate": 0,
            "CoolingState": 0,
            "HeaterState": 0,
            "InsulationMonitoring": 1,
            "SystemMonitoringError": 0,
            "EmergencyShutoff": int(b.state == 10),
            "GeneralError": int(err),
            "GeneralWarning": int(any(warnings.values())),
            "ChargingComplete": 0,
            "InsulationError": int(alarms.get("insulation", False)),
            "InterlockState": 0,
            "MainFuseBlown": 0,
            "BmsMasterPcbUndertemperatureErro": 0,
            "BmsMasterPcbOvertemperatureError": 0,
            "McuDieTemperatureError": 0,
            "PrechargeCurrentError": 0,
            "PrechargeVoltageError": int(alarms.get("precharge", False)),
            "Clamp30cError": 0,
            "NvramCrcError": 0,
            "AlertFlag": int(b.state == 10),
            "PackOvercurrentDischargeError": int(alarms.get("oc_discharge", False)),
            "BmsChargingFlag": int(b.state == 9),
            "PackOvercurrentChargeError": int(alarms.get("oc_charge", False)),
            "CanTimingError": int(alarms.get("comms_loss", False)),
            "BalancingAlgorithmState": int(b.balancing_allowed),
            "PhyAlive": 1,
            "PhyLinked": 1,
            "NumberOfDeactivatedStrings": 0,
            "InsulationResistance": _clip(round(b.insulation_resistance_ohm / 200e3) * 200.0, 0, 51000),
        }

    def _temps(self) -> dict[str, Any]:
        b = self.bms
        return {
            "SensorMinimumCellTemperature": 0,
            "SensorMaximumCellTemperature": 0,
            "ModuleMinimumCellTemperature": 0,
            "ModuleMaximumCellTemperature": 0,
            "StringMinimumCellTemperature": 0,
            "StringMaximumCellTemperature": 0,
            "MinimumCellTemperature": _clip(round(b.T_min), -128, 127),
            "MaximumCellTemperature": _clip(round(b.T_max), -128, 127),
        }

    def _volts(self) -> dict[str, Any]:
        b = self.bms
        return {
            "MinimumCellVoltageCellIndex": 0,
            "MaximumCellVoltageCellIndex": 0,
            "MinimumCellVoltageModuleIndex": 0,
            "MaximumCellVoltageModuleIndex": 0,
            "MinimumCellVoltageStringIndex": 0,
            "MaximumCellVoltageStringIndex": 0,
            "MaximumCellVoltage": _clip(round(b.v_max * 1000.0), -8192, 8191),
            "MinimumCellVoltage": _clip(round(b.v_min * 1000.0), -8192, 8191),
        }

    def _limits(self) -> dict[str, Any]:
        b = self.bms
        v = float(self.plant.pack.voltage_V)
        chem = b.chem
        return {
            "MaximumDischargeCurrent": _clip(round(b.max_discharge_current_A * 4) / 4, 0, 1023.75),
            "MaximumChargeCurrent": _clip(round(b.max_charge_current_A * 4) / 4, 0, 1023.75),
            "MaximumDischargePower": _clip(round(b.max_discharge_current_A * v / 100.0) / 10.0, 0, 409.5),
            "MaximumChargePower": _clip(round(b.max_charge_current_A * v / 100.0) / 10.0, 0, 409.5),
            "MaximumBatteryVoltage": _clip(round(chem.v_max_V * self.n_cells / 4) * 4.0, 0, 1020),
            "MinimumBatteryVoltage": _clip(round(chem.v_min_V * self.n_cells / 4) * 4.0, 0, 1020),
        }

    def _p0(self) -> dict[str, Any]:
        b = self.bms
        v = float(self.plant.pack.voltage_V)
        i = float(b.current_reported_A)
        return {
            "BatteryVoltage": _clip(round(v * 10) / 10, -1638.4, 1638.3),
            "BusVoltage": _clip(round(float(b.bus_voltage_V) * 10) / 10, -1638.4, 1638.3),
            "Power": _clip(round(v * i / 10.0) / 100.0, -655.36, 655.35),
            "Current": _clip(round(i * 100) / 100, -655.36, 655.35),
        }

    def _sox(self) -> dict[str, Any]:
        b = self.bms
        lo, hi = b.soc_min * 100.0, b.soc_max * 100.0
        energy_kWh = b.soc_mean * float(b.capacity_est_Ah.mean()) * b.chem.v_nom_V * self.n_cells / 1000.0
        return {
            "MinimumSoc": _clip(round(lo * 10) / 10, 0, 100),
            "MaximumSoc": _clip(round(hi * 10) / 10, 0, 100),
            "MinimumSoe": _clip(round(lo * 10) / 10, 0, 100),
            "MaximumSoe": _clip(round(hi * 10) / 10, 0, 100),
            "Soh": _clip(round(b.soh * 200) / 2, 0, 127.5),
            "Energy": _clip(round(energy_kWh * 10) / 10, 0, 6553.5),
        }

    def _string(self) -> dict[str, Any]:
        b = self.bms
        a, w = b.alarms, b.warnings
        charging = int(b.state) == 9
        out = {s.name: 0 for s in self.db.get_message_by_frame_id(0x240).signals}
        out.update(
            {
                "f_StringState_Mux": 0,
                "IsStringConnected": int(bool(b.contactor_closed)),
                "IsBalancingActive": int(bool(b.balancing.any())),
                "OvervoltageMslError": int(a.get("cell_ov", False)),
                "UndervoltageMslError": int(a.get("cell_uv", False)),
                OT_MSL[0 if charging else 1]: int(a.get("cell_ot", False)),
                UT_MSL[0 if charging else 1]: int(a.get("cell_ut", False)),
                "CellOvercurrentChargeMslError": int(a.get("oc_charge", False)),
                "CellOvercurrentDischargeMslError": int(a.get("oc_discharge", False)),
                "PositiveContactorError": int(a.get("contactor_welded", False)),
                "OvervoltageMolWarning": int(w.get("cell_ov", False)),
                "UndervoltageMolWarning": int(w.get("cell_uv", False)),
                OT_MOL[0 if charging else 1]: int(w.get("cell_ot", False)),
                UT_MOL[0 if charging else 1]: int(w.get("cell_ut", False)),
                "CellOvercurrentChargeMolWarning": int(w.get("oc_charge", False)),
                "CellOvercurrentDischargeMolWarni": int(w.get("oc_discharge", False)),
            }
        )
        return out

    def _page(self, sch: _Schedule) -> dict[str, Any]:
        if sch.frame_id == 0x250:
            prefix, raw, scale, lo, hi = "CellVoltage", self.bms.v_reported, 1000.0, 0, 8191
        else:
            prefix, raw, scale, lo, hi = "CellTemperature", self.bms.T_reported, 1.0, -128, 127
        n = len(raw)
        mux = "f_CellVoltages_Mux" if sch.frame_id == 0x250 else "f_CellTemperatures_Mux"
        out: dict[str, Any] = {mux: sch.page}
        keys = sch.keys.get(sch.page)
        if keys is None:  # the signal names of a page, formatted once
            first = sch.page * sch.per_page
            keys = [
                (i, f"{prefix}_{i:03d}", f"{prefix}_{i:03d}_invalidFlag") for i in range(first, first + sch.per_page)
            ]
            sch.keys[sch.page] = keys
        for idx, name, flag in keys:
            valid = idx < n
            out[name] = _clip(round(float(raw[idx]) * scale), lo, hi) if valid else 0
            out[flag] = 1 if valid else 0  # 1 = Valid in the foxBMS DBC
        return out


def serve(plant: Any, role: Any, clock: Any) -> SimFoxBmsCan:
    """Start the simulated BMS for a station role; `.resource` is what the driver opens."""
    sim = dict((getattr(role, "options", {}) or {}).get("sim", {}) or {})
    return SimFoxBmsCan(plant, clock, resource=sim.get("resource")).start()
