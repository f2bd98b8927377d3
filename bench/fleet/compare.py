"""Compare a station journal with the fleet store, row by row, from what the fleet actually holds.

Each fleet row is rebuilt from its typed columns and `_more` and digested with the same function
as the journal row, so equal digests prove the stored values (not just the digest the station
sent) are the journalled ones. Used by `bench sync --verify`, the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from bench.fleet.digest import from_json_value, row_digest
from bench.fleet.folders import folder_index, listing_digest, scan
from bench.fleet.source import JournalSource, run_digest
from bench.fleet.store import CHILD_BOOKKEEPING, STATE_BOOKKEEPING, fleet_columns, join_row, target_for


@dataclass
class TableCheck:
    table: str
    local: int = 0
    fleet: int = 0
    missing: list[Any] = field(default_factory=list)  # in the journal, not in the fleet
    different: list[Any] = field(default_factory=list)  # digest differs
    extra: list[Any] = field(default_factory=list)  # in the fleet (for this journal's runs), not in the journal

    @property
    def equal(self) -> bool:
        return not (self.missing or self.different or self.extra) and self.local == self.fleet


@dataclass
class Comparison:
    tables: list[TableCheck]

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)

    def lines(self) -> list[str]:
        out = []
        for t in self.tables:
            state = (
                "equal"
                if t.equal
                else (f"DIFFERENT: {len(t.missing)} missing, {len(t.different)} changed, {len(t.extra)} extra")
            )
            out.append(f"  {t.table:<14} journal {t.local:>9}  fleet {t.fleet:>9}  {state}")
        return out


def _fleet_rows(conn: Any, fleet_table: str, journal_table: str, run_ids: list[str]) -> dict[tuple[str, int], str]:
    """(run_id, local id) -> digest of the latest revision, rebuilt from the stored values."""
    out: dict[tuple[str, int], str] = {}
    if fleet_table == "journal_rows":
        query = sql.SQL(
            "SELECT DISTINCT ON (run_id, _local_id) run_id, _local_id, row_data FROM fleet.journal_rows "
            "WHERE tbl = %s AND run_id = ANY(%s) ORDER BY run_id, _local_id, _rev DESC"
        )
        with conn.cursor(name="fleet_compare") as cur:
            cur.execute(query, (journal_table, run_ids))
            for run_id, lid, data in cur:
                out[(run_id, lid)] = row_digest(journal_table, lid, {k: from_json_value(v) for k, v in data.items()})
        return out
    with conn.cursor(name="fleet_compare") as cur:
        cur.execute(
            sql.SQL(
                "SELECT DISTINCT ON (run_id, _local_id) * FROM {} WHERE run_id = ANY(%s) "
                "ORDER BY run_id, _local_id, _rev DESC"
            ).format(sql.Identifier("fleet", fleet_table)),
            (run_ids,),
        )
        names = [d.name for d in cur.description]
        for rec in cur:
            row = dict(zip(names, rec, strict=True))
            values = {
                k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in row.items() if k not in CHILD_BOOKKEEPING
            }
            out[(row["run_id"], row["_local_id"])] = row_digest(
                journal_table, row["_local_id"], join_row(values, row["_more"])
            )
    return out


def _check(name: str, local: dict[Any, str], fleet: dict[Any, str]) -> TableCheck:
    t = TableCheck(name, len(local), len(fleet))
    t.missing = sorted(k for k in local if k not in fleet)
    t.different = sorted(k for k in local if k in fleet and fleet[k] != local[k])
    t.extra = sorted(k for k in fleet if k not in local)
    return t


def compare(conn: Any, journal_path: str | Path, *, folders: bool = True, report_dir: Path | None = None) -> Comparison:
    """Every journal table, the runs' states and (optionally) the report folders, journal vs fleet."""
    path = Path(journal_path)
    report_dir = report_dir or path.parent
    columns = fleet_columns(conn)
    checks: list[TableCheck] = []
    with conn.transaction(), JournalSource(path) as src:
        tables, _ = src.synced_tables()
        snap = src.snapshot(tables)
        run_ids = list(snap.runs)
        local_runs = {rid: run_digest(row) for rid, row in snap.runs.items()}
        fleet_runs: dict[str, str] = {}
        with conn.cursor(name="fleet_compare_runs") as cur:
            cur.execute(
                "SELECT DISTINCT ON (run_id) * FROM fleet.run_states WHERE run_id = ANY(%s) ORDER BY run_id, _rev DESC",
                (run_ids,),
            )
            names = [d.name for d in cur.description]
            for rec in cur:
                row = dict(zip(names, rec, strict=True))
                values = {k: v for k, v in row.items() if k not in STATE_BOOKKEEPING}
                fleet_runs[row["run_id"]] = run_digest(join_row(values, row["_more"]))
        checks.append(_check("runs", local_runs, fleet_runs))
        for t in tables:
            local = {}
            for rid in run_ids:
                for lid, row in src.run_rows(t, rid, snap.max_ids[t.name]):
                    local[(rid, lid)] = row_digest(t.name, lid, row)
            target = target_for(t.name, columns)
            checks.append(_check(t.name, local, _fleet_rows(conn, target.fleet_table, t.name, run_ids)))
        if folders:
            checks.append(_compare_folders(conn, report_dir, run_ids))
    return Comparison(checks)


def _compare_folders(conn: Any, report_dir: Path, run_ids: list[str]) -> TableCheck:
    local: dict[Any, str] = {}
    index = folder_index(report_dir)
    for rid in run_ids:
        for name in index.get(rid, []):
            files, dirs = scan(report_dir / name, {})
            local[(rid, name)] = listing_digest(files, dirs)
    fleet = {
        (r[0], r[1]): r[2]
        for r in conn.execute(
            "SELECT DISTINCT ON (run_id, folder) run_id, folder, _sha256 FROM fleet.folders WHERE run_id = ANY(%s) "
            "ORDER BY run_id, folder, _rev DESC",
            (run_ids,),
        )
    }
    return _check("folders", local, fleet)
