"""The append-only run journal: SQLite in WAL mode, each record committed as it happens.

A crash, a kill or a power cut leaves every committed record on disk; a run whose process is
gone while its status is still RUNNING reads back as ABORTED, never as missing or passed.
Telemetry samples are buffered briefly (at most `series_flush` samples, one second of wall time,
or one step) to keep a multi-channel log cheap; measurements and events are committed one by one.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.journal_file import (  # noqa: F401 - re-exported: the journal's file is part of its API
    ADDED_COLUMNS,
    DAMAGED_ADVICE,
    EMPTY_WAIT_S,
    SCHEMA,
    SCHEMA_VERSION,
    JournalError,
    check_journal_file,
)
from bench.journal_requests import OperatorRequests, iso_utc

INTERRUPTED = "interrupted"  # outcome of a step attempt cut by a crash or kill; a resumed run reruns it

RUNNING, COMPLETED, ABORTED = "RUNNING", "COMPLETED", "ABORTED"
STOPPED = "STOPPED"  # ended early by the plan: a required check failed (verdict FAIL), not cut short from outside


def _pid_alive(pid: int | None, host: str | None) -> bool:
    if not pid:
        return False
    if host != socket.gethostname():
        return True  # another host: cannot tell from here, trust the recorded status
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal(OperatorRequests):
    """One SQLite file holds every run of a station (or report folder)."""

    def __init__(self, path: str | Path, *, series_flush: int = 2000, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        check_journal_file(self.path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(SCHEMA)
            self._migrate()
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise JournalError(f"{self.path}: cannot open the journal: {exc}; {DAMAGED_ADVICE}") from exc
        self._session: dict[str, int] = {}  # run id -> session number this process writes
        self._series_buf: list[tuple[Any, ...]] = []
        self._series_flush = series_flush
        self._last_flush = time.monotonic()

    def _migrate(self) -> None:
        """Add the columns later schemas introduced to a journal written by an earlier bench."""
        for table, cols in ADDED_COLUMNS.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, decl in cols:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        self._db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?",
            (str(SCHEMA_VERSION), SCHEMA_VERSION),
        )

    # -- writing -------------------------------------------------------------------------
    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock, self._named_errors():
            return self._db.execute(sql, tuple(args))

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        """A damaged page met later (truncated or overwritten file) becomes a JournalError naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # locked (Operational), constraint (Integrity), ...
                raise
            raise JournalError(f"{self.path}: journal is damaged: {exc}; {DAMAGED_ADVICE}") from exc

    def start_run(self, run_id: str, **fields: Any) -> None:
        row = {
            "run_id": run_id,
            "status": RUNNING,
            "started_wall": iso_utc(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        for key, value in fields.items():
            row[key] = json.dumps(value, sort_keys=True, default=str) if key.endswith("_json") else value
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._exec(f"INSERT INTO runs ({cols}) VALUES ({marks})", row.values())
        self._open_session(run_id, 1, str(fields.get("operator", "")), str(fields.get("code_version", "")), 0.0)

    def _open_session(self, run_id: str, n: int, operator: str, code_version: str, t_offset: float) -> None:
        self._session[run_id] = n
        self._exec(
            "INSERT INTO sessions (run_id, n, operator, started_wall, pid, host, code_version, t_offset) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, n, operator, iso_utc(), os.getpid(), socket.gethostname(), code_version, t_offset),
        )

    def resume_run(self, run_id: str, *, operator: str, code_version: str) -> int:
        """Reopen an interrupted run for another session; returns the new session number.

        The previous session is closed with the run's status as it read (e.g. ABORTED: the
        process ended without closing the run); its step left mid-way is marked interrupted (its
        partial results stay in the journal, superseded by the rerun). Completed steps stay."""
        run = self.run(run_id)
        if run["status"] == RUNNING:
            raise ValueError(f"run {run_id} is still running (process {run.get('pid')} on {run.get('host')})")
        if run["status"] not in (ABORTED,):
            raise ValueError(
                f"run {run_id} ended {run['status']} ({run.get('verdict')}); only an interrupted "
                "(ABORTED) run can be resumed"
            )
        now = iso_utc()
        with self._lock:
            last = self._db.execute("SELECT MAX(n) FROM sessions WHERE run_id = ?", (run_id,)).fetchone()[0] or 1
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "UPDATE sessions SET ended_wall = COALESCE(ended_wall, ?), end_status = "
                    "COALESCE(end_status, ?), end_reason = COALESCE(end_reason, ?) WHERE run_id = ? AND n = ?",
                    (run.get("ended_wall") or now, run["status"], run.get("reason") or "", run_id, last),
                )
                self._db.execute(
                    "UPDATE steps SET outcome = ?, ended_wall = ?, verdict = 'NONE', message = ? "
                    "WHERE run_id = ? AND ended_wall IS NULL",
                    (INTERRUPTED, now, f"interrupted in session {last}; rerun on resume", run_id),
                )
                self._db.execute(
                    "UPDATE runs SET status = ?, verdict = NULL, reason = NULL, ended_wall = NULL, "
                    "pid = ?, host = ? WHERE run_id = ?",
                    (RUNNING, os.getpid(), socket.gethostname(), run_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._open_session(run_id, last + 1, operator, code_version, self.last_t(run_id))
        return last + 1

    def session_of(self, run_id: str) -> int:
        return self._session.get(run_id, 1)

    def update_run(self, run_id: str, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = [json.dumps(v, sort_keys=True, default=str) if k.endswith("_json") else v for k, v in fields.items()]
        self._exec(f"UPDATE runs SET {sets} WHERE run_id = ?", [*values, run_id])

    def end_run(self, run_id: str, status: str, verdict: str | None, reason: str = "") -> None:
        self.flush_series()
        now = iso_utc()
        self._exec(
            "UPDATE runs SET status = ?, verdict = ?, reason = ?, ended_wall = ? WHERE run_id = ?",
            (status, verdict, reason, now, run_id),
        )
        self._exec(
            "UPDATE sessions SET ended_wall = ?, end_status = ?, end_reason = ? WHERE run_id = ? AND n = ?",
            (now, status, reason, run_id, self.session_of(run_id)),
        )

    def start_step(self, run_id: str, nodeid: str, name: str, clauses: list[str], plan_level: str, t: float) -> None:
        self._exec(
            "INSERT INTO steps (run_id, nodeid, name, clauses_json, plan_level, started_wall, started_t, session)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, nodeid, name, json.dumps(clauses), plan_level, iso_utc(), t, self.session_of(run_id)),
        )

    def end_step(self, run_id: str, nodeid: str, outcome: str, verdict: str, message: str, t: float) -> None:
        self.flush_series()
        self._exec(
            "UPDATE steps SET ended_wall = ?, ended_t = ?, outcome = ?, verdict = ?, message = ? "
            "WHERE run_id = ? AND nodeid = ? AND ended_wall IS NULL",
            (iso_utc(), t, outcome, verdict, message, run_id, nodeid),
        )

    def add_measurement(self, run_id: str, **fields: Any) -> int:
        fields = {
            k: (json.dumps(v, sort_keys=True, default=str) if k.endswith("_json") else v) for k, v in fields.items()
        }
        fields.setdefault("wall", iso_utc())
        fields.setdefault("session", self.session_of(run_id))
        cols = ", ".join(["run_id", *fields])
        marks = ", ".join("?" for _ in range(len(fields) + 1))
        cur = self._exec(f"INSERT INTO measurements ({cols}) VALUES ({marks})", [run_id, *fields.values()])
        return int(cur.lastrowid or 0)

    def add_event(
        self,
        run_id: str,
        kind: str,
        message: str,
        *,
        step: str | None = None,
        data: dict[str, Any] | None = None,
        t: float | None = None,
    ) -> None:
        self._exec(
            "INSERT INTO events (run_id, step, kind, message, data_json, t, wall) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, step, kind, message, json.dumps(data or {}, sort_keys=True, default=str), t, iso_utc()),
        )

    def add_samples(
        self, run_id: str, step: str | None, name: str, unit: str, samples: Iterable[tuple[float, float]]
    ) -> None:
        with self._lock:
            self._series_buf.extend((run_id, step, name, unit, t, v) for t, v in samples)
            if len(self._series_buf) >= self._series_flush or time.monotonic() - self._last_flush > 1.0:
                self.flush_series()

    def flush_series(self) -> None:
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._series_buf:
                return
            buf, self._series_buf = self._series_buf, []
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO series (run_id, step, name, unit, t, value) VALUES (?, ?, ?, ?, ?, ?)", buf
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    CHUNK_FIELDS = ("step", "kind", "grp", "file", "idx", "rows", "samples", "t_first", "t_last", "sha256", "size")

    def add_chunks(self, run_id: str, chunks: Iterable[dict[str, Any]]) -> None:
        """Journal telemetry store records in one transaction: `kind` "chunk" (one flush of a capture
        group: its rows, time span and content digest), "segment" (a Parquet data file: SHA-256 of its
        bytes) or "summary" (its multi-resolution summary file). `file` is relative to the run folder."""
        rows = []
        wall = iso_utc()
        session = self.session_of(run_id)
        for c in chunks:
            unknown = set(c) - set(self.CHUNK_FIELDS)
            if unknown:
                raise ValueError(f"unknown telemetry chunk field(s) {sorted(unknown)}")
            rows.append((run_id, *(c.get(k) for k in self.CHUNK_FIELDS), wall, session))
        if not rows:
            return
        cols = ", ".join(("run_id", *self.CHUNK_FIELDS, "wall", "session"))
        marks = ", ".join("?" for _ in range(len(self.CHUNK_FIELDS) + 3))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(f"INSERT INTO telemetry_chunks ({cols}) VALUES ({marks})", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def add_chunk(
        self,
        run_id: str,
        step: str | None,
        file: str,
        index: int,
        rows: int,
        t_first: float,
        t_last: float,
        sha256: str,
        *,
        kind: str = "chunk",
        grp: str = "",
        samples: int | None = None,
        size: int | None = None,
    ) -> None:
        """One telemetry store record (see add_chunks)."""
        self.add_chunks(
            run_id,
            [
                {
                    "step": step,
                    "kind": kind,
                    "grp": grp,
                    "file": file,
                    "idx": index,
                    "rows": rows,
                    "samples": samples,
                    "t_first": t_first,
                    "t_last": t_last,
                    "sha256": sha256,
                    "size": size,
                }
            ],
        )

    def add_attachment(
        self, run_id: str, name: str, content: bytes, *, kind: str = "application/octet-stream", step: str | None = None
    ) -> None:
        self._exec(
            "INSERT INTO attachments (run_id, step, name, kind, content, wall) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, step, name, kind, content, iso_utc()),
        )

    def close(self) -> None:
        with self._lock:
            try:
                self.flush_series()
            finally:
                self._db.close()

    # -- reading -------------------------------------------------------------------------
    def _rows(self, sql: str, args: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock, self._named_errors():
            params = args if isinstance(args, dict) else tuple(args)
            return [dict(r) for r in self._db.execute(sql, params).fetchall()]

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            rows = self._rows("SELECT * FROM runs WHERE run_id LIKE ? ORDER BY started_wall", (f"{run_id}%",))
            if len(rows) != 1:
                raise KeyError(
                    f"run {run_id!r} not found in journal {self.path}"
                    + (f" ({len(rows)} runs start with it)" if rows else "")
                )
        return self._effective(rows[0])

    def _effective(self, row: dict[str, Any]) -> dict[str, Any]:
        """A RUNNING run whose process is gone is ABORTED: it never finished."""
        for key in list(row):
            if key.endswith("_json") and isinstance(row[key], str):
                name = key[:-5] if key[:-5] not in row else key[:-5] + "_detail"
                row[name] = json.loads(row[key])
        if row["status"] == RUNNING and not _pid_alive(row.get("pid"), row.get("host")):
            row["status"] = ABORTED
            row["verdict"] = row.get("verdict") or "ABORTED"
            row["reason"] = row.get("reason") or "process ended without closing the run (crash, kill or power loss)"
        return row

    def runs(
        self,
        limit: int = 50,
        *,
        batch_id: str | None = None,
        dut_serial: str | None = None,
        plan: str | None = None,
        station: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; optionally only one batch, DUT serial, plan and/or station."""
        where, args = [], []
        for col, value in (("batch_id", batch_id), ("dut_serial", dut_serial), ("plan", plan), ("station", station)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._rows(sql + " ORDER BY started_wall DESC LIMIT ?", (*args, limit))
        return [self._effective(r) for r in rows]

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """Every step attempt in order; a step cut by a crash and rerun after a resume appears twice."""
        rows = self._rows("SELECT * FROM steps WHERE run_id = ? ORDER BY id", (run_id,))
        for r in rows:
            r["clauses"] = json.loads(r.pop("clauses_json") or "[]")
        return rows

    def measurements(self, run_id: str) -> list[dict[str, Any]]:
        """Every measurement in order, with `superseded` true for those of an interrupted step attempt."""
        rows = self._rows("SELECT * FROM measurements WHERE run_id = ? ORDER BY id", (run_id,))
        cut = {
            (r["nodeid"], r["session"])
            for r in self._rows(
                "SELECT nodeid, session FROM steps WHERE run_id = ? AND outcome = ?", (run_id, INTERRUPTED)
            )
        }
        for r in rows:
            r["limit"] = json.loads(r.pop("limit_json") or "null")
            r["instrument_info"] = json.loads(r.pop("instrument_json") or "null")
            r["superseded"] = (r["step"], r["session"]) in cut
        return rows

    def sessions(self, run_id: str) -> list[dict[str, Any]]:
        """The sessions of a run (one, or more after resumes): who, when, how each ended."""
        return self._rows("SELECT * FROM sessions WHERE run_id = ? ORDER BY n", (run_id,))

    def completed_steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        """nodeid -> the step attempt that finished (any outcome but interrupted); what a resume skips."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.steps(run_id):
            if r["ended_wall"] is not None and r["outcome"] not in (None, INTERRUPTED):
                out[r["nodeid"]] = r
        return out

    def last_t(self, run_id: str) -> float:
        """The latest run time journalled (s), so a resumed session's clock continues from it."""
        row = self._rows(
            "SELECT MAX(m) AS t FROM (SELECT MAX(t) AS m FROM measurements WHERE run_id = :r "
            "UNION ALL SELECT MAX(t) FROM events WHERE run_id = :r "
            "UNION ALL SELECT MAX(COALESCE(ended_t, started_t)) FROM steps WHERE run_id = :r "
            "UNION ALL SELECT MAX(t) FROM series WHERE run_id = :r "
            "UNION ALL SELECT MAX(t_last) FROM telemetry_chunks WHERE run_id = :r)",
            {"r": run_id},
        )
        return float(row[0]["t"] or 0.0)

    def events(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,))
        for r in rows:
            r["data"] = json.loads(r.pop("data_json") or "{}")
        return rows

    def events_after(self, run_id: str, after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Events with a row id above `after_id`, oldest first: incremental reading for live viewers."""
        rows = self._rows(
            "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?", (run_id, after_id, limit)
        )
        for r in rows:
            r["data"] = json.loads(r.pop("data_json") or "{}")
        return rows

    def measurements_after(self, run_id: str, after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Measurements with a row id above `after_id`, oldest first (limit and instrument decoded; no
        `superseded`: that is known only once the run's steps are, see `measurements`)."""
        rows = self._rows(
            "SELECT * FROM measurements WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?", (run_id, after_id, limit)
        )
        for r in rows:
            r["limit"] = json.loads(r.pop("limit_json") or "null")
            r["instrument_info"] = json.loads(r.pop("instrument_json") or "null")
        return rows

    def data_version(self) -> int:
        """Changes whenever another connection commits to the journal file (SQLite `PRAGMA data_version`):
        a cheap test for a viewer polling for news; its own writes do not change it."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def series_rowid(self) -> int:
        """The highest telemetry row id of the whole journal (samples flushed so far); grows as samples land."""
        with self._lock:
            return int(self._db.execute("SELECT MAX(rowid) FROM series").fetchone()[0] or 0)

    def series(self, run_id: str, name: str) -> tuple[list[float], list[float]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT t, value FROM series WHERE run_id = ? AND name = ? ORDER BY rowid", (run_id, name)
            ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own (after flushing buffered samples), so long reads never
        hold the writer's lock; an in-memory journal yields its own connection under the lock."""
        self.flush_series()
        if str(self.path) == ":memory:" or not self.path.exists():
            with self._lock:
                yield self._db
            return
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            yield db
        finally:
            db.close()

    def chunks(self, run_id: str, kind: str | None = None, grp: str | None = None) -> list[dict[str, Any]]:
        """Telemetry store records of a run in the order written (optionally one kind and/or group)."""
        where, args = ["run_id = ?"], [run_id]
        for col, value in (("kind", kind), ("grp", grp)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        return self._rows(f"SELECT * FROM telemetry_chunks WHERE {' AND '.join(where)} ORDER BY id", args)

    def attachments(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM attachments WHERE run_id = ? ORDER BY id", (run_id,))

    def mark_aborted(self, run_id: str, reason: str) -> None:
        """Persist what `_effective` infers, so a later reader on another host sees it too."""
        self._exec(
            "UPDATE runs SET status = ?, verdict = 'ABORTED', reason = ?, ended_wall = COALESCE(ended_wall, ?) "
            "WHERE run_id = ?",
            (ABORTED, reason, iso_utc(), run_id),
        )
