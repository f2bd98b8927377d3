"""A real PostgreSQL 15 server for the fleet tests: started once per session in a temporary folder.

Debian's postgresql-15 (initdb + pg_ctl) on a free 127.0.0.1 port with its socket in the folder,
TLS on (a throwaway CA), run as an unprivileged user when the suite runs as root, stopped and
removed at the end. Each test gets its own freshly migrated database. Where the server binaries
cannot be installed the tests skip with the reason; on CI (root with apt, `make postgres`) a
missing server is a failure, not a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fleet_helpers import ROLE_PASSWORD, FleetDB

from bench.fleet.localserver import LocalPostgres, ServerUnavailable, find_bindir
from bench.fleet.migrate import migrate

TEMPLATE = "fleet_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    try:
        find_bindir()
    except ServerUnavailable as exc:
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail(f"{exc}; CI runs as root with apt, where `make postgres` installs it")
        pytest.skip(str(exc))
    server = LocalPostgres(tls=True, max_connections=80)
    server.start()
    pgpass = tmp_path_factory.mktemp("pg") / "pgpass"
    pgpass.write_text(
        f"127.0.0.1:{server.port}:*:fleet_super:{server.password}\n127.0.0.1:{server.port}:*:*:{ROLE_PASSWORD}\n",
        encoding="utf-8",
    )
    pgpass.chmod(0o600)
    saved = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(pgpass)  # libpq reads it in this process and in `bench` subprocesses
    with psycopg.connect(server.url(database="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{TEMPLATE}" STRATEGY FILE_COPY')
    with psycopg.connect(server.url(database=TEMPLATE)) as conn:
        migrate(conn)  # once; each test's database is a file copy of this one
    try:
        yield server
    finally:
        if saved is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = saved
        server.stop()


@contextmanager
def fleet_database(server: LocalPostgres) -> Iterator[FleetDB]:
    """A new database, a file copy of the migrated template; dropped afterwards."""
    name = f"t_{secrets.token_hex(5)}"
    with psycopg.connect(server.url(database="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
    try:
        yield FleetDB(server, name)
    finally:
        with psycopg.connect(server.url(database="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fleet(pg_server: LocalPostgres) -> Iterator[FleetDB]:
    with fleet_database(pg_server) as db:
        yield db


@pytest.fixture(scope="module")
def module_fleet(pg_server: LocalPostgres) -> Iterator[FleetDB]:
    """One database shared by a module's read-only tests."""
    with fleet_database(pg_server) as db:
        yield db
