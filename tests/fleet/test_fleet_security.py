"""Roles, row-level security, credentials and TLS of the fleet store, proven on a real server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from fleet_helpers import ROOT, FleetDB, bench
from psycopg.conninfo import conninfo_to_dict

from bench.errors import ConfigError
from bench.fleet.config import build_conninfo, check_url, parse_fleet_table
from bench.fleet.localserver import _write_tls_files
from bench.fleet.migrate import MigrationError, migrate
from bench.fleet.sync import FleetSync, StationNotRegistered
from bench.fleet.synthetic import StationSpec, build_journal


def synced(fleet: FleetDB, tmp: Path, station: str, index: int) -> tuple[str, Path]:
    role = fleet.station_role(station)
    (tmp / station).mkdir(parents=True)
    build_journal(tmp / station, StationSpec(station, index, 0.0, 0.0), 2, samples=30)
    with fleet.connect(role) as conn:
        assert FleetSync(conn, tmp / station / "journal.sqlite", station).run().ok
    return role, tmp / station / "journal.sqlite"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE fleet.measurements SET value = 0",
        "DELETE FROM fleet.measurements",
        "UPDATE fleet.run_states SET _status = 'COMPLETED'",
        "DELETE FROM fleet.runs",
        "TRUNCATE fleet.series",
        "UPDATE fleet.sync_marks SET high_id = 0",
    ],
)
def test_a_station_role_cannot_change_or_remove_results(fleet: FleetDB, tmp_path: Path, statement: str) -> None:
    role, _ = synced(fleet, tmp_path, "st-a", 0)
    with fleet.connect(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        conn.execute(statement)


def test_a_station_cannot_write_or_read_another_stations_rows(fleet: FleetDB, tmp_path: Path) -> None:
    role_a, _ = synced(fleet, tmp_path, "st-a", 0)
    role_b, _ = synced(fleet, tmp_path, "st-b", 1)
    with fleet.connect(role_a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO fleet.runs (run_id, _station, _journal) VALUES ('FORGED', 'st-b', 'x')")
    with fleet.connect(role_a) as conn:
        other = conn.execute("SELECT run_id FROM fleet.runs WHERE _station = 'st-b' LIMIT 1").fetchone()
        assert other is None  # invisible, through the tables and through the views
        assert {r[0] for r in conn.execute("SELECT DISTINCT station_id FROM fleet.v_measurements")} == {"st-a"}
    with fleet.connect() as admin:
        victim = admin.execute("SELECT run_id FROM fleet.runs WHERE _station = 'st-b' LIMIT 1").fetchone()[0]
    with fleet.connect(role_a) as conn, pytest.raises(psycopg.Error):
        # rows claimed for st-a under st-b's run: the run belongs to st-b (foreign key to runs(_station, run_id))
        conn.execute(
            "INSERT INTO fleet.events (run_id, _local_id, _station, _sha256, kind) "
            "VALUES (%s, 999999, 'st-a', 'x', 'forged')",
            (victim,),
        )


def test_an_auditor_reads_every_station_and_writes_nothing(fleet: FleetDB, tmp_path: Path) -> None:
    synced(fleet, tmp_path, "st-a", 0)
    synced(fleet, tmp_path, "st-b", 1)
    auditor = fleet.auditor_role()
    with fleet.connect(auditor) as conn:
        assert {r[0] for r in conn.execute("SELECT DISTINCT station_id FROM fleet.v_runs")} == {"st-a", "st-b"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO fleet.stations (station_id, db_role) VALUES ('x', 'y')")


def test_an_unregistered_role_is_told_who_must_register_it(fleet: FleetDB, tmp_path: Path) -> None:
    role = fleet.station_role("st-a")
    build_journal(tmp_path, StationSpec("st-b", 1, 0.0, 0.0), 1, samples=10)
    with fleet.connect(role) as conn, pytest.raises(StationNotRegistered, match="bench fleet add-station 'st-b'"):
        FleetSync(conn, tmp_path / "journal.sqlite", "st-b").run()


def test_only_an_admin_can_migrate(fleet: FleetDB) -> None:
    role = fleet.station_role("st-a")
    with psycopg.connect(fleet.server.url(database="postgres"), autocommit=True) as su:
        su.execute('DROP DATABASE IF EXISTS "t_fresh_migrate"')
        su.execute('CREATE DATABASE "t_fresh_migrate"')
        su.execute(f'GRANT CREATE ON DATABASE "t_fresh_migrate" TO {role}')
    try:
        with psycopg.connect(fleet.server.url(role, "t_fresh_migrate")) as conn:
            with pytest.raises(MigrationError, match="not a member of fleet_admin"):
                migrate(conn)
    finally:
        with psycopg.connect(fleet.server.url(database="postgres"), autocommit=True) as su:
            su.execute('DROP DATABASE IF EXISTS "t_fresh_migrate" WITH (FORCE)')


def test_passwords_are_refused_in_station_files_and_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fleet.url: the URL holds a password"):
        check_url("postgresql://st:secret@db/fleet", source="st.toml", key="fleet.url")
    with pytest.raises(ConfigError, match="password"):
        check_url("postgresql://db/fleet?password=secret")
    cfg, errors = parse_fleet_table(
        {
            "url": "postgresql://u:pw@db/fleet",
            "sslmode": "sometimes",
            "batch_rows": 0,
            "sslrootcert": "missing.pem",
            "colour": 1,
        },
        source="st.toml",
        station_name="s",
        base=tmp_path,
    )
    assert cfg is None
    keys = sorted(e.key or "" for e in errors)
    assert keys == ["fleet.batch_rows", "fleet.colour", "fleet.sslmode", "fleet.sslrootcert", "fleet.url"]
    proc = bench(
        "sync",
        "--to",
        "postgresql://st:secret@127.0.0.1/fleet",
        "--journal",
        str(tmp_path / "j.sqlite"),
        "--station-id",
        "x",
    )
    assert proc.returncode == 2 and "password" in proc.stderr


def test_tls_options_reach_libpq_and_verify_full_checks_the_server(fleet: FleetDB, tmp_path: Path) -> None:
    role = fleet.station_role("st-a")
    cfg, errors = parse_fleet_table(
        {
            "url": fleet.url(role),
            "sslmode": "verify-full",
            "sslrootcert": str(fleet.server.ca_path),
            "connect_timeout": "5 s",
        },
        source="st.toml",
        station_name="st-a",
        base=tmp_path,
    )
    assert not errors and cfg is not None
    info = cfg.conninfo()
    parts = conninfo_to_dict(info)
    assert parts["sslmode"] == "verify-full" and parts["sslrootcert"] == str(fleet.server.ca_path)
    assert parts["connect_timeout"] == "5" and parts["keepalives"] == "1"
    with psycopg.connect(info) as conn:
        assert conn.info.get_parameters()["sslmode"] == "verify-full"
        assert conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    # options already in the URL win over the table's
    assert (
        conninfo_to_dict(build_conninfo(fleet.url(role, sslmode="disable"), ssl={"sslmode": "require"}))["sslmode"]
        == "disable"
    )
    other_ca, _, _ = _write_tls_files(tmp_path)  # a CA that did not sign the server's certificate
    with pytest.raises(psycopg.OperationalError, match="SSL error|certificate verify failed"):
        psycopg.connect(build_conninfo(fleet.url(role), ssl={"sslmode": "verify-full", "sslrootcert": str(other_ca)}))


def test_bench_sync_takes_url_and_tls_from_the_station_file(fleet: FleetDB, tmp_path: Path) -> None:
    role = fleet.station_role("sim-bench")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "fleet-ca.pem").write_bytes(fleet.server.ca_path.read_bytes())
    station = tmp_path / "station.toml"
    station.write_text(
        f'[station]\ninclude = "{ROOT / "stations" / "sim.toml"}"\n\n[fleet]\nurl = "{fleet.url(role)}"\n'
        'sslmode = "verify-full"\nsslrootcert = "certs/fleet-ca.pem"\n',
        encoding="utf-8",
    )
    build_journal(tmp_path, StationSpec("sim-bench", 0, 0.0, 0.0), 1, samples=10)
    proc = bench("sync", "--station", str(station), "--journal", str(tmp_path / "journal.sqlite"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "station sim-bench: 2 new run(s)" in proc.stdout
    station.write_text(station.read_text().replace("certs/fleet-ca.pem", "certs/other.pem"), encoding="utf-8")
    _write_tls_files(tmp_path / "certs")
    (tmp_path / "certs" / "ca.crt").rename(tmp_path / "certs" / "other.pem")
    proc = bench("sync", "--station", str(station), "--journal", str(tmp_path / "journal.sqlite"))
    assert proc.returncode == 2 and "cannot connect to the fleet store" in proc.stderr
    assert "SSL error" in proc.stderr or "certificate verify failed" in proc.stderr
