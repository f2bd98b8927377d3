"""One run as its viewers see it, read incrementally from the journal (the only source).

The terminal view and every `bench ui` page build on this: the run row, its planned steps (the
`plan` event the bench journals at start), step attempts, measurements and events since the last
read (by row id), the live status (clock, interlock margins) and open operator requests. A viewer
started after the run, or in another process, reads the same rows and so shows the same thing.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.journal import RUNNING, Journal
from bench.live.estimate import time_left

PLAN_EVENT = "plan"
SAFE_STATE_KINDS = (
    "safe_state",
    "safe_state_failed",
    "abort",
    "abort_request",
    "interlock",
    "stop",
    "teardown_timeout",
)


def _jsonable_run(run: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "run_id",
        "plan",
        "plan_version",
        "station",
        "dut_serial",
        "operator",
        "status",
        "verdict",
        "reason",
        "started_wall",
        "ended_wall",
        "simulated",
        "site",
        "mode",
        "batch_id",
        "code_version",
    )
    return {k: run.get(k) for k in keep}


class RunView:
    """Incremental reader of one run; `refresh()` returns what changed since the previous call."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.journal = journal
        self.run_id = journal.run(run_id)["run_id"]
        self.run: dict[str, Any] = {}
        self.planned: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.measurements: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.live: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._last_m = 0
        self._last_e = 0

    def refresh(self) -> dict[str, Any]:
        """Read what is new; returns {"run"?, "steps"?, "measurements": [...], "events": [...], "live"?,
        "requests"?} with only the keys that changed (lists of new rows for measurements and events)."""
        changes: dict[str, Any] = {"measurements": [], "events": []}
        run = _jsonable_run(self.journal.run(self.run_id))
        if run != self.run:
            self.run = run
            changes["run"] = run
        new_m = self.journal.measurements_after(self.run_id, self._last_m)
        if new_m:
            self._last_m = int(new_m[-1]["id"])
            rows = [_measurement(m) for m in new_m]
            self.measurements += rows
            changes["measurements"] = rows
        new_e = self.journal.events_after(self.run_id, self._last_e)
        if new_e:
            self._last_e = int(new_e[-1]["id"])
            rows = [_event(e) for e in new_e]
            self.events += rows
            changes["events"] = rows
            for e in new_e:
                if e["kind"] == PLAN_EVENT and isinstance(e["data"].get("steps"), list):
                    self.planned = e["data"]["steps"]
                    changes["planned"] = self.planned
        steps = [_step(s) for s in self.journal.steps(self.run_id)]
        if steps != self.steps:
            self.steps = steps
            changes["steps"] = steps
        live = self.journal.live(self.run_id)
        if live != self.live:
            self.live = live
            changes["live"] = live
        reqs = [_request(r) for r in self.journal.requests(self.run_id)]
        if reqs != self.requests:
            self.requests = reqs
            changes["requests"] = reqs
        return changes

    # -- derived --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run.get("status") == RUNNING

    def now_t(self) -> float | None:
        """The run clock as last published (virtual in simulation), else the latest journalled time."""
        clock = self.live.get("clock", {}).get("data", {})
        t = clock.get("t")
        times = [m["t"] for m in self.measurements[-1:] if m.get("t") is not None]
        times += [e["t"] for e in self.events[-1:] if e.get("t") is not None]
        times += [
            s["ended_t"] or s["started_t"] for s in self.steps[-1:] if (s["ended_t"] or s["started_t"]) is not None
        ]
        best = max([float(x) for x in times] + ([float(t)] if t is not None else []), default=None)
        return best

    def progress(self) -> dict[str, Any]:
        """Step i of N, time in step, elapsed (run and wall) and time left (run; wall at the current pace)."""
        now_t = self.now_t()
        out = time_left(self.planned, self.steps, now_t if self.running else None)
        clock = self.live.get("clock", {}).get("data", {})
        out["virtual"] = bool(clock.get("virtual", bool(self.run.get("simulated"))))
        out["elapsed_s"] = now_t
        wall_start = clock.get("wall_start")
        if self.running and wall_start:
            out["wall_elapsed_s"] = max(time.time() - float(wall_start), 0.0)
        else:
            out["wall_elapsed_s"] = None
        out["in_step_wall_s"] = None
        current = next((s for s in reversed(self.steps) if s["ended_wall"] is None), None)
        if self.running and current is not None and current.get("started_wall"):
            try:
                started = dt.datetime.fromisoformat(str(current["started_wall"]).replace("Z", "+00:00"))
                out["in_step_wall_s"] = max((dt.datetime.now(dt.UTC) - started).total_seconds(), 0.0)
            except ValueError:
                pass
        pace = None
        if out["virtual"] and out["wall_elapsed_s"] and now_t:
            pace = out["wall_elapsed_s"] / max(now_t - float(clock.get("t0", 0.0)), 1e-9)
        out["wall_left_s"] = out["left_s"] * pace if pace is not None and out["left_s"] is not None else None
        return out

    def safe_state_events(self) -> list[dict[str, Any]]:
        """The safe-state sequence, aborts, stops and interlock trips (not interlock notes such as "armed")."""
        return [
            e
            for e in self.events
            if e["kind"] in SAFE_STATE_KINDS and (e["kind"] != "interlock" or e["data"].get("tripped"))
        ]

    def open_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["open"]]

    def snapshot(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "planned": self.planned,
            "steps": self.steps,
            "measurements": self.measurements,
            "events": self.events,
            "live": self.live,
            "requests": self.requests,
        }


def _measurement(m: dict[str, Any]) -> dict[str, Any]:
    limit = m.get("limit") or {}
    return {
        "id": m["id"],
        "step": m["step"],
        "name": m["name"],
        "value": m["value"],
        "unit": m["unit"] or "",
        "verdict": m["verdict"],
        "reason": m["reason"] or "",
        "t": m["t"],
        "wall": m["wall"],
        "required": bool(m.get("required")),
        "limit": _limit_text(limit) if limit else "",
        "clause": m.get("clause") or "",
    }


def _limit_text(limit: dict[str, Any]) -> str:
    from bench.report.render import limit_text

    try:
        return str(limit_text(limit))
    except Exception:  # noqa: BLE001 - a viewer shows what it can
        return ""


def _event(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": e["id"],
        "step": e["step"],
        "kind": e["kind"],
        "message": e["message"] or "",
        "t": e["t"],
        "wall": e["wall"],
        "data": e["data"] if e["kind"] != PLAN_EVENT else {},
    }


def _step(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"],
        "nodeid": s["nodeid"],
        "name": s["name"],
        "clauses": s["clauses"],
        "started_t": s["started_t"],
        "ended_t": s["ended_t"],
        "started_wall": s["started_wall"],
        "ended_wall": s["ended_wall"],
        "outcome": s["outcome"],
        "verdict": s["verdict"],
        "message": s["message"] or "",
        "session": s["session"],
    }


def _request(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "key": r["key"],
        "question": r["question"],
        "spec": r["spec"],
        "step": r["step"],
        "wall": r["wall"],
        "t": r["t"],
        "open": r["open"],
        "answer": r["answer"],
        "answered_by": r["answered_by"],
        "origin": r["origin"],
        "withdrawn": bool(r["withdrawn"]),
    }
