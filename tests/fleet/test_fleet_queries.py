"""Fleet queries against data with known truth: yield equals the station's batch summary, statistics
find the biased and the drifting station, calibration and ABORTED runs are listed as they are."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_helpers import FleetDB, bench

from bench.batch import ModuleOutcome, _outcome_from_journal, settle_ungraded, summarise
from bench.fleet import queries
from bench.fleet.sync import FleetSync
from bench.fleet.synthetic import StationSpec, build_journal
from bench.journal import COMPLETED, Journal

START = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)
SPECS = [StationSpec("line-0", 0, 0.0, 0.0), StationSpec("line-1", 1, 0.0, 0.2), StationSpec("line-2", 2, 0.5, 0.0)]
RUNS = 12


@pytest.fixture(scope="module")
def populated(module_fleet: FleetDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FleetDB, dict]]:
    journals: dict[str, Path] = {}
    for spec in SPECS:
        folder = tmp_path_factory.mktemp(spec.name)
        build_journal(folder, spec, RUNS, samples=30, batch_size=4, aborted_every=5, start=START)
        journals[spec.name] = folder / "journal.sqlite"
    # a re-test inside a batch (the later run decides) and one module tested at two stations
    j0 = Journal(journals["line-0"])
    batch = j0.runs(100)[-1]["batch_id"]
    serial = j0.runs(100)[-1]["dut_serial"]
    j0.start_run(
        "20260301T000000Z-RETEST-0001",
        plan="module_intake",
        station="line-0",
        dut_serial=serial,
        batch_id=batch,
        started_wall="2026-03-01T00:00:00.000Z",
    )
    j0.add_event("20260301T000000Z-RETEST-0001", "grade", "grade B", data={"grade": "B", "rule": "retest"})
    j0.end_run("20260301T000000Z-RETEST-0001", COMPLETED, "PASS")
    j0.close()
    j2 = Journal(journals["line-2"])
    j2.start_run(
        "20260302T000000Z-MOD-00-0001-aaaa",
        plan="module_intake",
        station="line-2",
        dut_serial="MOD-00-0001",
        started_wall="2026-03-02T00:00:00.000Z",
    )
    j2.end_run("20260302T000000Z-MOD-00-0001-aaaa", COMPLETED, "PASS")
    j2.close()
    for spec in SPECS:
        role = module_fleet.station_role(spec.name)
        with module_fleet.connect(role) as conn:
            assert FleetSync(conn, journals[spec.name], spec.name).run().ok
    yield module_fleet, journals


def station_batch_summary(journal: Path, batch_id: str) -> dict:
    """What `bench run --dut-list` writes for a batch: bench.batch's own code path over the journal."""
    j = Journal(journal)
    serials = sorted({r["dut_serial"] for r in j.runs(10_000) if r["batch_id"] == batch_id})
    j.close()
    outcomes = []
    for s in serials:
        out = ModuleOutcome(serial=s)
        _outcome_from_journal(journal, batch_id, s, out)
        settle_ungraded(out)
        outcomes.append(out)
    return summarise(batch_id, Path("module_intake"), Path("modules.csv"), outcomes, 0.0)


def test_fleet_yield_of_every_batch_equals_the_stations_batch_summary(populated: tuple[FleetDB, dict]) -> None:
    fleet, journals = populated
    with fleet.connect() as conn:
        cols, rows = queries.yield_by(conn, by="batch")
        view = {r[0]: r for r in conn.execute("SELECT batch_id, modules, reusable FROM fleet.v_batch_yield")}
    by_batch = {r[0]: dict(zip(cols, r, strict=True)) for r in rows}
    checked = 0
    for journal in journals.values():
        j = Journal(journal)
        batches = sorted({r["batch_id"] for r in j.runs(10_000) if r["batch_id"]})
        j.close()
        for b in batches:
            expected = station_batch_summary(journal, b)
            got = by_batch[b]
            assert got["modules"] == expected["modules"] and got["reusable"] == expected["reusable"], b
            assert got["yield_percent"] == expected["yield_percent"], b
            assert {g: got[g] for g in queries.GRADE_COLUMNS if got[g]} == expected["counts"], b
            assert view[b][1:] == (expected["modules"], expected["reusable"])
            checked += 1
    assert checked == len(by_batch) >= 9
    # the data holds aborted modules, not only graded ones: each is in the summary, quarantined, against yield
    aborted = [s for p in journals.values() for b in by_batch if (s := station_batch_summary(p, b))["not_completed"]]
    assert aborted and all(s["counts"].get("quarantine", 0) >= s["not_completed"] for s in aborted)


