"""What a running session does for its viewers: honour abort requests, publish live status.

An abort pressed in `bench ui` (in this process or any other) is a row in the journal's
`abort_requests`; the session polls for it on its own clock, like the interlocks: in simulation
from a periodic callback in virtual time (so the abort lands inside the plan's `clock.sleep`, as
deterministic as a trip), throttled to a few journal reads per wall second, and, as a wall-time
backstop, from a thread when the clock has not called back for a while (a plan blocked in a
prompt or an instrument read). The abort takes the Ctrl-C path: the reason (with who asked) is
set on the session and a KeyboardInterrupt is raised in the plan thread, so the bench goes to its
safe state, the run ends ABORTED and the report is rendered.

Live status (the run clock, interlock readings with their margins) goes to the journal's `live`
table at most every `publish_s` of wall time, so a viewer in another process sees it; it is
overwritten, not accumulated, and is not part of the record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bench.units import Q_

POLL_PERIOD_S = 1.0  # clock period of the abort poll (virtual in simulation, wall on hardware)
POLL_WALL_S = 0.25  # at most one journal read per this much wall time
PUBLISH_S = 0.5  # live status written at most this often (wall)
BACKSTOP_S = 1.0  # the wall-time thread polls when the clock has been silent this long


class RunControls:
    def __init__(
        self,
        journal: Any,
        run_id: str,
        clock: Any,
        *,
        abort: Callable[[str, dict[str, Any]], None],
        event: Callable[..., None],
        poll_wall_s: float = POLL_WALL_S,
        publish_s: float = PUBLISH_S,
    ) -> None:
        self.journal = journal
        self.run_id = run_id
        self.clock = clock
        self.abort = abort
        self.event = event
        self.poll_wall_s = poll_wall_s
        self.publish_s = publish_s
        self._seen = 0
        self._handle: Any = None
        self._last_poll = 0.0
        self._last_clock = 0.0
        self._last_interlocks = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.aborted_by: dict[str, Any] | None = None
        self.wall_start = time.time()
        self.t_start = float(clock.now_s())

    def start(self) -> RunControls:
        """Arm the poll. Abort requests made before now (e.g. for an earlier session of a resumed run) are
        not this session's: only newer ones count."""
        done = self.journal.abort_requests(self.run_id)
        self._seen = max((int(r["id"]) for r in done), default=0)
        # In virtual time the poll rides on the clock's own steps (never shorter than max_step, so it
        # adds no physics steps: an intake's 30 s steps stay 30 s); in wall time every POLL_PERIOD_S.
        period = (
            max(float(getattr(self.clock, "max_step", 0.0)), POLL_PERIOD_S) if self.clock.virtual else POLL_PERIOD_S / 2
        )
        self._handle = self.clock.every(Q_(period, "s"), self._on_clock, name="operator-controls")
        self._thread = threading.Thread(target=self._backstop, name="operator-controls-wall", daemon=True)
        self._thread.start()
        self.publish_clock(force=True)
        return self

    def stop(self) -> None:
        """Stop polling; an abort request that arrived after the plan's last step is journalled as such."""
        self._stop.set()
        if self._handle is not None:
            self.clock.cancel(self._handle)
            self._handle = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        if self.aborted_by is None:
            try:
                late = self.journal.abort_requests(self.run_id, self._seen)
            except Exception:  # noqa: BLE001 - closing the run matters more
                late = []
            for r in late:
                self._seen = max(self._seen, int(r["id"]))
                self.event(
                    "abort_request",
                    f"abort requested by {r['requested_by'] or 'unknown'} "
                    f"({r['origin']}) after the plan had finished; the run was already "
                    "ending through its safe state",
                    {"request": r, "honoured": False},
                )

    # -- polling ------------------------------------------------------------------------------
    def _on_clock(self, _t: float) -> None:
        self._last_clock = time.monotonic()
        self.poll()

    def _backstop(self) -> None:
        while not self._stop.wait(BACKSTOP_S / 2):
            if time.monotonic() - max(self._last_clock, self._last_poll) >= BACKSTOP_S:
                try:
                    self.poll()
                except BaseException:  # noqa: BLE001 - a daemon thread must not die on a journal hiccup
                    pass

    def poll(self, *, force: bool = False) -> None:
        """Look for an abort request (wall-throttled unless forced) and publish the clock.
        From the plan thread an abort is raised here; from the backstop thread it is delivered."""
        now = time.monotonic()
        with self._lock:
            if self._stop.is_set() or self.aborted_by is not None:
                return
            if not force and now - self._last_poll < self.poll_wall_s:
                return
            self._last_poll = now
            rows = self.journal.abort_requests(self.run_id, self._seen)
            if rows:
                self._seen = max(int(r["id"]) for r in rows)
                self.aborted_by = rows[0]
        self.publish_clock()
        if self.aborted_by is not None:
            r = self.aborted_by
            reason = f"abort requested by {r['requested_by'] or 'unknown'} ({r['origin']})" + (
                f": {r['reason']}" if r.get("reason") else ""
            )
            self.abort(reason, r)

    # -- live status ----------------------------------------------------------------------------
    def publish_clock(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_clock_pub < self.publish_s:
            return
        self._last_clock_pub = now
        self.journal.set_live(
            self.run_id,
            "clock",
            {
                "t": self.clock.now_s(),
                "virtual": bool(self.clock.virtual),
                "wall": time.time(),
                "wall_start": self.wall_start,
                "t0": self.t_start,
            },
            t=self.clock.now_s(),
        )

    _last_clock_pub = 0.0

    def publish_interlocks(self, margins: Callable[[], list[dict[str, Any]]], *, armed: bool = True) -> None:
        """The interlock watcher's latest sample with margins (called from its `on_sample`); throttled
        before the margins are computed, so a fast virtual clock pays for a few per wall second only."""
        now = time.monotonic()
        if now - self._last_interlocks < self.publish_s:
            return
        self._last_interlocks = now
        self.journal.set_live(
            self.run_id, "interlocks", {"armed": armed, "margins": margins(), "wall": time.time()}, t=self.clock.now_s()
        )
