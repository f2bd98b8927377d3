"""Fleet administration: which database role writes for which station, who audits.

Roles (created by the first `bench fleet migrate`): fleet_admin owns the schema and runs
migrations; fleet_station may insert and read back its own stations' rows (row-level security),
never update or delete; fleet_auditor reads everything. Login roles are members of one of them.
"""

from __future__ import annotations

import os
import re
from typing import Any

from psycopg import errors, sql

from bench.errors import BenchError
from bench.fleet.config import STATION_ID
from bench.fleet.migrate import ADMIN_ROLE, AUDITOR_ROLE, STATION_ROLE, require_current

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
KINDS = {"station": STATION_ROLE, "auditor": AUDITOR_ROLE, "admin": ADMIN_ROLE}


def _check_role(role: str) -> None:
    if not ROLE_NAME.match(role):
        raise BenchError(
            f"database role {role!r}: expected a lower-case identifier of at most 63 characters (letters, digits, _)"
        )


def _password(env: str | None) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise BenchError(f"--password-env {env}: the environment variable is not set or empty")
    return value


def grant(conn: Any, role: str, kind: str, *, create_login: bool = False, password_env: str | None = None) -> str:
    """Make `role` a member of the fleet group role for `kind` (creating it as a login role if asked)."""
    _check_role(role)
    group = KINDS[kind]
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
    try:
        if not exists:
            if not create_login:
                raise BenchError(
                    f"database role {role!r} does not exist; pass --create-login (with --password-env VAR "
                    "for password login) or create it yourself"
                )
            pw = _password(password_env)
            query = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role))
            if pw is not None:
                query = sql.SQL("{} PASSWORD {}").format(query, sql.Literal(pw))
            conn.execute(query)
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
    except errors.InsufficientPrivilege as exc:
        raise BenchError(
            f"not allowed to manage role {role!r}: {exc.diag.message_primary} (connect as a role with CREATEROLE)"
        ) from None
    return f"role {role} is a member of {group}" + ("" if exists else " (login role created)")


def add_station(
    conn: Any,
    station_id: str,
    role: str,
    *,
    description: str = "",
    create_login: bool = False,
    password_env: str | None = None,
) -> str:
    """Register a station id for a database role (that role may then write only that station's rows)."""
    if not STATION_ID.match(station_id):
        raise BenchError(
            f"station id {station_id!r}: expected at most 64 characters of letters, digits, '.', '_', '-' or space"
        )
    with conn.transaction():
        require_current(conn)
        note = grant(conn, role, "station", create_login=create_login, password_env=password_env)
        row = conn.execute("SELECT db_role FROM fleet.stations WHERE station_id = %s", (station_id,)).fetchone()
        if row is not None and row[0] != role:
            raise BenchError(
                f"station {station_id!r} is already registered for role {row[0]!r}; a station id belongs to one role"
            )
        if row is None:
            conn.execute(
                "INSERT INTO fleet.stations (station_id, db_role, description) VALUES (%s, %s, %s)",
                (station_id, role, description),
            )
    return f"station {station_id!r} writes as {role}; {note}"
