"""High-rate capture of one run: sources -> store (chunks, Parquet) and detectors -> journal events.

The session starts it once the instruments are open and stops it after the safe state (so the
transition to safe is captured), before the drivers close. A writer thread flushes every group
at least every `flush` of wall time (a kill loses at most that) and runs the detectors over what
arrived, in capture order. Steps cut the files: every step's data lands in files of its own.
In simulation the CAN node is asked to emit every frame at its DBC cycle while capture runs.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.journal import Journal
from bench.telemetry.config import TelemetrySettings
from bench.telemetry.detectors import Anomaly, Detectors
from bench.telemetry.reader import StoreReader
from bench.telemetry.sources import CanSource, PollSource
from bench.telemetry.store import StoreWriter, recover

ANOMALY = "anomaly"


class Capture:
    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        journal: Journal,
        run_id: str,
        run_dir: str | Path,
        clock: Any,
        instruments: dict[str, Any],
        sim_servers: dict[str, Any] | None = None,
        event: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.clock = clock
        self.instruments = instruments
        self.sim_servers = sim_servers or {}
        self._event = event or (lambda kind, message, data: None)
        self.store: StoreWriter | None = None
        self.detectors: Detectors | None = None
        self.can: list[CanSource] = []
        self.poll: PollSource | None = None
        self._steps: list[tuple[float, str | None]] = [(float("-inf"), None)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exact: list[Any] = []
        self.running = False
        self.errors: list[str] = []

    # -- lifecycle -----------------------------------------------------------------------
    def can_roles(self) -> list[str]:
        s = self.settings.can
        if not s.enabled:
            return []
        if s.roles is not None:
            return list(s.roles)
        return [r for r, d in self.instruments.items() if callable(getattr(d, "subscribe_frames", None))]

    def start(self) -> Capture:
        for rec in recover(self.run_dir, self.journal, self.run_id, on_error=self._store_error):
            if rec["kind"] == "segment":
                self.event(
                    "telemetry",
                    f"recovered {rec['file']} ({rec['rows']} rows) left by an interrupted session",
                    {"file": rec["file"]},
                )
        s = self.settings
        anchor = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.clock.now_s())
        self.store = StoreWriter(
            self.run_dir,
            self.run_id,
            self.journal,
            segment_s=s.segment_s,
            levels_s=s.levels_s,
            on_error=self._store_error,
            utc_anchor=anchor.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        if s.detectors.enabled:
            self.detectors = Detectors(s.detectors, self._anomaly)
        now = self.clock.now_s
        for role in self.can_roles():
            src = CanSource(role, self.instruments[role], self.store, self.detectors, now, s.can.messages, self.event)
            self.can.append(src)
            server = self.sim_servers.get(role)
            exact = getattr(server, "exact_cycles", None)
            if callable(exact):
                exact(True)
                self._exact.append(server)
        if s.channels:
            self.poll = PollSource(
                s.channels, self.instruments, self.clock, self.store, self.detectors, s.rate_hz, self.event
            )
        for src in self.can:
            src.start()
        if self.poll is not None:
            self.poll.start()
        self.running = True
        self._thread = threading.Thread(target=self._loop, name="telemetry-writer", daemon=True)
        self._thread.start()
        self.event(
            "telemetry",
            f"high-rate capture started: CAN {', '.join(self.can_roles()) or 'none'}; "
            f"{len(s.channels)} polled channel(s) at {s.rate_hz:g} Hz; flush every "
            f"{s.flush_s:g} s; files in {self.run_dir.name}/attachments/telemetry",
            {
                **s.describe(),
                "can_roles": self.can_roles(),
                "exact_cycles": [r for r in self.sim_servers if self.sim_servers[r] in self._exact],
                "utc_anchor": self.store.utc_anchor,
                "store": "attachments/telemetry",
            },
        )
        return self

    def _loop(self) -> None:
        period = self.settings.flush_s
        next_at = time.monotonic() + period
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += period
            if next_at < time.monotonic():
                next_at = time.monotonic() + period  # fell behind (a slow disk): never burst
            self._flush_once()

    def _flush_once(self) -> None:
        try:
            if self.store is not None:
                self.store.flush()
            if self.detectors is not None:
                self.detectors.process()
        except Exception as exc:  # noqa: BLE001 - reported; the next flush tries again
            self._store_error(f"telemetry flush failed: {type(exc).__name__}: {exc}", {})

    def set_step(self, nodeid: str | None) -> None:
        """Data from now on belongs to step `nodeid` (None: between steps); cuts every group's file."""
        if not self.running or self.store is None:
            return
        self._settle()
        t = self.clock.now_s()
        self._steps.append((t, nodeid))
        self.store.set_step(nodeid)

    def _settle(self) -> None:
        for src in self.can:
            flush = getattr(src.driver, "flush_received", None)
            if callable(flush):
                flush()

    def sync(self) -> None:
        """Everything captured so far is flushed (and judged by the detectors) before this returns."""
        if not self.running:
            return
        self._settle()
        self._flush_once()

    def stop(self) -> dict[str, Any]:
        """Stop the sources, flush, convert the last segments to Parquet; returns the figures journalled."""
        if not self.running:
            return {}
        self.running = False
        for server in self._exact:
            try:
                server.exact_cycles(False)
            except Exception:  # noqa: BLE001 - the simulation is ending anyway
                pass
        if self.poll is not None:
            self.poll.stop()
        for src in self.can:
            src.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.detectors is not None:
            self.detectors.process()
        assert self.store is not None
        self.store.close()
        st = self.store.stats
        figures = {
            "chunks": st["chunks"],
            "segments": st["segments"],
            "rows": st["rows"],
            "samples": st["samples"],
            "errors": st["errors"],
            "can_frames": {s.role: s.frames for s in self.can},
            "polled_ticks": self.poll.ticks if self.poll else 0,
            "poll_failures": dict(zip([c.name for c in self.settings.channels], self.poll.failures, strict=True))
            if self.poll
            else {},
            "anomalies": len(self.detectors.anomalies) if self.detectors else 0,
        }
        self.event(
            "telemetry",
            f"high-rate capture stopped: {st['samples']:,} samples in {st['chunks']} chunks, "
            f"{st['segments']} Parquet segment(s), {figures['anomalies']} anomaly flag(s)",
            figures,
        )
        return figures

    # -- queries during the run ----------------------------------------------------------
    def has(self, name: str) -> bool:
        if self.store is None:
            return False
        return any(c.name == name for g in self.store.groups.values() for c in g.spec.channels)

    def reader(self) -> StoreReader:
        self.sync()
        return StoreReader(self.journal, self.run_id, self.run_dir, live=True)

    def step_start(self) -> float | None:
        """Run time the current step started (None between steps)."""
        t, nodeid = self._steps[-1]
        return t if nodeid is not None else None

    def step_at(self, t: float) -> str | None:
        i = bisect.bisect_right([s[0] for s in self._steps], t) - 1
        return self._steps[max(i, 0)][1]

    # -- events --------------------------------------------------------------------------
    def event(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        self._event(kind, message, data or {})

    def _anomaly(self, a: Anomaly) -> None:
        try:
            self.journal.add_event(self.run_id, ANOMALY, a.message, step=self.step_at(a.t), data=a.data(), t=a.t)
        except Exception as exc:  # noqa: BLE001 - the detector result is kept in memory too
            self.errors.append(f"anomaly not journalled: {exc}")

    def _store_error(self, message: str, data: dict[str, Any]) -> None:
        self.errors.append(message)
        try:
            self.event("telemetry_error", message, data)
        except Exception:  # noqa: BLE001 - the journal itself may be what failed
            pass
