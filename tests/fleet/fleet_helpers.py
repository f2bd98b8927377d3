"""Helpers shared by the fleet tests (the server fixture is in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import plan_fork
import psycopg

from bench.fleet.admin import add_station, grant
from bench.fleet.localserver import LocalPostgres

ROOT = Path(__file__).resolve().parents[2]
ROLE_PASSWORD = "station-" + secrets.token_hex(8)  # every login role the tests create uses it (pgpass '*')


class FleetDB:
    """One migrated database on the session's server, with helpers to make roles."""

    def __init__(self, server: LocalPostgres, name: str) -> None:
        self.server = server
        self.name = name

    def url(self, user: str = "fleet_super", **options: str) -> str:
        return self.server.url(user, self.name, **options)

    def connect(self, user: str = "fleet_super", **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(self.url(user), **kwargs)

    def station_role(self, station_id: str) -> str:
        """A new login role registered to write station_id's rows."""
        role = f"st_{secrets.token_hex(4)}"
        os.environ["FLEET_TEST_PW"] = ROLE_PASSWORD
        with self.connect() as conn:
            add_station(conn, station_id, role, create_login=True, password_env="FLEET_TEST_PW")
        return role

    def auditor_role(self) -> str:
        role = f"au_{secrets.token_hex(4)}"
        os.environ["FLEET_TEST_PW"] = ROLE_PASSWORD
        with self.connect() as conn:
            grant(conn, role, "auditor", create_login=True, password_env="FLEET_TEST_PW")
        return role


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    """The `bench` command line, in this process (same parser, same exit codes, output captured)."""
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(["bench", *args], code, out.getvalue(), err.getvalue())


def bench_process(*args: str, timeout: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The `bench` command line in its own process (forked from the suite's server; it inherits PGPASSFILE),
    for runs of a plan."""
    return plan_fork.run_bench(list(args), cwd=cwd, env=dict(os.environ), timeout=timeout)
