"""Schema migrations of the fleet store: plain versioned SQL files and a version table.

Why plain SQL and not Alembic: the schema is PostgreSQL-specific on purpose (row-level security,
grants, triggers, security-invoker views), there is no ORM model to autogenerate from, and an
auditor can read `bench/fleet/migrations/NNNN_name.sql` as they are. Each file is applied once,
in order, by an explicit `bench fleet migrate` (never implicitly by a station), as role
fleet_admin so that role owns every object; its SHA-256 is recorded, and a file edited after it
was applied is refused (migrations are immutable: add a new one).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ADMIN_ROLE, STATION_ROLE, AUDITOR_ROLE = "fleet_admin", "fleet_station", "fleet_auditor"
ROLES = (ADMIN_ROLE, STATION_ROLE, AUDITOR_ROLE)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x455353_464C54  # pg_advisory_xact_lock: one migrator at a time


class MigrationError(BenchError):
    """The schema cannot be brought to, or is not at, the version this bench needs."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str
    sha256: str


def available(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a misnamed or duplicated file is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql (lower case), e.g. 0003_views.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version} also used by {found[version].path.name}")
        raw = path.read_bytes()
        found[version] = Migration(version, m.group(2), path, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"{folder}: migration versions must run 1, 2, 3 ... without gaps, found {versions}")
    return [found[v] for v in versions]


REQUIRED_VERSION = len(available())


def applied(conn: Any) -> dict[int, dict[str, Any]]:
    """Applied migrations by version ({} on a database never migrated)."""
    exists = conn.execute("SELECT to_regclass('fleet.schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return {}
    rows = conn.execute(
        "SELECT version, name, sha256, applied_at, applied_by FROM fleet.schema_migrations ORDER BY version"
    ).fetchall()
    return {r[0]: {"version": r[0], "name": r[1], "sha256": r[2], "applied_at": r[3], "applied_by": r[4]} for r in rows}


def schema_version(conn: Any) -> int:
    done = applied(conn)
    return max(done) if done else 0


def status(conn: Any) -> list[dict[str, Any]]:
    """One line per migration known here or applied there: applied, pending, EDITED or UNKNOWN."""
    done = applied(conn)
    out: list[dict[str, Any]] = []
    for m in available():
        row = done.get(m.version)
        if row is None:
            state = "pending"
        elif row["sha256"] != m.sha256:
            state = "EDITED after it was applied"
        else:
            state = "applied"
        out.append(
            {
                "version": m.version,
                "name": m.name,
                "state": state,
                "applied_at": row["applied_at"] if row else None,
                "applied_by": row["applied_by"] if row else None,
            }
        )
    for version, row in sorted(done.items()):
        if version > REQUIRED_VERSION:
            out.append(
                {
                    "version": version,
                    "name": row["name"],
                    "state": "UNKNOWN to this bench (newer)",
                    "applied_at": row["applied_at"],
                    "applied_by": row["applied_by"],
                }
            )
    return out


def _check_edits(done: dict[int, dict[str, Any]], migrations: list[Migration]) -> None:
    for m in migrations:
        row = done.get(m.version)
        if row is not None and row["sha256"] != m.sha256:
            raise MigrationError(
                f"migration {m.path.name} was edited after it was applied to this database (applied sha256 "
                f"{row['sha256'][:16]}…, file {m.sha256[:16]}…); applied migrations are immutable: restore the "
                "file and add a new migration"
            )


def _bootstrap(conn: Any) -> None:
    """Roles, schema and version table: the one part that needs CREATEROLE / CREATE on the database."""
    import psycopg
    from psycopg import sql

    for role in ROLES:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            try:
                conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
            except psycopg.errors.InsufficientPrivilege as exc:
                raise MigrationError(
                    f"cannot create role {role}: the first `bench fleet migrate` must connect as a superuser or a "
                    f"role with CREATEROLE ({exc.diag.message_primary})"
                ) from None
    member = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (ADMIN_ROLE,)).fetchone()[0]
    if not member:
        try:
            conn.execute(f'GRANT "{ADMIN_ROLE}" TO CURRENT_USER')
        except psycopg.errors.InsufficientPrivilege:
            raise MigrationError(
                f"{conn.info.user} is not a member of {ADMIN_ROLE}: ask the database owner to "
                f"GRANT {ADMIN_ROLE} TO {conn.info.user}"
            ) from None
    try:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS fleet AUTHORIZATION "{ADMIN_ROLE}"')
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            f"cannot create schema fleet: {exc.diag.message_primary}; connect as the "
            "database owner for the first migration"
        ) from None
    # batches go through temporary tables (COPY, then INSERT ... ON CONFLICT DO NOTHING); PUBLIC
    # has TEMPORARY by default, a hardened database may have revoked it (a warning if not the owner)
    dbname = conn.execute("SELECT current_database()").fetchone()[0]
    conn.execute(
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(STATION_ROLE))
    )
    conn.execute(f'SET LOCAL ROLE "{ADMIN_ROLE}"')
    conn.execute("""CREATE TABLE IF NOT EXISTS fleet.schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(), applied_by name NOT NULL DEFAULT session_user)""")
    conn.execute(f'GRANT SELECT ON fleet.schema_migrations TO "{STATION_ROLE}", "{AUDITOR_ROLE}"')


def migrate(conn: Any, *, target: int | None = None, dry_run: bool = False) -> list[Migration]:
    """Apply the pending migrations up to `target` in one transaction; return what was (or would be) applied."""
    migrations = available()
    target = REQUIRED_VERSION if target is None else target
    if not 0 <= target <= REQUIRED_VERSION:
        raise MigrationError(f"--to {target}: this bench knows versions 1..{REQUIRED_VERSION}")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        done = applied(conn)
        _check_edits(done, migrations)
        current = max(done) if done else 0
        if current > target:
            raise MigrationError(f"the database is at version {current}, above {target}; migrations only go forward")
        pending = [m for m in migrations if current < m.version <= target]
        if dry_run or not pending:
            return pending
        _bootstrap(conn)
        for m in pending:
            try:
                conn.execute(m.sql)
            except Exception as exc:
                raise MigrationError(
                    f"migration {m.path.name} failed, nothing was applied: {type(exc).__name__}: {exc}"
                ) from exc
            conn.execute(
                "INSERT INTO fleet.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                (m.version, m.name, m.sha256),
            )
    return pending


def require_current(conn: Any) -> int:
    """Refuse to synchronise into a schema older than this bench's (a station never migrates)."""
    version = schema_version(conn)
    if version < REQUIRED_VERSION:
        raise MigrationError(
            f"the fleet database schema is at version {version}, this bench needs {REQUIRED_VERSION}: ask the fleet "
            "admin to run `bench fleet migrate` (stations never change the schema)"
        )
    return version
