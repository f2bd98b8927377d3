"""`bench fleet ...`: the fleet store's schema, roles and the questions people ask of it.

    bench fleet migrate                  apply schema migrations (admin; never done by a station)
    bench fleet status                   schema version, stations, last synchronisation of each
    bench fleet add-station ID --role R  let database role R write station ID's rows (only those)
    bench fleet add-auditor ROLE         read-only access to everything
    bench fleet runs --dut SERIAL        a module's runs across stations and time
    bench fleet yield --by batch|station|period
    bench fleet stats [--measurement NAME]   mean, spread, Cpk, station bias, drift per limit and station
    bench fleet calibration              instruments' calibration due/expired per station
    bench fleet aborted                  ABORTED runs nobody has followed up
    bench fleet fetch RUN_ID --out DIR   recreate a run's report folder byte for byte (then `bench verify`)

Tables print aligned; --csv and --json give every column for spreadsheets and scripts.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def _when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date or time such as 2026-03-01 or 2026-03-01T12:00, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date such as 2026-03-01, got {text!r}") from None


def _common(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    p.add_argument(
        "--db", metavar="URL", help="fleet database (default: --station FILE's [fleet] url, else $BENCH_FLEET_URL)"
    )
    p.add_argument(
        "--station-file",
        type=Path,
        metavar="FILE",
        help="take the database and TLS options from this station file's [fleet] table",
    )
    if output:
        fmt = p.add_mutually_exclusive_group()
        fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="CSV with every column")
        fmt.add_argument("--json", dest="fmt", action="store_const", const="json", help="JSON with every column")
        p.set_defaults(fmt="table")


def _window(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", type=_when, help="from this date/time on (UTC unless given)")
    p.add_argument("--until", type=_when, help="before this date/time")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fleet",
        help="fleet store: migrations, roles, fleet queries, fetch a run's report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s = p.add_subparsers(dest="fleet_cmd", metavar="ACTION", required=True)

    m = s.add_parser("migrate", help="apply pending schema migrations (admin)")
    _common(m, output=False)
    m.add_argument("--to", type=int, dest="target", metavar="VERSION", help="stop at this version")
    m.add_argument("--dry-run", action="store_true", help="list what would be applied")
    m.set_defaults(func=_migrate)

    st = s.add_parser("status", help="schema version, migrations, stations and their last sync")
    _common(st)
    st.set_defaults(func=_status)

    a = s.add_parser("add-station", help="register a station id for a database role (insert-only, own rows)")
    _common(a, output=False)
    a.add_argument("station_id")
    a.add_argument("--role", required=True, help="database login role the station connects as")
    a.add_argument("--description", default="")
    a.add_argument("--create-login", action="store_true", help="create the role if it does not exist")
    a.add_argument("--password-env", metavar="VAR", help="with --create-login: the password is in this variable")
    a.set_defaults(func=_add_station)

    au = s.add_parser("add-auditor", help="give a database role read-only access to the whole fleet")
    _common(au, output=False)
    au.add_argument("role")
    au.add_argument("--create-login", action="store_true")
    au.add_argument("--password-env", metavar="VAR")
    au.set_defaults(func=_add_auditor)

    r = s.add_parser("runs", help="runs by DUT serial, station, plan, status, time")
    _common(r)
    _window(r)
    r.add_argument("--dut", help="DUT serial")
    r.add_argument("--station", help="fleet station id")
    r.add_argument("--plan")
    r.add_argument("--status", choices=["RUNNING", "COMPLETED", "ABORTED"])
    r.add_argument("--limit", type=int, default=200)
    r.set_defaults(func=_runs)

    y = s.add_parser("yield", help="yield and grade distribution by batch, station or period")
    _common(y)
    _window(y)
    y.add_argument("--by", choices=["batch", "station", "period"], default="batch")
    y.add_argument("--batch", help="one batch id")
    y.add_argument("--station")
    y.add_argument(
        "--plan", default="module_intake", help="plan whose runs are graded (default module_intake; '' for all)"
    )
    y.add_argument("--period", choices=["day", "week", "month", "quarter", "year"], default="month")
    y.set_defaults(func=_yield)

    sa = s.add_parser("stats", help="measurement statistics per limit and station (Cpk, bias, drift)")
    _common(sa)
    _window(sa)
    sa.add_argument("--measurement", help="measurement name; * matches anything (e.g. 'dcir.*')")
    sa.add_argument("--station")
    sa.set_defaults(func=_stats)

    c = s.add_parser("calibration", help="calibration due/expired per station and instrument")
    _common(c)
    c.add_argument("--on", type=_day, help="status on this day (default today)")
    c.add_argument("--warn-days", type=int, default=30, help="'DUE SOON' within this many days (default 30)")
    c.add_argument("--station")
    c.add_argument("--problems", action="store_true", help="only expired, due soon or undated")
    c.set_defaults(func=_calibration)

    ab = s.add_parser("aborted", help="ABORTED runs without a later COMPLETED run of the same DUT and plan")
    _common(ab)
    ab.add_argument("--station")
    ab.set_defaults(func=_aborted)

    f = s.add_parser("fetch", help="recreate a run's report folder from the fleet store")
    _common(f, output=False)
    f.add_argument("run_id", help="run id (unique prefix) or a folder name such as RUN_ID-amend-1")
    f.add_argument("--out", type=Path, required=True, help="folder to create (must not exist or be empty)")
    f.set_defaults(func=_fetch)


def _connect(args: argparse.Namespace, *, autocommit: bool = True) -> Any:
    from bench.fleet.config import build_conninfo, connect, resolve_url

    cfg = None
    if args.station_file is not None:
        from bench.station import load_station

        cfg = load_station(args.station_file, check_drivers=False).fleet
        if cfg is None:
            raise BenchError(f"{args.station_file}: no [fleet] table")
    url, _ = resolve_url(args.db, cfg, option="--db")
    return connect(
        build_conninfo(url, ssl=cfg.ssl if cfg else {}, application_name=f"ess-bench fleet {args.fleet_cmd}"),
        autocommit=autocommit,
    )


def _show(args: argparse.Namespace, table: tuple[list[str], list[list[Any]]], title: str = "") -> int:
    from bench.fleet.output import render

    print(render(*table, args.fmt, title=title if args.fmt == "table" else ""), end="" if args.fmt == "csv" else "\n")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from bench.fleet.migrate import REQUIRED_VERSION, migrate, schema_version

    with _connect(args, autocommit=False) as conn:
        before = schema_version(conn)
        done = migrate(conn, target=args.target, dry_run=args.dry_run)
        if not done:
            print(f"fleet schema at version {before}: nothing to do (this bench knows {REQUIRED_VERSION})")
        for m in done:
            print(("would apply " if args.dry_run else "applied ") + f"{m.path.name} (sha256 {m.sha256[:16]}…)")
        if done and not args.dry_run:
            print(f"fleet schema now at version {schema_version(conn)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from bench.fleet import queries
    from bench.fleet.migrate import REQUIRED_VERSION, status

    with _connect(args) as conn:
        lines = status(conn)
        if args.fmt == "table":
            print(f"schema: this bench needs version {REQUIRED_VERSION}")
            for m in lines:
                print(
                    f"  {m['version']:04d}_{m['name']}: {m['state']}"
                    + (f" ({m['applied_at']:%Y-%m-%d %H:%M} by {m['applied_by']})" if m["applied_at"] else "")
                )
            if not lines or lines[0]["state"] == "pending":
                return 0
        return _show(args, queries.sync_status(conn), "stations")


def _add_station(args: argparse.Namespace) -> int:
    from bench.fleet.admin import add_station

    with _connect(args, autocommit=False) as conn:
        print(
            add_station(
                conn,
                args.station_id,
                args.role,
                description=args.description,
                create_login=args.create_login,
                password_env=args.password_env,
            )
        )
        conn.commit()
    return 0


def _add_auditor(args: argparse.Namespace) -> int:
    from bench.fleet.admin import grant

    with _connect(args, autocommit=False) as conn:
        print(grant(conn, args.role, "auditor", create_login=args.create_login, password_env=args.password_env))
        conn.commit()
    return 0


def _runs(args: argparse.Namespace) -> int:
    from bench.fleet import queries

    with _connect(args) as conn:
        return _show(
            args,
            queries.runs(
                conn,
                dut=args.dut,
                station=args.station,
                plan=args.plan,
                status=args.status,
                since=args.since,
                until=args.until,
                limit=args.limit,
            ),
        )


def _yield(args: argparse.Namespace) -> int:
    from bench.fleet import queries

    with _connect(args) as conn:
        table = queries.yield_by(
            conn,
            by=args.by,
            batch=args.batch,
            station=args.station,
            plan=args.plan or None,
            period=args.period,
            since=args.since,
            until=args.until,
        )
    return _show(args, table, f"yield by {args.by} (modules graded A, B or C; latest run of each module)")


def _stats(args: argparse.Namespace) -> int:
    from bench.fleet import queries

    with _connect(args) as conn:
        table = queries.measurement_stats(
            conn, name=args.measurement, station=args.station, since=args.since, until=args.until
        )
    return _show(args, table, "per limit and station; bias = station mean - fleet median; drift per 30 days")


def _calibration(args: argparse.Namespace) -> int:
    from bench.fleet import queries

    with _connect(args) as conn:
        table = queries.calibration(
            conn, on=args.on, warn_days=args.warn_days, station=args.station, problems_only=args.problems
        )
    return _show(args, table, f"calibration on {args.on or dt.date.today()} (from each station's latest run)")


def _aborted(args: argparse.Namespace) -> int:
    from bench.fleet import queries

    with _connect(args) as conn:
        return _show(args, queries.open_aborted(conn, station=args.station), "open ABORTED runs")


def _fetch(args: argparse.Namespace) -> int:
    from bench.fleet.folders import describe, fetch_folder

    with _connect(args, autocommit=False) as conn:
        entry = fetch_folder(conn, args.run_id, args.out)
    print(describe(entry))
    print(f"written to {args.out}; check it with: bench verify {args.out} --trust TRUST.toml")
    return 0
