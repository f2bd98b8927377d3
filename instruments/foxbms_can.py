"""BMS over CAN with the foxBMS 2 message layout (project DBC `instruments/dbc/ess_bench_bms.dbc`).

The BMS broadcasts; the bench listens. A python-can Notifier feeds a lean listener that decodes
every frame as it arrives (cantools, `decode_choices=False`, so flags compare as ints; a payload
already seen is looked up in a bounded per-message memo instead, so the values dicts are shared and
read-only) and keeps the latest values and a receive time per message; reads never block on the bus. Three things a
plan must be able to trust are checked on every read:

* freshness: a cyclic message older than `stale_cycles` x its DBC cycle time raises
  InstrumentTimeout naming the message (a BMS that stopped talking must not look healthy);
* integrity: a frame with the wrong length or a payload cantools cannot decode is counted and
  raised as InstrumentReplyError naming the id and the bytes at the next access;
* confirmation: `request_state` sends 0x210 with every signal and waits until BmsState (0x220)
  and the connected-strings read-back agree, so `safe_state` is confirmed, not assumed.

Time. Receive times and waits use the driver's own time source, `time.monotonic` and
`time.sleep` by default. A simulated station must call `attach_clock(clock)` (or
`attach_clock(now, wait)`) so that ages are virtual seconds and waiting advances virtual time; the
driver never sleeps the wall clock for a BMS answer in simulation. Only one bounded wall-clock
wait remains: before judging, the driver lets its Notifier thread catch up with frames already
queued (on the virtual bus it knows exactly how many), which keeps simulated runs deterministic.

Extended-ID, error and remote frames and unknown ids are ignored but counted (`counters()`).

Frame subscription (`subscribe_frames`): high-rate capture gets every good frame of a known
message with its decoded values and its reception time, on the receive thread. The time is the
adapter's timestamp of the frame (python-can: epoch seconds) moved into the subscriber's time
base by the frame's age; on a virtual clock the simulator stamps each frame with the virtual time
it was sent, which is used as is. A subscriber that raises is counted, never allowed to stop the
receive thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import can
import pint

from bench.units import Q_
from instruments.capabilities import BmsLink, BmsStatus, ClockAware, FaultReset
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.foxbms_protocol import (  # noqa: F401 - the protocol tables, re-exported with the driver
    ALARM_SIGNALS,
    CONFIRM,
    DBC_PATH,
    ERROR_STATE,
    ID_CELL_T,
    ID_CELL_V,
    ID_LIMITS,
    ID_P0,
    ID_REQUEST,
    ID_SOX,
    ID_STATE,
    ID_STRING,
    ID_TEMP,
    ID_VOLT,
    REQUESTS,
    STATE_NAMES,
    STATUS_IDS,
    load_dbc,
)
from instruments.transports.can_bus import open_bus

DECODED_PER_MESSAGE = 256  # recent payloads kept decoded per message (bounded: the memo restarts when full)


class _Slot:
    """Latest decoded values of one message (per page for multiplexed ones) and counters."""

    __slots__ = (
        "message",
        "decode",
        "length",
        "name",
        "cycle_s",
        "mux",
        "values",
        "t",
        "count",
        "pages",
        "page_t",
        "last_page",
        "rounds",
        "errors",
        "decoded",
    )

    def __init__(self, message: Any) -> None:
        self.message = message
        self.decode = message.decode
        self.length = message.length
        self.name = message.name
        self.cycle_s = (message.cycle_time or 0) / 1000.0
        self.mux = next((s.name for s in message.signals if s.is_multiplexer), None)
        self.values: dict[str, Any] | None = None
        self.t: float | None = None
        self.count = 0
        self.pages: dict[int, dict[str, Any]] = {}
        self.page_t: dict[int, float] = {}
        self.last_page = -1
        self.rounds = 0  # completed page rounds (page index did not increase)
        self.errors = 0
        self.decoded: dict[bytes, dict[str, Any]] = {}  # payload -> its decoded values (shared, read-only)


class _Receiver(can.Listener):
    """The Notifier callback: one dict lookup, one cantools decode, a few attribute stores."""

    def __init__(self, driver: FoxBmsCan) -> None:
        self.d = driver

    def on_message_received(self, msg: can.Message) -> None:
        d = self.d
        try:
            slot = (
                d._slots.get(msg.arbitration_id)
                if not (msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame)
                else None
            )
            if slot is None:
                d._ignored += 1
                return
            data = msg.data
            if len(data) != slot.length:
                slot.errors += 1
                d._bad.append((slot, f"wrong DLC {len(data)} (expected {slot.length})", bytes(data)))
                return
            t = d._now()
            raw = bytes(data)
            values = slot.decoded.get(raw)  # a payload seen before needs no decode (same bytes, same values)
            if values is None:
                try:
                    values = slot.decode(raw, decode_choices=False, scaling=True)
                except Exception as exc:  # cantools raises several types for undecodable payloads
                    slot.errors += 1
                    d._bad.append((slot, f"undecodable payload ({type(exc).__name__}: {exc})", raw))
                    return
                if len(slot.decoded) >= DECODED_PER_MESSAGE:
                    slot.decoded.clear()
                slot.decoded[raw] = values
            if slot.mux is None:
                slot.values = values
            else:
                page = values[slot.mux]
                slot.pages[page] = values
                slot.page_t[page] = t
                if page <= slot.last_page:
                    slot.rounds += 1
                slot.last_page = page
            slot.t = t
            slot.count += 1
            d._decoded += 1
            if d._subscribers:
                d._publish(msg, values)
        finally:
            d._seen += 1
            target = d._settle_target
            if target is not None and d._seen >= target:  # wake a settling reader once, not per frame
                with d._cond:
                    d._cond.notify_all()

    def on_error(self, exc: Exception) -> None:
        self.d._bus_error = exc


class FoxBmsCan(BmsLink, FaultReset, ClockAware):
    """A foxBMS 2 BMS on CAN (real, or the simulator on python-can's virtual bus).

    Options (station file `[roles.bms_can.options]`): bitrate, stale_cycles, state_timeout, poll,
    rx_grace, balancing, balancing_threshold, n_cells, n_temperatures, dbc, make/model/serial/
    firmware (identity). (`options.sim.resource` is the simulator's: where it puts its node.)
    """

    SIMULATOR = "instruments.sim.can_foxbms:serve"

    def __init__(
        self,
        resource: str,
        *,
        name: str = "bms_can",
        timeout: pint.Quantity = Q_(2, "s"),
        bitrate: Any = None,
        stale_cycles: float = 5,
        state_timeout: str = "5 s",
        poll: str = "100 ms",
        rx_grace: str = "5 s",
        balancing: bool = True,
        balancing_threshold: str = "10 mV",
        n_cells: int | None = None,
        n_temperatures: int | None = None,
        dbc: str | None = None,
        make: str = "foxBMS",
        model: str = "foxBMS 2",
        serial: str = "",
        firmware: str = "",
    ) -> None:
        super().__init__(name)
        self.resource = resource
        self.timeout_s = float(Q_(timeout).to("s").magnitude)
        self.stale_cycles = float(stale_cycles)
        self.state_timeout_s = float(Q_(state_timeout).to("s").magnitude)
        self.poll_s = float(Q_(poll).to("s").magnitude)
        self.rx_grace_s = float(Q_(rx_grace).to("s").magnitude)
        self.balancing = bool(balancing)
        self.balancing_threshold_mV = int(round(Q_(balancing_threshold).to("mV").magnitude))
        if not 0 <= self.balancing_threshold_mV <= 255:
            raise InstrumentRangeError(name, f"balancing_threshold {balancing_threshold!r} outside 0..255 mV")
        self.n_cells = n_cells
        self.n_temperatures = n_temperatures
        self._ident = ", ".join(x for x in (make, model, serial, firmware) if x) + f" on {resource}"
        self.db = load_dbc(dbc)
        self._slots: dict[int, _Slot] = {m.frame_id: _Slot(m) for m in self.db.messages if m.frame_id != ID_REQUEST}
        self._request_msg = self.db.get_message_by_frame_id(ID_REQUEST)
        self._now: Callable[[], float] = time.monotonic
        self._wait: Callable[[float], None] = time.sleep
        self._slack_s = 0.0
        self._bad: deque[tuple[_Slot, str, bytes]] = deque(maxlen=64)
        self._ignored = self._decoded = self._seen = 0
        self._bad_total = 0
        self._settle_target: int | None = None  # frames a settling reader waits to see handled
        self._cond = threading.Condition()
        self._bus_error: Exception | None = None
        self._last_request: str | None = None
        self._closed = False
        self._virtual = False
        self._subscribers: list[tuple[Callable[[int, dict[str, Any], float], None], Callable[[], float]]] = []
        self._subscriber_errors = 0
        self.bus = open_bus(resource, bitrate=bitrate, name=name)
        self._notifier = can.Notifier(self.bus, [_Receiver(self)], timeout=0.05)

    # -- time --------------------------------------------------------------------------------
    def attach_clock(self, now: Any, wait: Callable[[float], None] | None = None, *, step_s: float = 0.0) -> None:
        """Use the bench clock: `attach_clock(clock)` or `attach_clock(now_s, wait_s, step_s=...)`.

        `step_s` is how far the time source can jump at once (a SimClock's `max_step`): a frame
        sent inside a virtual step is stamped with the step's start, so staleness limits get
        one step of slack; the plan cannot look inside a step anyway. Receive times recorded so
        far belong to the old time base and are dropped, so the next read waits for fresh
        frames instead of judging ages across two clocks.
        """
        if hasattr(now, "now_s"):
            clock = now
            now, wait = clock.now_s, (lambda s: clock.sleep(Q_(s, "s")))
            self._virtual = bool(getattr(clock, "virtual", False))
            step_s = float(getattr(clock, "max_step", 0.0)) if self._virtual else 0.0
        if wait is None:
            raise ValueError("attach_clock needs a wait callable with a now callable")
        self._now, self._wait = now, wait
        self._slack_s = max(0.0, float(step_s))
        for slot in self._slots.values():
            slot.t = None
            slot.page_t.clear()
            slot.rounds = 0

    # -- identity / lifecycle ----------------------------------------------------------------
    def identity(self) -> str:
        """foxBMS has no identification message; the station file's make/model/serial stand in."""
        return self._ident

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._notifier.stop(timeout=1.0)
        finally:
            self.bus.shutdown()

    def safe_state(self) -> str:
        """Request standby (contactors open) and confirm BmsState and connected strings = 0."""
        self.request_state("standby")
        v = self._slots[ID_STATE].values or {}
        if int(v.get("NumberOfConnectedStrings", 1)) != 0:
            raise InstrumentError(
                self.name,
                "contactors still closed after standby request",
                command="0x210 RequestBmsMode=Standby",
                reply=f"NumberOfConnectedStrings={v.get('NumberOfConnectedStrings')}",
            )
        return f"standby requested; BmsState {self._state_name(v)} and 0 strings connected (confirmed on 0x220)"

    # -- frame subscription -----------------------------------------------------------------
    def subscribe_frames(
        self, callback: Callable[[int, dict[str, Any], float], None], now: Callable[[], float] | None = None
    ) -> Callable[[], None]:
        """Call `callback(frame_id, values, t)` for every good frame of a known message, on the receive
        thread; `t` is the frame's reception time in the time base of `now` (default: the driver's).
        `values` are the decoded signals (scaled, flags as ints); do not keep or change the dict.
        Returns a function that ends the subscription."""
        entry = (callback, now or self._now)
        self._subscribers = [*self._subscribers, entry]

        def unsubscribe() -> None:
            self._subscribers = [e for e in self._subscribers if e is not entry]

        return unsubscribe

    def flush_received(self) -> None:
        """Wait (bounded, `rx_grace`) until frames already queued on the bus have been handled, so a
        subscriber has seen everything sent so far (deterministic reads in simulation)."""
        self._settle()

    def _publish(self, msg: can.Message, values: dict[str, Any] | None) -> None:
        if values is None:
            return
        stamp = msg.timestamp
        for callback, now_fn in self._subscribers:
            try:
                now = now_fn()
                t = now
                if stamp:
                    if self._virtual:
                        if abs(now - stamp) < 1e8:  # the simulator's virtual send time (an epoch stamp is not)
                            t = stamp
                    else:
                        age = time.time() - stamp  # adapters stamp in epoch seconds
                        if -0.05 <= age <= 10.0:
                            t = now - max(age, 0.0)
                callback(msg.arbitration_id, values, t)
            except Exception:  # noqa: BLE001 - a subscriber must never stop the receive thread
                self._subscriber_errors += 1

    # -- receive-side checks -----------------------------------------------------------------
    def _settle(self) -> None:
        """Let the Notifier thread process frames already queued on the bus (bounded wall wait).

        The wait ends as soon as every frame queued so far is processed, so `rx_grace` is only
        reached on a starved machine; it is generous (5 s) because a short one made readings
        look stale in virtual time when other processes held the CPU (frames sent, not yet read).
        """
        q = getattr(self.bus, "queue", None)
        target = getattr(q, "unfinished_tasks", None)  # VirtualBus: every frame ever put in our queue
        if target is None:
            return
        if self._seen >= target:
            return
        deadline = time.monotonic() + self.rx_grace_s
        with self._cond:
            self._settle_target = target
            try:
                for _ in range(10_000):
                    if self._seen >= target:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, 0.01))
            finally:
                self._settle_target = None

    def _raise_pending(self) -> None:
        if self._bus_error is not None:
            exc, self._bus_error = self._bus_error, None
            raise InstrumentError(self.name, f"CAN bus error on {self.resource}: {exc}")
        if self._bad:
            slot, why, data = self._bad.popleft()
            self._bad_total += 1
            more = len(self._bad)
            self._bad.clear()
            extra = f" (+{more} more bad frames)" if more else ""
            raise InstrumentReplyError(
                self.name,
                f"bad frame 0x{slot.message.frame_id:03X} {slot.name}: {why}{extra}",
                reply=data.hex(" ").upper(),
            )

    def _limit_s(self, slot: _Slot) -> float:
        return self.stale_cycles * slot.cycle_s + self._slack_s

    def _fresh(self, slot: _Slot, now: float) -> bool:
        return slot.t is not None and now - slot.t <= self._limit_s(slot) + 1e-9

    def _require(self, ids: tuple[int, ...]) -> None:
        """Raise InstrumentTimeout naming any message that is missing or older than its limit.

        Messages never received since the driver opened are given `timeout` to arrive (polling in
        the driver's time), so the first read after opening does not fail on start-up.
        """
        self._settle()
        self._raise_pending()
        slots = [self._slots[i] for i in ids]
        if any(s.t is None for s in slots):
            self._poll(lambda: all(s.t is not None for s in slots), self.timeout_s)
        now = self._now()
        for s in slots:
            if s.t is None:
                raise InstrumentTimeout(
                    self.name,
                    f"no {s.name} (0x{s.message.frame_id:03X}) received within {self.timeout_s:g} s on {self.resource}",
                )
            if not self._fresh(s, now):
                raise InstrumentTimeout(
                    self.name,
                    f"{s.name} (0x{s.message.frame_id:03X}) is stale: last received "
                    f"{now - s.t:.3g} s ago, limit {self._limit_s(s):.3g} s "
                    f"({self.stale_cycles:g} cycles of {s.cycle_s * 1000:g} ms) on {self.resource}",
                )

    def _poll(self, predicate: Callable[[], bool], limit_s: float) -> bool:
        """Wait in the driver's time, one poll period at a time, until predicate() (bounded)."""
        start = self._now()
        for _ in range(int(limit_s / self.poll_s) + 2):
            self._settle()
            self._raise_pending()
            if predicate():
                return True
            if self._now() - start >= limit_s:
                break
            self._wait(self.poll_s)
        self._settle()
        return predicate()

    def counters(self) -> dict[str, Any]:
        """Frames decoded, ignored (unknown/extended/error/remote) and bad, per message too."""
        self._settle()
        return {
            "decoded": self._decoded,
            "ignored": self._ignored,
            "seen": self._seen,
            "subscriber_errors": self._subscriber_errors,
            "bad": sum(s.errors for s in self._slots.values()),
            "per_message": {
                f"0x{i:03X}": {"name": s.name, "count": s.count, "bad": s.errors} for i, s in self._slots.items()
            },
        }

    # -- readings ----------------------------------------------------------------------------
    @staticmethod
    def _state_name(v: dict[str, Any]) -> str:
        n = int(v.get("BmsState", 11))
        return STATE_NAMES[n] if 0 <= n < len(STATE_NAMES) else f"UNKNOWN({n})"

    def status(self) -> BmsStatus:
        self._require(STATUS_IDS)
        # 0x240 is multiplexed by string: the bench's pack is String0 (page 0).
        s = {
            i: (sl.values if sl.mux is None else sl.pages.get(0)) or {}
            for i, sl in ((i, self._slots[i]) for i in STATUS_IDS)
        }
        st, p0, vv, tt, lim, sox = s[ID_STATE], s[ID_P0], s[ID_VOLT], s[ID_TEMP], s[ID_LIMITS], s[ID_SOX]
        alarms = {name: bool(s[i].get(sig, 0)) for name, (i, sig) in ALARM_SIGNALS.items()}
        alarms["error_state"] = int(st["BmsState"]) == ERROR_STATE
        alarms["cell_ot"] = alarms["cell_ot_charge"] or alarms["cell_ot_discharge"]
        alarms["cell_ut"] = alarms["cell_ut_charge"] or alarms["cell_ut_discharge"]
        return BmsStatus(
            state=self._state_name(st),
            contactor_closed=int(st["NumberOfConnectedStrings"]) > 0,
            pack_voltage=Q_(float(p0["BatteryVoltage"]), "V"),
            pack_current=Q_(float(p0["Current"]), "A"),
            soc=Q_(0.5 * (float(sox["MinimumSoc"]) + float(sox["MaximumSoc"])), "percent"),
            cell_voltage_min=Q_(float(vv["MinimumCellVoltage"]) / 1000.0, "V"),
            cell_voltage_max=Q_(float(vv["MaximumCellVoltage"]) / 1000.0, "V"),
            cell_temperature_min=Q_(float(tt["MinimumCellTemperature"]), "degC"),
            cell_temperature_max=Q_(float(tt["MaximumCellTemperature"]), "degC"),
            max_charge_current=Q_(float(lim["MaximumChargeCurrent"]), "A"),
            max_discharge_current=Q_(float(lim["MaximumDischargeCurrent"]), "A"),
            alarms=alarms,
            soh=Q_(float(sox["Soh"]), "percent"),
            insulation_resistance=Q_(float(st["InsulationResistance"]), "kohm"),
            timestamp_s=self._now(),
        )

    def pack_values(self) -> dict[str, pint.Quantity]:
        """Bus voltage and power from 0x233 as well (not part of BmsStatus)."""
        self._require((ID_P0,))
        v = self._slots[ID_P0].values or {}
        return {
            "battery_voltage": Q_(float(v["BatteryVoltage"]), "V"),
            "bus_voltage": Q_(float(v["BusVoltage"]), "V"),
            "power": Q_(float(v["Power"]), "kW"),
            "current": Q_(float(v["Current"]), "A"),
        }

    def _pages(self, frame_id: int, prefix: str, per_page: int, count: int | None) -> list[float]:
        """Values of a multiplexed message once a full round of pages (or `count` values) is in."""
        slot = self._slots[frame_id]
        self._settle()
        self._raise_pending()
        need = None if count is None else -(-count // per_page)

        def complete() -> bool:
            if need is not None:
                return all(p in slot.pages and p in slot.page_t for p in range(need))
            return slot.rounds >= 1 and bool(slot.page_t)

        full_cycle = slot.cycle_s * self.stale_cycles + self._slack_s
        if not complete() and not self._poll(complete, max(self.timeout_s, full_cycle)):
            raise InstrumentTimeout(
                self.name,
                f"{slot.name} (0x{frame_id:03X}): no complete set of mux pages "
                f"within {max(self.timeout_s, full_cycle):g} s on {self.resource}",
            )
        now = self._now()
        pages = range(need) if need is not None else range(max(slot.pages) + 1)
        out: list[float] = []
        for p in pages:
            if p not in slot.page_t or now - slot.page_t[p] > full_cycle + 1e-9:
                age = "never" if p not in slot.page_t else f"{now - slot.page_t[p]:.3g} s ago"
                raise InstrumentTimeout(
                    self.name,
                    f"{slot.name} (0x{frame_id:03X}) page {p} is stale (last {age}, limit {full_cycle:.3g} s)",
                )
            vals = slot.pages[p]
            for k in range(per_page):
                n = p * per_page + k
                if vals.get(f"{prefix}_{n:03d}_invalidFlag", 0) == 1:  # 1 = Valid
                    out.append(float(vals[f"{prefix}_{n:03d}"]))
                elif count is not None and n < count:
                    raise InstrumentReplyError(self.name, f"{slot.name}: {prefix}_{n:03d} flagged invalid")
        return out if count is None else out[:count]

    def cell_voltages(self) -> list[pint.Quantity]:
        """Every valid cell voltage from the 0x250 pages, in cell order."""
        return [Q_(mv / 1000.0, "V") for mv in self._pages(ID_CELL_V, "CellVoltage", 4, self.n_cells)]

    def cell_temperatures(self) -> list[pint.Quantity]:
        """Every valid cell temperature from the 0x260 pages, in sensor order."""
        return [Q_(t, "degC") for t in self._pages(ID_CELL_T, "CellTemperature", 6, self.n_temperatures)]

    # -- commands ----------------------------------------------------------------------------
    def _send_request(self, mode: int, *, reset_flags: bool = False) -> None:
        data = self._request_msg.encode(
            {
                "RequestBmsMode": mode,
                "ChargerConnected": 1 if mode == REQUESTS["charge"] else 0,
                "IndicatePrechargeType": 0,
                "ResetPersistentFlags": int(reset_flags),
                "ActivateBalancing": int(self.balancing),
                "SetBalancingThreshold": self.balancing_threshold_mV,
                "DisableInsulationMonitoring": 0,
            },
            scaling=True,
            strict=True,
        )
        try:
            # Bounded: without a timeout an slcan adapter whose serial line stalls blocks forever
            # (and socketcan fails at once on a momentarily full queue); wait at most `timeout`.
            self.bus.send(
                can.Message(arbitration_id=ID_REQUEST, data=data, is_extended_id=False), timeout=self.timeout_s
            )
        except can.CanError as exc:
            raise InstrumentError(
                self.name, f"cannot send on {self.resource}: {exc}", command=f"0x210 {data.hex(' ').upper()}"
            ) from exc

    def request_state(self, state: str) -> None:
        """Send 0x210 RequestBmsMode and wait (driver time) until 0x220 confirms it.

        'standby' confirms on BmsState STANDBY/IDLE (or ERROR: a latched fault keeps it there, and
        contactors open is what standby means) with no string connected; 'discharge' on
        DISCHARGE/NORMAL and 'charge' on CHARGE with a string connected. BmsState ERROR while
        waiting for a closing request raises at once: the BMS refused.
        """
        key = str(state).strip().lower()
        if key not in REQUESTS:
            raise InstrumentRangeError(self.name, f"BMS state request must be one of {sorted(REQUESTS)}, got {state!r}")
        self._settle()
        self._raise_pending()
        slot = self._slots[ID_STATE]
        self._send_request(REQUESTS[key])
        self._last_request = key
        states, connected = CONFIRM[key]
        sent_at = self._now()
        count0 = slot.count

        def confirmed() -> bool:
            v = slot.values
            if v is None or slot.count == count0 or slot.t is None or slot.t < sent_at:
                return False
            st = int(v["BmsState"])
            if st == ERROR_STATE and key != "standby":
                raise InstrumentError(
                    self.name,
                    f"BMS refused {key}: BmsState ERROR",
                    command=f"0x210 RequestBmsMode={key}",
                    reply=self._describe(v),
                )
            return st in states and (int(v["NumberOfConnectedStrings"]) > 0) == connected

        if not self._poll(confirmed, self.state_timeout_s):
            v = slot.values or {}
            raise InstrumentTimeout(
                self.name,
                f"BmsState did not confirm {key} within {self.state_timeout_s:g} s",
                command=f"0x210 RequestBmsMode={key}",
                reply=self._describe(v),
            )

    def reset_faults(self) -> None:
        """Send ResetPersistentFlags with a standby request (latched faults clear if their cause is gone)."""
        self._send_request(REQUESTS["standby"], reset_flags=True)

    def _describe(self, v: dict[str, Any]) -> str:
        if not v:
            return "no 0x220 BmsState received"
        return (
            f"BmsState={self._state_name(v)} NumberOfConnectedStrings={int(v['NumberOfConnectedStrings'])} "
            f"GeneralError={int(v['GeneralError'])}"
        )
