"""Step and teardown timeouts, and interrupting the plan thread even inside blocking I/O.

A plan is never trusted to come back on its own. Two mechanisms, chosen by the clock:

* virtual time (SimClock): a one-shot `clock.every(timeout)` callback raises `StepTimeout` from
  inside the plan's own `clock.sleep`, at the exact virtual instant, deterministically;
* wall time (hardware, and as a backstop in simulation): a watchdog thread asks the
  `Interrupter` to raise the exception in the plan (main) thread. It does so with a real signal
  (`pthread_kill`), so a plan blocked in a socket read is woken (EINTR) and the handler's
  exception unwinds the read; a pure-Python plan is interrupted at its next bytecode.

Both exceptions derive from `BenchAbort(BaseException)`, so a plan's `except Exception` cannot
swallow a trip or a timeout.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from bench.clock import Clock, SimClock
from bench.units import Q_, parse_quantity

T = TypeVar("T")


class BenchAbort(BaseException):  # noqa: N818 - an abort, not an ordinary error
    """Stops the plan: an interlock trip or a timeout. Not an Exception on purpose."""

    reason: str = "aborted"


class StepTimeout(BenchAbort):
    """A step ran past its time limit (virtual or wall)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.reason = message


class ActionTimeout(TimeoutError):
    """One bounded action (a safe-state command, closing a driver) did not finish in time."""


def parse_duration(value: Any, *, source: str = "", key: str = "") -> float:
    """Seconds from "10 min", a quantity or a plain number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "to"):
        return float(value.to("s").magnitude)
    return float(parse_quantity(str(value), source=source or None, key=key or None, dimension="time").to("s").magnitude)


def run_bounded(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run `fn` on a worker thread and wait at most `timeout_s`; a hung call is abandoned.

    Used for safe-state actions and driver close: one instrument that never answers must not
    stop the others from being made safe. Works from any thread (no signals).
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # carried back to the caller
            box["error"] = exc

    th = threading.Thread(target=work, name=f"bounded-{what}", daemon=True)
    th.start()
    th.join(timeout_s)
    if th.is_alive():
        raise ActionTimeout(f"{what}: no result within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class Interrupter:
    """Raise an exception in the main (plan) thread from any thread, waking blocking I/O.

    `install()` must run on the main thread (signal handlers live there). `interrupt(exc)`
    stores the exception and sends `signum` to the main thread; the handler raises it. A token
    guards against a late watchdog raising into the next step: `cancel(token)` disarms it.
    """

    def __init__(self, signum: int = getattr(signal, "SIGUSR1", 0)) -> None:
        self.signum = signum
        self._pending: BaseException | None = None
        self._lock = threading.Lock()
        self._previous: Any = None
        self._installed = False
        self._main = threading.main_thread()
        self.delivered = threading.Event()
        self._held: list[BaseException] | None = None

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self) -> bool:
        if self._installed or not self.signum or threading.current_thread() is not self._main:
            return self._installed
        self._previous = signal.signal(self.signum, self._handler)
        self._installed = True
        return True

    def uninstall(self) -> None:
        if self._installed and threading.current_thread() is self._main:
            signal.signal(self.signum, self._previous or signal.SIG_DFL)
            self._installed = False

    def _handler(self, signum: int, frame: Any) -> None:
        with self._lock:
            exc, self._pending = self._pending, None
        if exc is not None:
            self.delivered.set()
            raise exc

    @contextmanager
    def hold(self) -> Iterator[list[BaseException]]:
        """While held (the safe state), interrupts are collected, not raised; the list yielded holds them."""
        with self._lock:
            outer = self._held
            held: list[BaseException] = [] if outer is None else outer
            self._held = held
        try:
            yield held
        finally:
            with self._lock:
                self._held = outer

    def interrupt(self, exc: BaseException) -> bool:
        """Raise `exc` in the main thread (directly when called from it). False if impossible.

        While `hold()` is in force the exception is only recorded: nothing interrupts a safe state."""
        with self._lock:
            if self._held is not None:
                self._held.append(exc)
                return True
        if threading.current_thread() is self._main:
            raise exc
        if not self._installed or not hasattr(signal, "pthread_kill") or self._main.ident is None:
            return False
        with self._lock:
            self._pending = exc
        self.delivered.clear()
        signal.pthread_kill(self._main.ident, self.signum)
        return True

    def clear(self, exc: BaseException | None = None) -> None:
        """Disarm a pending interrupt (only `exc`'s, when given: a trip must never be lost)."""
        with self._lock:
            if exc is None or self._pending is exc:
                self._pending = None


class Deadline:
    """A time limit for one step or teardown: virtual in simulation plus an optional wall backstop."""

    def __init__(
        self, clock: Clock, interrupter: Interrupter | None, *, what: str, virtual_s: float | None, wall_s: float | None
    ) -> None:
        self.clock = clock
        self.interrupter = interrupter
        self.what = what
        self.virtual_s = virtual_s
        self.wall_s = wall_s
        self._handle: Any = None
        self._timer: threading.Timer | None = None
        self._armed = False
        self.fired: str | None = None
        self._exc: BaseException | None = None

    def start(self) -> Deadline:
        self._armed = True
        if self.virtual_s is not None and isinstance(self.clock, SimClock) and self.virtual_s > 0:
            self._handle = self.clock.every(Q_(self.virtual_s, "s"), self._virtual_fire, name=f"deadline-{self.what}")
        if self.wall_s is not None and self.wall_s > 0 and self.interrupter is not None:
            self._timer = threading.Timer(self.wall_s, self._wall_fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _message(self, kind: str, seconds: float) -> str:
        return f"{self.what} exceeded its time limit of {seconds:g} s ({kind} time)"

    def _virtual_fire(self, _t: float) -> None:
        if not self._armed:
            return
        self.cancel()
        self.fired = self._message("virtual", float(self.virtual_s or 0))
        raise StepTimeout(self.fired)

    def _wall_fire(self) -> None:
        if not self._armed or self.interrupter is None:
            return
        self._armed = False
        if self._handle is not None:
            self.clock.cancel(self._handle)
        self.fired = self._message("wall", float(self.wall_s or 0))
        self._exc = StepTimeout(self.fired)
        self.interrupter.interrupt(self._exc)

    def cancel(self) -> None:
        self._armed = False
        if self._handle is not None:
            self.clock.cancel(self._handle)
            self._handle = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.interrupter is not None and self._exc is not None:
            self.interrupter.clear(self._exc)

    def __enter__(self) -> Deadline:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cancel()
