"""Where the fleet store is and how to reach it: the station file's `[fleet]` table and connections.

Credentials never live in station files (they are copied, committed and attached to records):
a password in the URL is refused, and libpq finds it in PGPASSWORD, PGPASSFILE or ~/.pgpass,
or authenticates with a client certificate (`sslcert`/`sslkey`). TLS options given in the table
or in the URL's query string are passed through to libpq unchanged.

    [fleet]
    url = "postgresql://fleet-db.plant.example/essbench?sslmode=verify-full"
    station_id = "intake-03"          # default: [station] name
    sync_at_run_end = true            # default true
    run_end_budget = "60 s"           # time the run end may spend syncing; the rest goes next time
    connect_timeout = "10 s"
    sslmode = "verify-full"           # disable allow prefer require verify-ca verify-full
    sslrootcert = "certs/fleet-ca.pem"  # paths relative to the station file
    sslcert = "certs/intake-03.crt"
    sslkey = "certs/intake-03.key"
    batch_rows = 5000                 # journal rows per transaction
    folders = true                    # also store the report folders
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.errors import BenchError, ConfigError

FLEET_KEYS = {
    "url",
    "station_id",
    "sync_at_run_end",
    "run_end_budget",
    "connect_timeout",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "batch_rows",
    "folders",
    "application_name",
}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SSL_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
STATION_ID = re.compile(r"^[A-Za-z0-9._ -]{1,64}$")
URL_ENV = "BENCH_FLEET_URL"
DEFAULT_BATCH_ROWS = 5000


@dataclass
class FleetConfig:
    """A validated `[fleet]` table (or the equivalent command-line options)."""

    url: str
    station_id: str = ""
    sync_at_run_end: bool = True
    run_end_budget_s: float = 60.0
    connect_timeout_s: float = 10.0
    ssl: dict[str, str] = field(default_factory=dict)
    batch_rows: int = DEFAULT_BATCH_ROWS
    folders: bool = True
    application_name: str = ""
    source: str = ""

    def conninfo(self, application: str = "ess-bench") -> str:
        return build_conninfo(
            self.url,
            ssl=self.ssl,
            connect_timeout_s=self.connect_timeout_s,
            application_name=self.application_name or application,
        )


def check_url(url: Any, *, source: str | None = None, key: str | None = None) -> str:
    """A postgresql:// URL without a password; anything else is a ConfigError naming where it came from."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("expected a postgresql://host/database URL", source=source, key=key)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"expected a postgresql://host/database URL, got scheme {parts.scheme!r}", source=source, key=key
        )
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ConfigError(
            "the URL holds a password: credentials never go in station files or on the command "
            "line; use PGPASSWORD, a pgpass file (PGPASSFILE, ~/.pgpass) or a client certificate",
            source=source,
            key=key,
        )
    mode = parse_qs(parts.query).get("sslmode")
    if mode and mode[-1] not in SSL_MODES:
        raise ConfigError(
            f"sslmode {mode[-1]!r} in the URL; expected one of {', '.join(SSL_MODES)}", source=source, key=key
        )
    return url


