"""Synchronise one station journal (and its report folders) into the fleet store, idempotently.

The protocol (docs/fleet.md has the long form):
  1. Snapshot the journal: every runs row and each table's highest rowid, in one read transaction.
  2. New runs get an identity row (run_id -> station, journal). A run id some other station owns
     is a conflict: reported, its rows are not sent.
  3. Each table's rows above the station's high-water mark (up to the snapshot) are sent in
     batches; each batch and its new mark are one transaction, so a sync cut anywhere resumes at
     the last committed batch, and ON CONFLICT DO NOTHING makes a re-sent batch harmless.
  4. Runs whose state changed since the fleet last saw them (a RUNNING run finished, a report
     amended), or that were still RUNNING, are re-read whole: rows whose digest changed are stored
     as a new revision (a step closed after it was sent). Then the run's new state is stored, in
     the same transaction, so a cut here is re-done next time.
  5. Report folders: new or changed files are stored content-addressed, then the folder listing.
A run's rows never change after it is closed except through the runs row (amendment, resume),
which is what step 4 watches.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import __version__
from bench.errors import BenchError
from bench.fleet.digest import row_digest
from bench.fleet.migrate import require_current
from bench.fleet.source import JournalSource, Snapshot, TableInfo, effective_states, run_digest
from bench.fleet.store import STATE_BOOKKEEPING, Target, Writer, fleet_columns, target_for

BATCH_BYTES = 32 << 20  # a batch also stops at this much attachment content
STATE_BATCH = 500


class StationNotRegistered(BenchError):
    """The database role may not write for this station id."""


@dataclass
class SyncResult:
    station_id: str
    journal: str
    journal_key: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # new rows stored, per journal table
    revisions: dict[str, int] = field(default_factory=dict)  # changed rows stored again, per table
    new_runs: int = 0
    run_states: int = 0
    folders: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)  # tables or runs that could not be synchronised
    notes: list[str] = field(default_factory=list)
    complete: bool = True  # False when the time budget ran out (the rest goes next time)
    elapsed_s: float = 0.0
    started: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.complete and not self.problems

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values()) + sum(self.revisions.values()) + self.run_states

    def as_dict(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "journal": self.journal,
            "journal_key": self.journal_key,
            "rows": self.rows,
            "revisions": self.revisions,
            "new_runs": self.new_runs,
            "run_states": self.run_states,
            "folders": self.folders,
            "files": self.files,
            "bytes": self.bytes,
            "problems": self.problems,
            "notes": self.notes,
            "complete": self.complete,
            "started": self.started,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def summary(self) -> str:
        sent = ", ".join(f"{t} {n}" for t, n in sorted(self.rows.items()) if n) or "no new rows"
        revs = ", ".join(f"{t} {n}" for t, n in sorted(self.revisions.items()) if n)
        rate = self.total_rows / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"station {self.station_id}: {self.new_runs} new run(s), {self.run_states} run state(s); rows: {sent}"
            + (f"; changed rows: {revs}" if revs else ""),
            f"report folders: {self.folders} stored ({self.files} file(s), {self.bytes} bytes); "
            f"{self.elapsed_s:.2f} s, {rate:.0f} rows/s",
        ]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        if not self.complete:
            lines.append("INCOMPLETE: time budget used up; the rest is sent at the next sync")
        return "\n".join(lines)


class _OutOfTime(Exception):
    pass


class FleetSync:
    """One synchronisation of one journal over one connection (not thread-safe; one per process)."""

    def __init__(
        self,
        conn: Any,
        journal_path: str | Path,
        station_id: str,
        *,
        batch_rows: int = 5000,
        folders: bool = True,
        report_dir: str | Path | None = None,
        deadline: float | None = None,
        journal: Any = None,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        if not conn.autocommit:  # each batch must be its own committed transaction, reads outside any
            from psycopg.pq import TransactionStatus

            if conn.info.transaction_status != TransactionStatus.IDLE:
                raise BenchError("FleetSync needs a connection that is not inside a transaction")
            conn.autocommit = True
        self.conn = conn
        self.path = Path(journal_path)
        self.station = station_id
        self.batch_rows = max(1, int(batch_rows))
        self.folders = folders
        self.report_dir = Path(report_dir) if report_dir is not None else self.path.parent
        self.deadline = deadline
        self.journal = journal
        self.on_batch = on_batch
        self.writer = Writer(conn, station_id)
        self.result = SyncResult(station_id, str(self.path))

    # -- entry point ---------------------------------------------------------------------
    def run(self) -> SyncResult:
        t0 = time.monotonic()
        try:
            with JournalSource(self.path) as src:
                self._run(src)
        except _OutOfTime:
            self.result.complete = False
        finally:
            self.result.elapsed_s = time.monotonic() - t0
        self._log_session()
        return self.result

    def _check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _OutOfTime

    def _run(self, src: JournalSource) -> None:
        with self.conn.transaction():
            require_current(self.conn)
            self._ensure_station()
        columns = fleet_columns(self.conn)
        tables, problems = src.synced_tables()
        self.result.problems += problems
        snap = src.snapshot(tables)
        self.result.journal_key = snap.journal_key
        if snap.journal_key is None:
            self.result.notes.append("the journal holds no runs yet")
            return
        targets = {t.name: target_for(t.name, columns) for t in tables}
        for t in tables:
            if targets[t.name].generic:
                self.result.notes.append(
                    f"journal table {t.name!r} has no typed fleet table: stored as JSON in fleet.journal_rows"
                )
        owned = self._identities(snap)
        self._append_rows(src, snap, tables, targets, owned)
        self._states(src, snap, tables, targets, owned, columns)
        if self.folders:
            from bench.fleet.folders import sync_folders

            sync_folders(self, sorted(owned & set(snap.runs)))

    # -- steps -----------------------------------------------------------------------------
    def _ensure_station(self) -> None:
        row = self.conn.execute("SELECT db_role FROM fleet.stations WHERE station_id = %s", (self.station,)).fetchone()
        if row is not None:
            return
        may_register = self.conn.execute("SELECT has_table_privilege('fleet.stations', 'INSERT')").fetchone()[0]
        user = self.conn.info.user
        if not may_register:
            raise StationNotRegistered(
                f"station {self.station!r} is not registered for database role {user!r}: the fleet admin runs "
                f"`bench fleet add-station {self.station!r} --role {user}`"
            )
        self.conn.execute(
            "INSERT INTO fleet.stations (station_id, db_role, description) VALUES (%s, current_user, %s)",
            (self.station, "registered by its first sync (admin connection)"),
        )
        self.result.notes.append(f"registered station {self.station!r} for role {user!r}")

    def _identities(self, snap: Snapshot) -> set[str]:
        with self.conn.transaction():
            owned = self.writer.own_runs()
            new = [rid for rid in snap.runs if rid not in owned]
            now_owned = self.writer.add_run_identities(new, snap.journal_key or "")
        for rid in new:
            if rid not in now_owned:
                self.result.problems.append(
                    f"run {rid} is already in the fleet store under another station: "
                    "not synchronised from here (copied journal, or a run id collision)"
                )
        self.result.new_runs = len(now_owned)
        self._new_runs = now_owned
        return (owned | now_owned) & set(snap.runs)

    def _mark_start(self, src: JournalSource, table: TableInfo, marks: dict[str, tuple[int, str | None]]) -> int:
        """Where to continue: the mark, unless the row there now belongs to another run (or is gone).

        Rows below the mark may change (a step closed, a session ended: step 4 handles those), but
        not the run they belong to; a different run there means another or restored journal file."""
        high, run_id = marks.get(table.name, (0, None))
        row = src.row_at(table, high) if high else None
        if high and (row is None or row.get("run_id") != run_id):
            self.result.notes.append(
                f"{table.name}: the row at the high-water mark ({high}) is not the one sent "
                "(journal replaced or restored?): re-checking the whole table"
            )
            return 0
        return high

    def _append_rows(
        self, src: JournalSource, snap: Snapshot, tables: list[TableInfo], targets: dict[str, Target], owned: set[str]
    ) -> None:
        key = snap.journal_key or ""
        marks = self.writer.marks(key)
        for table in tables:
            start = self._mark_start(src, table, marks)
            target = targets[table.name]
            sent = 0
            for rows in self._sized(src.rows_after(table, start, snap.max_ids[table.name], self.batch_rows)):
                self._check_time()
                keep = [(lid, r) for lid, r in rows if r.get("run_id") in owned]
                orphans = {str(r.get("run_id")) for _, r in rows if r.get("run_id") not in snap.runs}
                if orphans:
                    self.result.problems.append(
                        f"{table.name}: rows of run(s) not in the runs table: {', '.join(sorted(orphans))[:200]}"
                    )
                last_id, last_row = rows[-1]
                cols, recs = self.writer.child_records(target, keep)
                with self.conn.transaction():
                    sent += self.writer.insert(target.fleet_table, cols, recs)
                    self.writer.add_mark(key, table.name, last_id, last_row.get("run_id"))
                if self.on_batch is not None:
                    self.on_batch(table.name, last_id)
            self.result.rows[table.name] = self.result.rows.get(table.name, 0) + sent

    @staticmethod
    def _sized(batches: Any) -> Any:
        """Split row batches so one transaction carries at most BATCH_BYTES of blob content."""
        for rows in batches:
            chunk: list[tuple[int, dict]] = []
            size = 0
            for lid, row in rows:
                n = sum(len(v) for v in row.values() if isinstance(v, bytes))
                if chunk and size + n > BATCH_BYTES:
                    yield chunk
                    chunk, size = [], 0
                chunk.append((lid, row))
                size += n
            if chunk:
                yield chunk

    def _states(
        self,
        src: JournalSource,
        snap: Snapshot,
        tables: list[TableInfo],
        targets: dict[str, Target],
        owned: set[str],
        columns: dict[str, dict[str, str]],
    ) -> None:
        typed = {c: t for c, t in columns["run_states"].items() if c not in STATE_BOOKKEEPING}
        effective = effective_states(self.path, snap.runs, self.journal)
        latest = self.writer.latest_states()
        plain: list[tuple[dict[str, Any], int, str, str, str]] = []
        for rid in [r for r in snap.runs if r in owned]:
            row = snap.runs[rid]
            digest = run_digest(row)
            status, reason = effective[rid]
            prev = latest.get(rid)
            if prev is not None and prev[1] == digest and prev[2] == status and status != "RUNNING":
                continue  # the fleet has this state, and the run's rows cannot have changed since
            state = (row, 0 if prev is None else prev[0] + 1, digest, status, reason)
            if rid in self._new_runs:
                plain.append(state)  # all its rows were just sent in step 3
                continue
            self._check_time()
            with self.conn.transaction():
                for table in tables:
                    self._rescan(src, table, targets[table.name], rid, snap.max_ids[table.name])
                if prev is None or prev[1] != digest or prev[2] != status:
                    self._insert_states([state], typed)
        for i in range(0, len(plain), STATE_BATCH):
            self._check_time()
            with self.conn.transaction():
                self._insert_states(plain[i : i + STATE_BATCH], typed)

    def _insert_states(self, states: list[tuple[dict[str, Any], int, str, str, str]], typed: dict[str, str]) -> None:
        cols, recs = self.writer.state_records(states, typed)
        self.result.run_states += self.writer.insert("run_states", cols, recs)

    def _rescan(self, src: JournalSource, table: TableInfo, target: Target, run_id: str, upto: int) -> None:
        """Store rows of one run that changed (or are missing) since they were sent, as new revisions."""
        fleet = self.writer.latest_digests(target, run_id)
        changed: list[tuple[int, dict]] = []
        revs: dict[int, int] = {}
        for lid, row in src.run_rows(table, run_id, upto):
            have = fleet.get(lid)
            if have is not None and have[1] == row_digest(table.name, lid, row):
                continue
            changed.append((lid, row))
            revs[lid] = 0 if have is None else have[0] + 1
        if changed:
            cols, recs = self.writer.child_records(target, changed, revs)
            n = self.writer.insert(target.fleet_table, cols, recs)
            self.result.revisions[table.name] = self.result.revisions.get(table.name, 0) + n

    def _log_session(self) -> None:
        """Best effort: a row in fleet.sync_sessions saying how this sync went (for `bench fleet status`)."""
        r = self.result
        if r.journal_key is None or self.conn.closed or self.conn.broken:
            return
        outcome = "complete" if r.ok else ("partial" if not r.complete else "problems")
        try:
            from psycopg.types.json import Jsonb

            with self.conn.transaction():
                self.conn.execute(
                    "INSERT INTO fleet.sync_sessions (_station, _journal, started_at, host, client_version, outcome, "
                    "rows_sent, files_sent, bytes_sent, message) VALUES (%s, %s, to_timestamp(%s), %s, %s, %s, %s, %s, "
                    "%s, %s)",
                    (
                        self.station,
                        r.journal_key,
                        r.started,
                        socket.gethostname(),
                        __version__,
                        outcome,
                        Jsonb(
                            {
                                **r.rows,
                                **{f"{k} (changed)": v for k, v in r.revisions.items()},
                                "run_states": r.run_states,
                            }
                        ),
                        r.files,
                        r.bytes,
                        "; ".join(r.problems)[:2000],
                    ),
                )
        except Exception as exc:  # the data is in; the log line is not worth failing for
            r.notes.append(f"sync log not written: {type(exc).__name__}: {exc}")


def sync_journal(conninfo: str, journal_path: str | Path, station_id: str, **options: Any) -> SyncResult:
    """Connect, synchronise one journal, disconnect (options as FleetSync's)."""
    from bench.fleet.config import connect

    conn = connect(conninfo)
    try:
        return FleetSync(conn, journal_path, station_id, **options).run()
    finally:
        conn.close()
