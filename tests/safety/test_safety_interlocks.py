"""bench.safety: interlock config merging, the watcher on virtual time, trips raised into the plan,
timeouts (virtual and wall, waking blocking I/O), bounded safe-state actions and teardown."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench.clock import SimClock
from bench.errors import ConfigError
from bench.safety.interlocks import InterlockTrip, InterlockWatcher, merge_config
from bench.safety.safe_state import drive_safe_state
from bench.safety.timeouts import ActionTimeout, Deadline, Interrupter, StepTimeout, run_bounded
from bench.units import Q_


@dataclass
class FakeStatus:
    cell_voltage_min: Any = field(default_factory=lambda: Q_(3.2, "V"))
    cell_voltage_max: Any = field(default_factory=lambda: Q_(3.3, "V"))
    cell_temperature_min: Any = field(default_factory=lambda: Q_(25.0, "degC"))
    cell_temperature_max: Any = field(default_factory=lambda: Q_(25.0, "degC"))
    pack_current: Any = field(default_factory=lambda: Q_(0.0, "A"))
    alarms: dict[str, bool] = field(default_factory=dict)


class FakeBms:
    """A BMS whose hottest cell follows `temp(t)` of the given clock; `silent` makes it stop answering."""

    fixture = "bms"  # bound like a BmsLink driver

    def __init__(self, clock: SimClock, temp: Any = lambda t: 25.0) -> None:
        self.clock = clock
        self.temp = temp
        self.silent = False
        self.safe_calls = 0

    def status(self) -> FakeStatus:
        if self.silent:
            raise TimeoutError("no frames")
        return FakeStatus(cell_temperature_max=Q_(self.temp(self.clock.now_s()), "degC"))

    def safe_state(self) -> str:
        self.safe_calls += 1
        return "contactors open"


def _watch(tables: list[tuple[str, dict[str, Any]]], bms: FakeBms, clock: SimClock) -> tuple[InterlockWatcher, list]:
    trips: list = []
    w = InterlockWatcher(merge_config(tables), {"bms_can": bms}, clock, on_trip=trips.append)
    return w.start(), trips


def test_merge_tighter_bound_wins_and_names_its_origin() -> None:
    cfg = merge_config(
        [
            ("station.toml", {"period": "2 s", "cell_temperature": {"max": "80 degC", "min": "-30 degC"}}),
            (
                "limits.toml",
                {"period": "1 s", "cell_temperature": {"max": "70 degC", "min": "-40 degC"}, "gas_stage": {"max": 1}},
            ),
        ]
    )
    il = cfg.interlocks["cell_temperature"]
    assert il.high == Q_(70, "degC") and il.origin["max"] == "limits.toml"
    assert il.low == Q_(-30, "degC") and il.origin["min"] == "station.toml"
    assert cfg.period_s == 1.0 and cfg.interlocks["gas_stage"].high.magnitude == 1


@pytest.mark.parametrize(
    "table, key",
    [
        ({"cell_temprature": {"max": "60 degC"}}, "interlocks"),
        ({"cell_voltage": {"max": "60 degC"}}, "interlocks.cell_voltage.max"),
        ({"pack_current": {"max": "10 A", "hysteresis": 1}}, "interlocks.pack_current"),
    ],
)
def test_merge_rejects_bad_config_naming_file_and_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        merge_config([("lim.toml", table)])
    assert "lim.toml" in str(e.value) and key in str(e.value)


def test_trip_raises_out_of_clock_sleep_at_the_virtual_crossing() -> None:
    clock = SimClock(max_step=Q_(1, "s"))
    bms = FakeBms(clock, temp=lambda t: 25.0 + 0.5 * t)  # crosses 60 degC at t = 70 s
    w, trips = _watch([("s", {"period": "1 s", "cell_temperature": {"max": "60 degC"}})], bms, clock)
    with pytest.raises(InterlockTrip) as e:
        clock.sleep(Q_(1, "h"))
    assert e.value.trip.name == "cell_temperature" and len(trips) == 1
    assert 70.0 <= clock.now_s() <= 72.0 and not w.running
    assert "60 °C" in e.value.trip.message or "60 degC" in e.value.trip.message


def test_persist_ignores_a_single_spike() -> None:
    clock = SimClock(max_step=Q_(1, "s"))
    bms = FakeBms(clock, temp=lambda t: 90.0 if 9.5 < t < 10.5 else 25.0)
    w, trips = _watch([("s", {"cell_temperature": {"max": "60 degC", "persist": 2}})], bms, clock)
    clock.sleep(Q_(60, "s"))
    assert trips == [] and w.samples >= 59


def test_rate_of_rise_is_computed_by_the_bench() -> None:
    clock = SimClock(max_step=Q_(1, "s"))
    bms = FakeBms(clock, temp=lambda t: 25.0 + (0.0 if t < 100 else (t - 100) * 0.2))  # 12 K/min from 100 s
    w, trips = _watch([("s", {"temperature_rate": {"max": "10 K/min", "window": "30 s"}})], bms, clock)
    with pytest.raises(InterlockTrip):
        clock.sleep(Q_(10, "min"))
    assert trips[0].name == "temperature_rate" and 100 < clock.now_s() < 140


def test_link_timeout_and_inhibit() -> None:
    clock = SimClock(max_step=Q_(1, "s"))
    bms = FakeBms(clock)
    w, trips = _watch([("s", {"link_timeout": "5 s", "cell_voltage": {"max": "3.7 V"}})], bms, clock)
    bms.silent = True
    w.inhibit(["link"], "link cut on purpose")
    clock.sleep(Q_(20, "s"))
    assert trips == []
    w.release()
    with pytest.raises(InterlockTrip) as e:
        clock.sleep(Q_(20, "s"))
    assert e.value.trip.name == "link.bms_can" and "TimeoutError" in e.value.trip.message


def test_trip_is_not_an_exception_a_plan_can_swallow() -> None:
    clock = SimClock(max_step=Q_(1, "s"))
    w, _ = _watch([("s", {"cell_temperature": {"max": "20 degC"}})], FakeBms(clock), clock)
    caught = False
    with pytest.raises(InterlockTrip):
        try:
            clock.sleep(Q_(5, "s"))
        except Exception:  # what a careless plan might write
            caught = True
    assert not caught


def test_virtual_step_deadline() -> None:
    clock = SimClock(max_step=Q_(1, "s"))
    with pytest.raises(StepTimeout, match="600 s"):
        with Deadline(clock, None, what="step x", virtual_s=600.0, wall_s=None):
            clock.sleep(Q_(2, "h"))
    assert 600.0 <= clock.now_s() <= 601.0
    with Deadline(clock, None, what="step y", virtual_s=600.0, wall_s=None):
        clock.sleep(Q_(5, "min"))
    clock.sleep(Q_(1, "h"))  # a cancelled deadline never fires


def test_wall_deadline_interrupts_a_blocking_socket_read() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    intr = Interrupter()
    assert intr.install()
    try:
        t0 = time.monotonic()
        with pytest.raises(StepTimeout, match="wall"):
            with Deadline(SimClock(), intr, what="hung read", virtual_s=None, wall_s=0.3):
                client.recv(10)  # an instrument that never answers, no socket timeout
        assert 0.25 < time.monotonic() - t0 < 10.0  # bounded (a loaded machine is slow, never endless)
    finally:
        intr.uninstall()
        client.close()
        server.close()


def test_watcher_on_another_thread_interrupts_the_plan() -> None:
    intr = Interrupter()
    intr.install()
    trips: list = []
    try:
        clock = SimClock()
        bms = FakeBms(clock, temp=lambda t: 99.0)
        w = InterlockWatcher(
            merge_config([("s", {"cell_temperature": {"max": "60 degC"}})]),
            {"bms_can": bms},
            clock,
            on_trip=trips.append,
            interrupter=intr,
        )
        threading.Timer(0.1, w.tick).start()  # as RealClock.every would call it
        with pytest.raises(InterlockTrip):
            time.sleep(5)
        assert w.done.wait(2) and len(trips) == 1
    finally:
        intr.uninstall()


class _Inst:
    def __init__(self, order: int, log: list[str], behaviour: str = "ok") -> None:
        self.safe_state_order = order
        self.log = log
        self.behaviour = behaviour

    def safe_state(self) -> str:
        self.log.append(f"{self.safe_state_order}:{self.behaviour}")
        if self.behaviour == "hang":
            time.sleep(30)
        if self.behaviour == "fail":
            raise RuntimeError("no read-back")
        return "safe"


def test_safe_state_order_retries_and_a_hung_instrument_never_stops_the_others() -> None:
    log: list[str] = []
    events: list[tuple[str, str]] = []
    inst = {
        "bms": _Inst(40, log),
        "load": _Inst(10, log),
        "psu": _Inst(20, log, "hang"),
        "chamber": _Inst(30, log, "fail"),
    }
    t0 = time.monotonic()
    res = drive_safe_state(
        inst,
        cause="trip",
        journal_event=lambda k, m, d: events.append((k, m)),
        retries=2,
        retry_delay_s=0.01,
        action_timeout_s=0.2,
    )
    assert time.monotonic() - t0 < 10.0  # a hung instrument costs its 0.2 s budget, not its 30 s hang
    assert [r.role for r in res] == ["load", "psu", "chamber", "bms"]
    assert [r.ok for r in res] == [True, False, False, True]
    assert log[0] == "10:ok" and log[-1] == "40:ok"
    assert sum(k == "safe_state_failed" for k, _ in events) == 2


def test_run_bounded() -> None:
    assert run_bounded(lambda: 42, 1.0, "quick") == 42
    with pytest.raises(ActionTimeout):
        run_bounded(lambda: time.sleep(5), 0.1, "hung close")
    with pytest.raises(ValueError):
        run_bounded(lambda: int("x"), 1.0, "bad")
