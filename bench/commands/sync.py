"""`bench sync`: send this station's journal and report folders to the fleet store (PostgreSQL).

Idempotent and resumable: run it as often as you like, after an offline spell, or after a sync
that was cut; it sends what the fleet does not have yet. Credentials come from PGPASSWORD, a
pgpass file (PGPASSFILE, ~/.pgpass) or a client certificate, never from the command line or a
station file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.errors import BenchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sync",
        help="synchronise the local journal and reports to the fleet store",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://[user@]host[:port]/database[?sslmode=...] (default: the "
        "station's [fleet] url, else $BENCH_FLEET_URL)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--report-dir", default="reports", help="folder holding journal.sqlite and the run folders (default: reports)"
    )
    src.add_argument("--journal", type=Path, help="a journal file (its folder holds the run folders)")
    p.add_argument("--station", type=Path, metavar="FILE", help="station file: its [fleet] table and name")
    p.add_argument("--station-id", help="fleet station id (default: [fleet] station_id, else the station name)")
    p.add_argument("--batch-rows", type=int, help="journal rows per transaction (default 5000)")
    p.add_argument("--budget", metavar="DURATION", help="stop after this long, e.g. '2 min' (the rest goes next time)")
    p.add_argument("--no-folders", action="store_true", help="journal rows only, not the report folders")
    p.add_argument("--verify", action="store_true", help="afterwards, compare every row and folder with the fleet")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=sync)


def _station_id(args: argparse.Namespace, station: object, journal: Path) -> str:
    if args.station_id:
        return str(args.station_id)
    cfg = getattr(station, "fleet", None)
    if cfg is not None and cfg.station_id:
        return str(cfg.station_id)
    if station is not None:
        return str(station.name)  # type: ignore[attr-defined]
    from bench.fleet.source import JournalSource

    with JournalSource(journal) as src:
        names = sorted({str(r.get("station") or "") for r in src.snapshot([]).runs.values()})
    if len(names) == 1 and names[0]:
        return names[0]
    raise BenchError(
        f"which station is this? pass --station FILE or --station-id ID (the journal holds runs of "
        f"{len(names)} station names: {', '.join(names)[:200]})"
    )


def sync(args: argparse.Namespace) -> int:
    from bench.fleet.config import DEFAULT_BATCH_ROWS, build_conninfo, connect, resolve_url
    from bench.fleet.sync import FleetSync

    station = None
    if args.station is not None:
        from bench.station import load_station

        station = load_station(args.station, check_drivers=False)
    cfg = getattr(station, "fleet", None)
    url, origin = resolve_url(args.to, cfg)
    journal = args.journal or Path(args.report_dir) / "journal.sqlite"
    station_id = _station_id(args, station, journal)
    batch_rows = args.batch_rows or (cfg.batch_rows if cfg else DEFAULT_BATCH_ROWS)
    if batch_rows < 1:
        raise BenchError(f"--batch-rows {batch_rows}: expected at least 1")
    deadline = None
    if args.budget:
        from bench.safety.timeouts import parse_duration

        deadline = time.monotonic() + parse_duration(args.budget, key="--budget")
    conninfo = build_conninfo(
        url,
        ssl=cfg.ssl if cfg else {},
        connect_timeout_s=cfg.connect_timeout_s if cfg else 10.0,
        application_name=f"ess-bench sync {station_id}",
    )
    conn = connect(conninfo)
    try:
        result = FleetSync(
            conn,
            journal,
            station_id,
            batch_rows=batch_rows,
            folders=not args.no_folders and (cfg.folders if cfg else True),
            deadline=deadline,
            report_dir=journal.parent,
        ).run()
        comparison = None
        if args.verify:
            from bench.fleet.compare import compare

            comparison = compare(conn, journal, folders=not args.no_folders)
    finally:
        conn.close()
    if args.json:
        out = result.as_dict()
        if comparison is not None:
            out["verify"] = {
                t.table: {"journal": t.local, "fleet": t.fleet, "equal": t.equal} for t in comparison.tables
            }
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(f"fleet store {url} ({origin})")
        print(result.summary())
        if comparison is not None:
            print("verify (every row rebuilt from the fleet and digested):")
            print("\n".join(comparison.lines()))
            print("EQUAL" if comparison.equal else "DIFFERENT")
    return 0 if result.ok and (comparison is None or comparison.equal) else 1
