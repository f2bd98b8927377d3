"""Time for plans: `now()`, `sleep(dt)`, `wait_until(predicate, timeout, poll)`.

A real clock sleeps. The simulated clock advances virtual time and, step by step, calls the
listeners that integrate the simulator's physics and emit periodic traffic (CAN frames, telemetry
samples). This is how a 4-hour capacity test runs in CI in seconds through the same driver calls.
Plans never call `time.sleep`.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import pint

from bench.units import Q_, as_seconds

Listener = Callable[[float, float], None]  # (t_after_step_s, dt_s)


class WaitTimeout(TimeoutError):
    """`wait_until` ran out of time; names what it was waiting for."""


@dataclass(order=True)
class _Periodic:
    due: float
    period: float = field(compare=False)
    callback: Callable[[float], None] = field(compare=False)
    name: str = field(compare=False, default="")
    active: bool = field(compare=False, default=True)


class Clock(ABC):
    """Common interface; plans receive one through the `clock` fixture."""

    virtual: bool = False

    @abstractmethod
    def now_s(self) -> float:
        """Seconds since the clock started (virtual or monotonic)."""

    @abstractmethod
    def _sleep_s(self, dt: float) -> None: ...

    def now(self) -> pint.Quantity:
        return Q_(self.now_s(), "s")

    def sleep(self, dt: pint.Quantity) -> None:
        seconds = as_seconds(dt, what="sleep duration")
        if seconds < 0:
            raise ValueError(f"sleep duration must not be negative, got {dt}")
        self._sleep_s(seconds)

    def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: pint.Quantity,
        poll: pint.Quantity = Q_(0.1, "s"),
        what: str = "condition",
    ) -> pint.Quantity:
        """Poll `predicate` until true; return the elapsed time, or raise WaitTimeout."""
        limit = as_seconds(timeout, what="timeout")
        step = as_seconds(poll, what="poll interval")
        if step <= 0:
            raise ValueError("poll interval must be positive")
        start = self.now_s()
        max_polls = int(limit / step) + 2  # every loop bounded
        for _ in range(max_polls):
            if predicate():
                return Q_(self.now_s() - start, "s")
            remaining = limit - (self.now_s() - start)
            if remaining <= 0:
                break
            self._sleep_s(min(step, remaining))
        if predicate():
            return Q_(self.now_s() - start, "s")
        raise WaitTimeout(f"timed out after {limit:g} s waiting for {what}")

    @abstractmethod
    def every(self, period: pint.Quantity, callback: Callable[[float], None], name: str = "") -> _Periodic:
        """Call `callback(t_s)` every `period` (virtual or real time) until cancelled."""

    def cancel(self, handle: _Periodic) -> None:
        handle.active = False


class RealClock(Clock):
    """Wall-clock time for real instruments; periodic tasks run on daemon threads."""

    def __init__(self, start_s: float = 0.0) -> None:
        """`start_s`: run time at construction (a resumed run continues from its last journalled time)."""
        self._t0 = time.monotonic() - start_s
        self._stop = threading.Event()

    def now_s(self) -> float:
        return time.monotonic() - self._t0

    def _sleep_s(self, dt: float) -> None:
        time.sleep(dt)

    def every(self, period: pint.Quantity, callback: Callable[[float], None], name: str = "") -> _Periodic:
        p = as_seconds(period, what="period")
        handle = _Periodic(self.now_s() + p, p, callback, name)

        def run() -> None:
            next_due = time.monotonic() + p
            while handle.active and not self._stop.is_set():
                delay = next_due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                if handle.active:
                    callback(self.now_s())
                next_due += p

        threading.Thread(target=run, name=f"every-{name}", daemon=True).start()
        return handle

    def shutdown(self) -> None:
        self._stop.set()


class SimClock(Clock):
    """Virtual time. `sleep` advances it in steps of at most `max_step`, calling listeners.

    `lock` serialises the physics with protocol-server threads that read the plant, so an
    instrument reply is always computed from a consistent state.
    """

    virtual = True

    def __init__(self, max_step: pint.Quantity = Q_(1, "s"), start_s: float = 0.0) -> None:
        self.max_step = as_seconds(max_step, what="max_step")
        if self.max_step <= 0:
            raise ValueError("max_step must be positive")
        self._t = float(start_s)
        self._listeners: list[Listener] = []
        self._periodic: list[_Periodic] = []
        self.lock = threading.RLock()

    def now_s(self) -> float:
        return self._t

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def every(self, period: pint.Quantity, callback: Callable[[float], None], name: str = "") -> _Periodic:
        p = as_seconds(period, what="period")
        if p <= 0:
            raise ValueError("period must be positive")
        handle = _Periodic(self._t + p, p, callback, name)
        self._periodic.append(handle)
        return handle

    def _sleep_s(self, dt: float) -> None:
        self.advance(dt)

    def advance(self, dt: float) -> None:
        """Advance virtual time by `dt` seconds, integrating in bounded steps."""
        end = self._t + dt
        steps = 0
        # every loop bounded: one stop per max_step plus one per due time of every periodic callback
        max_steps = int(dt / self.max_step) + 2 + sum(int(dt / h.period) + 2 for h in self._periodic if h.active)
        while self._t < end - 1e-12 and steps < max_steps + 10:
            steps += 1
            target = min(end, self._t + self.max_step)
            active = [h for h in self._periodic if h.active]
            next_due = min((h.due for h in active), default=None)
            if next_due is not None and next_due < target:
                target = max(next_due, self._t)
            step = target - self._t
            with self.lock:
                if step > 0:
                    for listener in list(self._listeners):
                        listener(target, step)
                self._t = target
            for handle in active:
                if handle.active and handle.due <= self._t + 1e-12:
                    handle.callback(self._t)
                    handle.due += handle.period
                    if handle.due <= self._t:  # a callback that fell behind skips, never loops
                        handle.due = self._t + handle.period
        self._periodic = [h for h in self._periodic if h.active]
        self._t = max(self._t, end)


class RealTimeDriver:
    """Advances a SimClock at wall-clock pace (for `bench sim serve` and outside tools)."""

    def __init__(self, clock: SimClock, tick: float = 0.05) -> None:
        self.clock = clock
        self.tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-realtime", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            self.clock.advance(now - last)
            last = now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
