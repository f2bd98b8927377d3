"""The fleet side of synchronisation: typed rows, batch inserts, revisions and high-water marks.

Batches are written with COPY into a temporary table and one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so re-sending a batch is harmless (the backstop
behind the high-water marks) and a batch is one round of the protocol, not one per row. Nothing
here updates or deletes: a changed journal row becomes a new revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from bench.fleet.digest import fits, from_json_value, row_digest, to_json_value

GENERIC = "journal_rows"
RESERVED = {
    "stations",
    "runs",
    "run_states",
    GENERIC,
    "sync_marks",
    "sync_sessions",
    "chunks",
    "blobs",
    "folders",
    "schema_migrations",
}
CHILD_BOOKKEEPING = ("_local_id", "_rev", "_station", "_sha256", "_synced_at", "_more")
STATE_BOOKKEEPING = ("_rev", "_station", "_sha256", "_status", "_status_reason", "_synced_at", "_more")
ABSENT = "$absent"  # in _more: typed columns the station's journal did not have


@dataclass
class Target:
    """Where one journal table's rows go: a typed fleet table, or the generic journal_rows."""

    table: str  # the journal table
    fleet_table: str
    typed: dict[str, str] = field(default_factory=dict)  # journal column -> PostgreSQL type

    @property
    def generic(self) -> bool:
        return self.fleet_table == GENERIC


def fleet_columns(conn: Any) -> dict[str, dict[str, str]]:
    rows = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'fleet' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for t, c, ty in rows:
        out.setdefault(t, {})[c] = ty
    return out


def target_for(table: str, columns: dict[str, dict[str, str]]) -> Target:
    cols = columns.get(table)
    if table not in RESERVED and cols and {"run_id", "_local_id", "_rev", "_station", "_sha256"} <= set(cols):
        return Target(table, table, {c: t for c, t in cols.items() if c not in CHILD_BOOKKEEPING})
    return Target(table, GENERIC)