def test_yield_by_station_and_by_month_count_the_latest_run_of_each_module(populated: tuple[FleetDB, dict]) -> None:
    fleet, _ = populated
    with fleet.connect() as conn:
        cols, rows = queries.yield_by(conn, by="station")
        _, months = queries.yield_by(conn, by="period", period="month")
    stations = {r[0]: dict(zip(cols, r, strict=True)) for r in rows}
    assert set(stations) == {"line-0", "line-1", "line-2"}
    assert stations["line-1"]["modules"] == RUNS + 1  # its modules and its dead run's DUT
    assert stations["line-2"]["modules"] == RUNS + 2  # and MOD-00-0001, first tested at line-0
    # January: every module once; March: the re-test at line-0 and MOD-00-0001's second station
    assert {r[0]: r[1] for r in months} == {"2026-01-01": 3 * (RUNS + 1), "2026-03-01": 2}


def test_stats_find_the_biased_station_the_drifting_one_and_compute_cpk(populated: tuple[FleetDB, dict]) -> None:
    fleet, journals = populated
    with fleet.connect() as conn:
        cols, rows = queries.measurement_stats(conn, name="dcir.*")
    stats = {r[cols.index("station_id")]: dict(zip(cols, r, strict=True)) for r in rows}
    assert max(stats.values(), key=lambda s: s["bias"])["station_id"] == "line-2"
    # the fleet median moves with the fleet; the gap between two stations is the injected 0.5 mohm
    assert stats["line-2"]["bias"] - stats["line-0"]["bias"] == pytest.approx(0.5, abs=0.15)
    assert stats["line-2"]["bias"] > 0 > stats["line-0"]["bias"]
    assert stats["line-1"]["drift_per_30d"] == pytest.approx(0.2 * 30, rel=0.4)
    assert abs(stats["line-0"]["drift_per_30d"]) < 2.0
    j = Journal(journals["line-0"])
    values = [m["value"] for r in j.runs(1000) for m in j.measurements(r["run_id"]) if m["name"] == "dcir.resistance"]
    j.close()
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    assert stats["line-0"]["n"] == len(values)
    assert stats["line-0"]["cpk"] == pytest.approx(min(3.0 - mean, mean - 0.0) / (3 * sd), rel=1e-9)


def test_calibration_lists_expired_and_due_instruments_per_station(populated: tuple[FleetDB, dict]) -> None:
    fleet, _ = populated
    with fleet.connect() as conn:
        cols, rows = queries.calibration(conn, on=dt.date(2026, 3, 6))
    status = {(r[0], r[1]): r[cols.index("status")] for r in rows}
    assert status[("line-0", "dmm")] == "EXPIRED"
    assert status[("line-1", "dmm")] == "DUE SOON"
    assert status[("line-2", "dmm")] == "OK"
    assert status[("line-0", "bms_can")] == "NO RECORD"
    with fleet.connect() as conn:
        _, problems = queries.calibration(conn, on=dt.date(2026, 3, 6), problems_only=True)
    assert {(r[0], r[1]) for r in problems} == {("line-0", "dmm"), ("line-1", "dmm")}


def test_open_aborted_runs_include_dead_running_runs_and_skip_followed_up_ones(populated: tuple[FleetDB, dict]) -> None:
    fleet, _ = populated
    with fleet.connect() as conn:
        cols, rows = queries.open_aborted(conn)
    listed = [dict(zip(cols, r, strict=True)) for r in rows]
    dead = [r for r in listed if r["journal_status"] == "RUNNING"]
    assert {r["station_id"] for r in dead} == {"line-0", "line-1", "line-2"}
    assert all("DEAD" in r["dut_serial"] for r in dead)
    assert len(listed) - len(dead) == 3 * (RUNS // 5)  # every fifth run aborted, none re-tested later


def test_runs_by_dut_span_stations_in_time_order_via_the_command_line(populated: tuple[FleetDB, dict]) -> None:
    fleet, _ = populated
    proc = bench("fleet", "runs", "--db", fleet.url(), "--dut", "MOD-00-0001", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["station_id"] for r in rows] == ["line-0", "line-2"]
    assert rows[0]["started_at"] < rows[1]["started_at"]
    proc = bench("fleet", "yield", "--db", fleet.url(), "--by", "station", "--csv")
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["station"] for r in table] == ["line-0", "line-1", "line-2"]
    proc = bench("fleet", "stats", "--db", fleet.url(), "--measurement", "dcir.*")
    assert proc.returncode == 0 and "dcir.resistance" in proc.stdout and "line-2" in proc.stdout
    proc = bench("fleet", "status", "--db", fleet.url())
    assert proc.returncode == 0 and "0002_views: applied" in proc.stdout and "line-1" in proc.stdout
