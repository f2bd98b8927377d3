"""The journal's operator records: prompts asked and answered (at the terminal or in `bench ui`),
abort requests from a viewer, and the live status viewers read. A mixin of Journal, which gives
`_exec`, `_rows` and `path`; one file per concept."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any


def iso_utc() -> str:
    """Wall time as the journal writes it: UTC, milliseconds, Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OperatorRequests:
    """Requests, answers, abort requests and live status rows of the journal."""

    _exec: Any
    _rows: Any
    path: Any

    def open_request(
        self,
        run_id: str,
        key: str,
        question: str,
        spec: dict[str, Any],
        *,
        step: str | None = None,
        t: float | None = None,
        kind: str = "prompt",
    ) -> int:
        """A question the plan waits on; any viewer may answer it once (`answer_request`)."""
        cur = self._exec(
            "INSERT INTO requests (run_id, step, kind, key, question, spec_json, t, wall) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step, kind, key, question, json.dumps(spec, sort_keys=True, default=str), t, iso_utc()),
        )
        return int(cur.lastrowid or 0)

    def answer_request(self, request_id: int, answer: str, *, by: str, origin: str) -> dict[str, Any]:
        """Record an answer; the first resolution of a request wins (a UNIQUE row per request, so two
        processes answering at once cannot both win). Returns the resolution that stands, with `won`."""
        return self._resolve(request_id, answer, by, origin, withdrawn=False)

    def withdraw_request(self, request_id: int, reason: str) -> dict[str, Any]:
        """Close a request nobody answered (the prompt gave up, the step or run ended); later answers lose."""
        return self._resolve(request_id, None, "", reason, withdrawn=True)

    def _resolve(self, request_id: int, answer: str | None, by: str, origin: str, *, withdrawn: bool) -> dict[str, Any]:
        req = self._rows("SELECT run_id FROM requests WHERE id = ?", (request_id,))
        if not req:
            raise KeyError(f"no operator request {request_id} in journal {self.path}")
        try:
            self._exec(
                "INSERT INTO answers (request_id, run_id, answer, answered_by, origin, withdrawn, wall) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (request_id, req[0]["run_id"], answer, by, origin, int(withdrawn), iso_utc()),
            )
            won = True
        except sqlite3.IntegrityError:
            won = False
        row = self.resolution(request_id)
        assert row is not None
        return {**row, "won": won}

    def resolution(self, request_id: int) -> dict[str, Any] | None:
        """How a request was closed (answer, answered_by, origin, withdrawn, wall), or None while open."""
        rows = self._rows(
            "SELECT answer, answered_by, origin, withdrawn, wall FROM answers WHERE request_id = ?", (request_id,)
        )
        return rows[0] if rows else None

    def requests(self, run_id: str, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Operator requests of a run in order, each with its resolution (None while open)."""
        rows = self._rows(
            "SELECT r.*, a.answer, a.answered_by, a.origin, a.withdrawn, a.wall AS answered_wall, "
            "a.id AS answer_id FROM requests r LEFT JOIN answers a ON a.request_id = r.id "
            "WHERE r.run_id = ?" + (" AND a.id IS NULL" if open_only else "") + " ORDER BY r.id",
            (run_id,),
        )
        for r in rows:
            r["spec"] = json.loads(r.pop("spec_json") or "{}")
            r["open"] = r.pop("answer_id") is None
        return rows

    def request_abort(self, run_id: str, *, by: str, origin: str, reason: str = "") -> int:
        """Ask the process running `run_id` to abort it (it polls `abort_requests`); journalled with who asked."""
        cur = self._exec(
            "INSERT INTO abort_requests (run_id, requested_by, origin, reason, wall) VALUES (?, ?, ?, ?, ?)",
            (run_id, by, origin, reason, iso_utc()),
        )
        return int(cur.lastrowid or 0)

    def abort_requests(self, run_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM abort_requests WHERE run_id = ? AND id > ? ORDER BY id", (run_id, after_id))

    def set_live(self, run_id: str, kind: str, data: dict[str, Any], t: float | None = None) -> None:
        """The latest live status of a kind (interlock readings and margins, the run clock) for viewers.
        Overwritten at each update and not part of the record: results and events stay append-only."""
        self._exec(
            "INSERT OR REPLACE INTO live (run_id, kind, data_json, t, wall) VALUES (?, ?, ?, ?, ?)",
            (run_id, kind, json.dumps(data, sort_keys=True, default=str), t, iso_utc()),
        )

    def live(self, run_id: str) -> dict[str, dict[str, Any]]:
        """kind -> {data, t, wall}: the latest live status written by the process running the run."""
        return {
            r["kind"]: {"data": json.loads(r["data_json"] or "{}"), "t": r["t"], "wall": r["wall"]}
            for r in self._rows("SELECT * FROM live WHERE run_id = ?", (run_id,))
        }
