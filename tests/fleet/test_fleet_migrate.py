"""Schema migrations: applied once by the admin command, immutable once applied, required by stations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fleet_helpers import FleetDB, bench

from bench.fleet.localserver import LocalPostgres
from bench.fleet.migrate import REQUIRED_VERSION, MigrationError, migrate, status
from bench.fleet.sync import FleetSync
from bench.fleet.synthetic import StationSpec, build_journal


@pytest.fixture
def empty_db(pg_server: LocalPostgres) -> Iterator[str]:
    name = "t_empty_migrate"
    with psycopg.connect(pg_server.url(database="postgres"), autocommit=True) as su:
        su.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        su.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(pg_server.url(database="postgres"), autocommit=True) as su:
            su.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_applies_every_version_once_then_has_nothing_to_do(pg_server: LocalPostgres, empty_db: str) -> None:
    url = pg_server.url(database=empty_db)
    proc = bench("fleet", "migrate", "--db", url, "--dry-run")
    assert proc.returncode == 0 and "would apply 0001_core.sql" in proc.stdout
    proc = bench("fleet", "migrate", "--db", url)
    assert proc.returncode == 0, proc.stderr
    assert "applied 0001_core.sql" in proc.stdout and f"now at version {REQUIRED_VERSION}" in proc.stdout
    proc = bench("fleet", "migrate", "--db", url)
    assert proc.returncode == 0 and "nothing to do" in proc.stdout
    with psycopg.connect(url) as conn:
        assert [m["state"] for m in status(conn)] == ["applied"] * REQUIRED_VERSION
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'fleet' AND tablename = 'runs'")
        assert owner.fetchone()[0] == "fleet_admin"


def test_a_migration_edited_after_it_was_applied_is_refused(fleet: FleetDB) -> None:
    with fleet.connect() as conn:
        conn.execute("UPDATE fleet.schema_migrations SET sha256 = repeat('0', 64) WHERE version = 1")
        conn.commit()
        assert status(conn)[0]["state"] == "EDITED after it was applied"
        with pytest.raises(MigrationError, match="0001_core.sql was edited after it was applied"):
            migrate(conn)


def test_a_station_refuses_to_sync_into_an_older_schema(
    pg_server: LocalPostgres, empty_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.url(database=empty_db)) as conn:
        migrate(conn, target=1)
    build_journal(tmp_path, StationSpec("st-a", 0, 0.0, 0.0), 1, samples=10)
    with psycopg.connect(pg_server.url(database=empty_db)) as conn:
        with pytest.raises(
            MigrationError, match=f"at version 1, this bench needs {REQUIRED_VERSION}.*bench fleet migrate"
        ):
            FleetSync(conn, tmp_path / "journal.sqlite", "st-a").run()
        assert conn.execute("SELECT count(*) FROM fleet.runs").fetchone()[0] == 0
