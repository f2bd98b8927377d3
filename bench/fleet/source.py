"""Reading a station's journal for synchronisation: read-only, generic, consistent.

The journal (bench/journal.py) is the lead's; the fleet never writes to it and never touches the
Journal object's connection. Its tables and columns are discovered from the SQLite schema, so a
table the journal gains later synchronises without a change here, provided it says which run a
row belongs to (a `run_id` column); one that does not is reported by name and skipped.
Each row's id is its rowid (the INTEGER PRIMARY KEY where there is one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.errors import BenchError
from bench.fleet.digest import row_digest

RUNS = "runs"
NOT_SYNCED = {
    "meta",
    "live",
}  # journal-file metadata (schema version) and the operator view's status cache: not results


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[str, ...]  # every column, in declaration order
    id_column: str | None  # the INTEGER PRIMARY KEY (rowid alias), left out of the row dict
    has_run_id: bool
    without_rowid: bool


@dataclass
class Snapshot:
    """Runs rows and each table's highest rowid, read in one SQLite read transaction."""

    runs: dict[str, dict[str, Any]]
    max_ids: dict[str, int]
    journal_key: str | None


class JournalSource:
    """A read-only SQLite connection of our own on a journal file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BenchError(f"no journal at {self.path} (run a plan first, or pass --report-dir / --journal)")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        self.db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.tables = self._discover()
        if RUNS not in self.tables:
            raise BenchError(f"{self.path}: not a bench journal (no runs table)")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> JournalSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _discover(self) -> dict[str, TableInfo]:
        out: dict[str, TableInfo] = {}
        rows = self.db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        for r in rows:
            info = self.db.execute(f'PRAGMA table_info("{r["name"]}")').fetchall()
            cols = tuple(c["name"] for c in info)
            pks = [c for c in info if c["pk"]]
            alias = pks[0]["name"] if len(pks) == 1 and str(pks[0]["type"]).upper() == "INTEGER" else None
            without = "WITHOUT ROWID" in " ".join(str(r["sql"] or "").upper().split())
            out[r["name"]] = TableInfo(r["name"], cols, None if without else alias, "run_id" in cols, without)
        return out

    def synced_tables(self) -> tuple[list[TableInfo], list[str]]:
        """(per-run tables to synchronise, problems naming tables that cannot be)."""
        good: list[TableInfo] = []
        problems: list[str] = []
        for name, t in sorted(self.tables.items()):
            if name == RUNS or name in NOT_SYNCED:
                continue
            if not t.has_run_id:
                problems.append(
                    f"journal table {name!r} has no run_id column, so its rows cannot be attributed to a "
                    "run: not synchronised (the fleet schema needs a migration for it)"
                )
            elif t.without_rowid:
                problems.append(
                    f"journal table {name!r} is WITHOUT ROWID, so its rows have no stable id: not synchronised"
                )
            else:
                good.append(t)
        return good, problems

    # -- rows ----------------------------------------------------------------------------
    def _row(self, table: TableInfo, r: sqlite3.Row) -> tuple[int, dict[str, Any]]:
        local_id = int(r["__lid"])
        return local_id, {c: r[c] for c in table.columns if c != table.id_column}

    def snapshot(self, tables: list[TableInfo]) -> Snapshot:
        self.db.execute("BEGIN")
        try:
            runs = {r["run_id"]: dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY rowid")}
            key = self.db.execute("SELECT run_id FROM runs ORDER BY rowid LIMIT 1").fetchone()
            max_ids = {
                t.name: int(self.db.execute(f'SELECT coalesce(max(rowid), 0) FROM "{t.name}"').fetchone()[0])
                for t in tables
            }
        finally:
            self.db.execute("COMMIT")
        return Snapshot(runs, max_ids, key[0] if key else None)

    def rows_after(self, table: TableInfo, after: int, upto: int, batch: int) -> Iterator[list[tuple[int, dict]]]:
        """Rows with after < rowid <= upto, in rowid order, `batch` at a time."""
        last = after
        while last < upto:
            rows = self.db.execute(
                f'SELECT rowid AS __lid, * FROM "{table.name}" WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?',
                (last, upto, batch),
            ).fetchall()
            if not rows:
                return
            out = [self._row(table, r) for r in rows]
            last = out[-1][0]
            yield out

    def run_rows(self, table: TableInfo, run_id: str, upto: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.db.execute(
            f'SELECT rowid AS __lid, * FROM "{table.name}" WHERE run_id = ? AND rowid <= ? ORDER BY rowid',
            (run_id, upto),
        ).fetchall()
        return [self._row(table, r) for r in rows]

    def row_at(self, table: TableInfo, local_id: int) -> dict[str, Any] | None:
        r = self.db.execute(f'SELECT rowid AS __lid, * FROM "{table.name}" WHERE rowid = ?', (local_id,)).fetchone()
        return None if r is None else self._row(table, r)[1]

    def counts(self, tables: list[TableInfo]) -> dict[str, int]:
        return {t.name: int(self.db.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]) for t in tables}


def run_digest(row: dict[str, Any]) -> str:
    """Digest of a journal runs row (keyed by run_id, so no local id)."""
    return row_digest(RUNS, None, row)


def effective_states(path: Path, runs: dict[str, dict[str, Any]], journal: Any = None) -> dict[str, tuple[str, str]]:
    """(status, reason) per run as the Journal reads it back: a RUNNING run whose process is gone is
    ABORTED. Only the journal itself can tell (it knows the pid/host rule), so RUNNING rows are read
    through its public `run()`; other rows are taken as they are."""
    out = {rid: (str(r.get("status") or ""), str(r.get("reason") or "")) for rid, r in runs.items()}
    running = [rid for rid, r in runs.items() if r.get("status") == "RUNNING"]
    if not running:
        return out
    from bench.journal import Journal

    j = journal if journal is not None else Journal(path)
    try:
        for rid in running:
            eff = j.run(rid)
            out[rid] = (str(eff["status"]), str(eff.get("reason") or ""))
    finally:
        if journal is None:
            j.close()
    return out