def split_row(row: dict[str, Any], typed: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(values for typed columns, _more): what does not fit a typed column goes to _more, losslessly."""
    values: dict[str, Any] = {}
    more: dict[str, Any] = {}
    for col, value in row.items():
        pg_type = typed.get(col)
        if pg_type is not None and fits(value, pg_type):
            values[col] = bytes(value) if isinstance(value, memoryview) else value
        else:
            more[col] = to_json_value(value)
    absent = sorted(c for c in typed if c not in row)
    if absent:
        more[ABSENT] = absent
    return values, (more or None)


def join_row(values: dict[str, Any], more: dict[str, Any] | None) -> dict[str, Any]:
    """The journal row back from a typed fleet row (inverse of split_row)."""
    row = dict(values)
    more = dict(more or {})
    for col in more.pop(ABSENT, []):
        row.pop(col, None)
    for col, value in more.items():
        row[col] = from_json_value(value)
    return row


class Writer:
    """Batch writer for one connection (one station's sync)."""

    def __init__(self, conn: Any, station_id: str) -> None:
        self.conn = conn
        self.station = station_id
        self._temps: set[str] = set()

    def _temp(self, fleet_table: str) -> sql.Identifier:
        name = f"_in_{fleet_table}"
        if name not in self._temps:
            self.conn.execute(
                sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS").format(
                    sql.Identifier(name), sql.Identifier("fleet", fleet_table)
                )
            )
            self._temps.add(name)
        return sql.Identifier(name)

    def insert(self, fleet_table: str, columns: list[str], records: list[tuple[Any, ...]]) -> int:
        """COPY the records in, keep the ones not there yet; returns how many were new. Call inside a transaction."""
        if not records:
            return 0
        temp = self._temp(fleet_table)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        with self.conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(temp, cols)) as copy:
                for rec in records:
                    copy.write_row(rec)
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                    sql.Identifier("fleet", fleet_table), cols, cols, temp
                )
            )
            n = cur.rowcount
            cur.execute(sql.SQL("TRUNCATE {}").format(temp))
        return max(n, 0)

    # -- journal rows --------------------------------------------------------------------
    def child_records(
        self, target: Target, rows: list[tuple[int, dict[str, Any]]], rev: dict[int, int] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Columns and records for rows of one journal table (rev: revision per local id, default 0)."""
        rev = rev or {}
        if target.generic:
            cols = ["tbl", "run_id", "_local_id", "_rev", "_station", "_sha256", "row_data"]
            recs = [
                (
                    target.table,
                    row.get("run_id"),
                    lid,
                    rev.get(lid, 0),
                    self.station,
                    row_digest(target.table, lid, row),
                    Jsonb({k: to_json_value(v) for k, v in row.items()}),
                )
                for lid, row in rows
            ]
            return cols, recs
        typed_cols = [c for c in target.typed if c != "run_id"]
        cols = ["run_id", "_local_id", "_rev", "_station", "_sha256", "_more", *typed_cols]
        recs = []
        for lid, row in rows:
            values, more = split_row(row, target.typed)
            recs.append(
                (
                    row.get("run_id"),
                    lid,
                    rev.get(lid, 0),
                    self.station,
                    row_digest(target.table, lid, row),
                    Jsonb(more) if more else None,
                    *(values.get(c) for c in typed_cols),
                )
            )
        return cols, recs

    def latest_digests(self, target: Target, run_id: str) -> dict[int, tuple[int, str]]:
        """local id -> (latest revision, its digest) of one run's rows in the fleet."""
        if target.generic:
            rows = self.conn.execute(
                "SELECT DISTINCT ON (_local_id) _local_id, _rev, _sha256 FROM fleet.journal_rows "
                "WHERE tbl = %s AND run_id = %s ORDER BY _local_id, _rev DESC",
                (target.table, run_id),
            ).fetchall()
        else:
            rows = self.conn.execute(
                sql.SQL(
                    "SELECT DISTINCT ON (_local_id) _local_id, _rev, _sha256 FROM {} "
                    "WHERE run_id = %s ORDER BY _local_id, _rev DESC"
                ).format(sql.Identifier("fleet", target.fleet_table)),
                (run_id,),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    # -- runs ----------------------------------------------------------------------------
    def own_runs(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT run_id FROM fleet.runs WHERE _station = %s", (self.station,))}

    def add_run_identities(self, run_ids: list[str], journal_key: str) -> set[str]:
        """Insert identity rows; returns the ids now owned by this station (others belong elsewhere)."""
        if not run_ids:
            return set()
        self.conn.execute(
            "INSERT INTO fleet.runs (run_id, _station, _journal) SELECT r, %s, %s "
            "FROM unnest(%s::text[]) AS r ON CONFLICT DO NOTHING",
            (self.station, journal_key, run_ids),
        )
        rows = self.conn.execute(
            "SELECT run_id FROM fleet.runs WHERE _station = %s AND run_id = ANY(%s)", (self.station, run_ids)
        ).fetchall()
        return {r[0] for r in rows}

    def latest_states(self) -> dict[str, tuple[int, str, str]]:
        """run_id -> (revision, digest, effective status) of this station's runs in the fleet."""
        rows = self.conn.execute(
            "SELECT DISTINCT ON (run_id) run_id, _rev, _sha256, _status FROM fleet.run_states "
            "WHERE _station = %s ORDER BY run_id, _rev DESC",
            (self.station,),
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def state_records(
        self, states: list[tuple[dict[str, Any], int, str, str, str]], typed: dict[str, str]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """states: (runs row, revision, digest, effective status, reason)."""
        typed_cols = [c for c in typed if c != "run_id"]
        cols = ["run_id", "_rev", "_station", "_sha256", "_status", "_status_reason", "_more", *typed_cols]
        recs = []
        for row, rev, digest, status, reason in states:
            values, more = split_row(row, typed)
            recs.append(
                (
                    row["run_id"],
                    rev,
                    self.station,
                    digest,
                    status,
                    reason,
                    Jsonb(more) if more else None,
                    *(values.get(c) for c in typed_cols),
                )
            )
        return cols, recs

    # -- marks ---------------------------------------------------------------------------
    def marks(self, journal_key: str) -> dict[str, tuple[int, str | None]]:
        rows = self.conn.execute(
            "SELECT DISTINCT ON (tbl) tbl, high_id, high_run_id FROM fleet.sync_marks "
            "WHERE _station = %s AND _journal = %s ORDER BY tbl, _seq DESC",
            (self.station, journal_key),
        ).fetchall()
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    def add_mark(self, journal_key: str, table: str, high_id: int, run_id: str | None) -> None:
        self.conn.execute(
            "INSERT INTO fleet.sync_marks (_station, _journal, tbl, high_id, high_run_id) VALUES (%s, %s, %s, %s, %s)",
            (self.station, journal_key, table, high_id, run_id),
        )