def build_conninfo(
    url: str, *, ssl: dict[str, str] | None = None, connect_timeout_s: float = 10.0, application_name: str = "ess-bench"
) -> str:
    """The libpq connection string: the URL plus TLS options, timeouts and TCP keepalives.

    Keepalives make a connection cut mid-sync (network gone, laptop lid closed) fail within about
    a minute instead of hanging; options already in the URL win over these defaults.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    given = conninfo_to_dict(url)
    extra: dict[str, Any] = {
        "connect_timeout": max(1, math.ceil(connect_timeout_s)),
        "application_name": application_name,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    extra.update(ssl or {})
    return make_conninfo(url, **{k: v for k, v in extra.items() if k not in given})


def connect(conninfo: str, *, autocommit: bool = False) -> Any:
    """A psycopg connection; a failure reads as one line naming the server (never the password)."""
    import psycopg

    try:
        return psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        from psycopg.conninfo import conninfo_to_dict

        d = conninfo_to_dict(conninfo)
        where = (
            f"{d.get('user', '') + '@' if d.get('user') else ''}{d.get('host', 'localhost')}:{d.get('port', 5432)}"
            f"/{d.get('dbname', '')}"
        )
        raise FleetUnreachable(f"cannot connect to the fleet store at {where}: {str(exc).strip()}") from None


class FleetUnreachable(BenchError):
    """The fleet database could not be reached (offline station, wrong address, refused login)."""


def _duration(value: Any, source: str, key: str, errors: list[ConfigError], default: float) -> float:
    if value is None:
        return default
    from bench.safety.timeouts import parse_duration

    try:
        seconds = parse_duration(value, source=source, key=key)
    except ConfigError as exc:
        errors.append(exc)
        return default
    if not math.isfinite(seconds) or not 0 < seconds <= 86400:
        errors.append(ConfigError(f"expected a duration between 0 and 24 h, got {value!r}", source=source, key=key))
        return default
    return seconds


def parse_fleet_table(
    table: Any, *, source: str, station_name: str = "", base: Path | None = None
) -> tuple[FleetConfig | None, list[ConfigError]]:
    """Validate a station file's `[fleet]` table; every problem is returned (the loader reports them at once)."""
    errors: list[ConfigError] = []
    if table is None:
        return None, errors
    if not isinstance(table, dict):
        return None, [ConfigError("expected a table", source=source, key="fleet")]
    for key in sorted(set(table) - FLEET_KEYS):
        errors.append(
            ConfigError(f"unknown key; expected one of {sorted(FLEET_KEYS)}", source=source, key=f"fleet.{key}")
        )
    url = ""
    try:
        url = check_url(table.get("url"), source=source, key="fleet.url")
    except ConfigError as exc:
        errors.append(exc)
    station_id = table.get("station_id", station_name)
    if not isinstance(station_id, str) or not STATION_ID.match(station_id):
        errors.append(
            ConfigError(
                f"expected at most 64 characters of letters, digits, '.', '_', '-' or space, got {station_id!r}",
                source=source,
                key="fleet.station_id",
            )
        )
        station_id = ""
    flags: dict[str, bool] = {}
    for key, default in (("sync_at_run_end", True), ("folders", True)):
        value = table.get(key, default)
        if not isinstance(value, bool):
            errors.append(ConfigError(f"expected true or false, got {value!r}", source=source, key=f"fleet.{key}"))
            value = default
        flags[key] = value
    batch_rows = table.get("batch_rows", DEFAULT_BATCH_ROWS)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or not 1 <= batch_rows <= 100_000:
        errors.append(
            ConfigError(
                f"expected a whole number of rows from 1 to 100000, got {batch_rows!r}",
                source=source,
                key="fleet.batch_rows",
            )
        )
        batch_rows = DEFAULT_BATCH_ROWS
    ssl: dict[str, str] = {}
    mode = table.get("sslmode")
    if mode is not None:
        if mode not in SSL_MODES:
            errors.append(
                ConfigError(f"expected one of {', '.join(SSL_MODES)}, got {mode!r}", source=source, key="fleet.sslmode")
            )
        else:
            ssl["sslmode"] = mode
    for key in SSL_FILES:
        value = table.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            errors.append(ConfigError("expected a file name", source=source, key=f"fleet.{key}"))
            continue
        path = Path(value) if Path(value).is_absolute() or base is None else base / value
        if not path.is_file():
            errors.append(ConfigError(f"file not found: {path}", source=source, key=f"fleet.{key}"))
            continue
        ssl[key] = str(path)
    app = table.get("application_name", "")
    if not isinstance(app, str):
        errors.append(ConfigError("expected text", source=source, key="fleet.application_name"))
        app = ""
    budget = _duration(table.get("run_end_budget"), source, "fleet.run_end_budget", errors, 60.0)
    connect_timeout = _duration(table.get("connect_timeout"), source, "fleet.connect_timeout", errors, 10.0)
    if errors:
        return None, errors
    return FleetConfig(
        url=url,
        station_id=station_id,
        sync_at_run_end=flags["sync_at_run_end"],
        run_end_budget_s=budget,
        connect_timeout_s=connect_timeout,
        ssl=ssl,
        batch_rows=batch_rows,
        folders=flags["folders"],
        application_name=app,
        source=source,
    ), []


def resolve_url(explicit: str | None, station_cfg: FleetConfig | None, *, option: str = "--to") -> tuple[str, str]:
    """(url, where it came from): the option, else the station's [fleet] url, else $BENCH_FLEET_URL."""
    if explicit:
        return check_url(explicit, key=option), option
    if station_cfg is not None:
        return station_cfg.url, f"{station_cfg.source}:fleet.url"
    env = os.environ.get(URL_ENV)
    if env:
        return check_url(env, key=f"${URL_ENV}"), f"${URL_ENV}"
    raise BenchError(
        f"no fleet database given: pass {option} postgresql://host/db, set ${URL_ENV}, or give a "
        "station file with a [fleet] url"
    )
