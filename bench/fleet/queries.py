"""The questions people ask the fleet store, as (columns, rows) for tables, CSV and JSON.

Each query reads the documented views (migration 0002), so `bench fleet ...` and a BI tool give
the same answers. Yield is the one exception that adds logic on top: modules are grouped here
and each group is summarised by bench.batch.summarise itself, so the fleet's yield for a batch
is computed exactly as the station's batch summary is (same grade keys, same rounding).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bench.batch import ModuleOutcome, settle_ungraded, summarise

Table = tuple[list[str], list[list[Any]]]
PERIODS = ("day", "week", "month", "quarter", "year")
GRADE_COLUMNS = ("A", "B", "C", "quarantine", "recycle", "aborted", "no grade")


def _where(clauses: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    used = [(c, v) for c, v in clauses if v is not None and v != ""]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(c for c, _ in used), [v for _, v in used]


def _fetch(conn: Any, query: str, args: list[Any]) -> Table:
    with conn.cursor() as cur:
        cur.execute(query, args)
        cols = [d.name for d in cur.description]
        return cols, [list(r) for r in cur.fetchall()]


def runs(
    conn: Any,
    *,
    dut: str | None = None,
    station: str | None = None,
    plan: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 200,
) -> Table:
    """Runs (latest state) by DUT serial across stations and time, oldest first."""
    where, args = _where(
        [
            ("dut_serial = %s", dut),
            ("station_id = %s", station),
            ("plan = %s", plan),
            ("status = %s", status),
            ("started_at >= %s", since),
            ("started_at < %s", until),
        ]
    )
    return _fetch(
        conn,
        "SELECT run_id, station_id, plan, dut_serial, batch_id, status, verdict, started_at, ended_at, "
        f"reason FROM fleet.v_runs{where} ORDER BY started_at, run_id LIMIT %s",
        [*args, limit],
    )


def _outcome(row: dict[str, Any]) -> ModuleOutcome:
    out = ModuleOutcome(
        serial=row["dut_serial"],
        run_id=row["run_id"],
        status=row["status"] or "",
        verdict=row["verdict"] or "",
        grade=row["grade"] or "",
        route=row["route"] or "",
        rule=row["rule"] or "",
        measurement=row["measurement"] or "",
        value=row["value"] or "",
    )
    settle_ungraded(out)  # the station's rule: an ungraded module is quarantined and counts against yield
    return out


def _yield_rows(groups: dict[Any, list[ModuleOutcome]], extra: dict[Any, dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for key in sorted(groups, key=lambda k: str(k)):
        s = summarise(str(key), Path(""), Path(""), groups[key], 0.0)
        rows.append(
            [
                key,
                *(extra.get(key, {}).values()),
                s["modules"],
                s["reusable"],
                s["yield_percent"],
                *(s["counts"].get(g, 0) for g in GRADE_COLUMNS),
            ]
        )
    return rows


def yield_by(
    conn: Any,
    *,
    by: str = "batch",
    batch: str | None = None,
    station: str | None = None,
    plan: str | None = "module_intake",
    period: str = "month",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Table:
    """Yield and grade distribution per batch, station or period (latest run of each module in a group)."""
    counts = ["modules", "reusable", "yield_percent", *GRADE_COLUMNS]
    if by == "batch":
        where, args = _where(
            [
                ("batch_id = %s", batch),
                ("plan = %s", plan),
                ("station_id = %s", station),
                ("started_at >= %s", since),
                ("started_at < %s", until),
            ]
        )
        cols, rows = _fetch(conn, f"SELECT * FROM fleet.v_batch_modules{where} ORDER BY batch_id, dut_serial", args)
        groups: dict[Any, list[ModuleOutcome]] = {}
        seen: dict[Any, tuple[set[str], list[Any]]] = {}
        for r in rows:
            d = dict(zip(cols, r, strict=True))
            groups.setdefault(d["batch_id"], []).append(_outcome(d))
            stations, starts = seen.setdefault(d["batch_id"], (set(), []))
            stations.add(d["station_id"])
            if d["started_at"] is not None:
                starts.append(d["started_at"])
        extra = {
            k: {"stations": ", ".join(sorted(st)), "first_run": min(starts, default=None)}
            for k, (st, starts) in seen.items()
        }
        return ["batch_id", "stations", "first_run", *counts], _yield_rows(groups, extra)
    if by not in ("station", "period"):
        raise ValueError(f"yield by {by!r}; expected batch, station or period")
    if period not in PERIODS:
        raise ValueError(f"period {period!r}; expected one of {', '.join(PERIODS)}")
    key = "r.station_id" if by == "station" else f"date_trunc('{period}', r.started_at)"
    where, args = _where(
        [
            ("r.batch_id = %s", batch),
            ("r.plan = %s", plan),
            ("r.station_id = %s", station),
            ("r.started_at >= %s", since),
            ("r.started_at < %s", until),
        ]
    )
    query = (
        f"SELECT DISTINCT ON ({key}, r.dut_serial) {key} AS grp, r.run_id, r.dut_serial, r.status, r.verdict, "
        "g.grade, g.route, g.rule, g.measurement, g.value FROM fleet.v_runs r LEFT JOIN fleet.v_grades g "
        f"USING (run_id){where} ORDER BY {key}, r.dut_serial, r.started_at DESC NULLS LAST, r.run_id DESC"
    )
    cols, rows = _fetch(conn, query, args)
    groups = {}
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        grp = d["grp"].date().isoformat() if isinstance(d["grp"], dt.datetime) else d["grp"]
        groups.setdefault(grp, []).append(_outcome(d))
    return [by if by == "station" else f"{period}_from", *counts], _yield_rows(groups, {})


def measurement_stats(
    conn: Any,
    *,
    name: str | None = None,
    station: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Table:
    """Per limit and station: n, mean, spread, Cpk, bias against the fleet median, drift per 30 days."""
    where, args = _where([("name LIKE %s", name.replace("*", "%") if name else None), ("station_id = %s", station)])
    return _fetch(
        conn,
        "SELECT name, unit, limit_low, limit_high, station_id, n, mean, sd, min, max, fails, cpk, "
        "fleet_median, bias, bias_in_fleet_sd, drift_per_day * 30 AS drift_per_30d, first_at, last_at "
        f"FROM fleet.measurement_stats(%s, %s){where} ORDER BY name, unit, limit_low, limit_high, "
        "station_id",
        [since, until, *args],
    )


def calibration(
    conn: Any,
    *,
    on: dt.date | None = None,
    warn_days: int = 30,
    station: str | None = None,
    problems_only: bool = False,
) -> Table:
    """Calibration status of every station's instruments (from its latest run) on a given day."""
    where, args = _where(
        [
            ("station_id = %s", station),
            ("status IN ('EXPIRED', 'DUE SOON', 'NO DUE DATE') AND %s", True if problems_only else None),
        ]
    )
    return _fetch(
        conn,
        "SELECT station_id, role, make, model, serial, certificate, due, days_left, status, as_of_run "
        f"FROM fleet.calibration(%s, %s){where} ORDER BY station_id, role",
        [on or dt.date.today(), warn_days, *args],
    )


def open_aborted(conn: Any, *, station: str | None = None) -> Table:
    where, args = _where([("station_id = %s", station)])
    return _fetch(
        conn,
        "SELECT run_id, station_id, plan, dut_serial, batch_id, started_at, journal_status, reason "
        f"FROM fleet.v_open_aborted{where} ORDER BY started_at",
        args,
    )


def sync_status(conn: Any) -> Table:
    return _fetch(
        conn,
        "SELECT station_id, db_role, runs, newest_run, last_sync, last_outcome, last_host, last_message "
        "FROM fleet.v_sync_status ORDER BY station_id",
        [],
    )
