"""Synchronisation into a real PostgreSQL: complete, idempotent, resumable, generic over journal tables."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import plan_fork
import psycopg
import pytest
from fleet_helpers import ROOT, FleetDB

from bench.fleet.compare import compare
from bench.fleet.sync import FleetSync
from bench.fleet.synthetic import StationSpec, build_journal
from bench.journal import COMPLETED, Journal


def journal_of(tmp: Path, name: str = "st-a", index: int = 0, runs: int = 6, **kw: object) -> Path:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    build_journal(folder, StationSpec(name, index, 0.0, 0.0), runs, samples=120, **kw)
    return folder / "journal.sqlite"


def local_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "steps", "measurements", "events", "series", "attachments")
        }
    finally:
        db.close()


def test_sync_stores_every_journal_row_and_a_second_sync_adds_nothing(fleet: FleetDB, tmp_path: Path) -> None:
    path = journal_of(tmp_path)
    role = fleet.station_role("st-a")
    with fleet.connect(role) as conn:
        first = FleetSync(conn, path, "st-a", batch_rows=200).run()
        assert first.ok, first.summary()
        counts = local_counts(path)
        assert first.new_runs == counts["runs"] == first.run_states
        assert {t: first.rows[t] for t in counts if t != "runs"} == {t: n for t, n in counts.items() if t != "runs"}
        check = compare(conn, path)
        assert check.equal, "\n".join(check.lines())
        second = FleetSync(conn, path, "st-a", batch_rows=200).run()
    assert second.ok and second.total_rows == 0 and second.new_runs == 0 and second.folders == 0


def test_sync_cut_mid_way_resumes_at_the_last_batch_and_ends_equal(fleet: FleetDB, tmp_path: Path) -> None:
    path = journal_of(tmp_path, runs=8)
    role = fleet.station_role("st-a")
    admin = fleet.connect(autocommit=True)
    conn = fleet.connect(role)
    batches: list[str] = []

    def kill_after_three(table: str, last_id: int) -> None:
        batches.append(table)
        if len(batches) == 3:  # the connection dies between two batches, like a closed laptop lid
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    with pytest.raises(psycopg.OperationalError):
        FleetSync(conn, path, "st-a", batch_rows=150, on_batch=kill_after_three).run()
    conn.close()
    stored = {
        t: admin.execute(f"SELECT count(*) FROM fleet.{t}").fetchone()[0]
        for t in ("attachments", "events", "measurements", "series")
    }
    counts = local_counts(path)
    assert 0 < sum(stored.values()) < sum(counts[t] for t in stored), "the cut came mid-way"
    with fleet.connect(role) as conn:
        resumed = FleetSync(conn, path, "st-a", batch_rows=150).run()
        assert resumed.ok, resumed.summary()
        for t, n in stored.items():  # nothing committed before the cut is sent again
            assert resumed.rows[t] == counts[t] - n, t
        check = compare(conn, path)
    admin.close()
    assert check.equal, "\n".join(check.lines())


def test_running_run_is_stored_then_completed_as_a_new_state_with_its_closed_step(
    fleet: FleetDB, tmp_path: Path
) -> None:
    j = Journal(tmp_path / "journal.sqlite")
    j.start_run("RUN-LIVE-1", plan="smoke", station="st-a", dut_serial="SN-9")
    j.start_step("RUN-LIVE-1", "p.py::test_a", "test_a", ["UL 1974 (derived)"], "module", 0.0)
    j.add_measurement("RUN-LIVE-1", step="p.py::test_a", name="pack.ocv", value=52.5, unit="V", verdict="PASS")
    with fleet.connect() as conn:
        first = FleetSync(conn, j.path, "st-a").run()
        assert first.ok, first.summary()
        assert conn.execute("SELECT status, journal_status FROM fleet.v_runs").fetchone() == ("RUNNING", "RUNNING")
        assert conn.execute("SELECT outcome FROM fleet.v_steps").fetchone() == (None,)
        j.end_step("RUN-LIVE-1", "p.py::test_a", "passed", "PASS", "", 10.0)
        j.add_event("RUN-LIVE-1", "note", "after the first sync")
        j.end_run("RUN-LIVE-1", COMPLETED, "PASS")
        second = FleetSync(conn, j.path, "st-a").run()
        assert second.ok and second.run_states == 1 and second.revisions == {"steps": 1, "sessions": 1}
        assert not second.notes  # rows below the mark that changed are revisions, not a "replaced journal"
        assert second.rows["events"] == 1
        assert conn.execute("SELECT status, verdict FROM fleet.v_runs").fetchone() == ("COMPLETED", "PASS")
        assert conn.execute("SELECT outcome, verdict FROM fleet.v_steps").fetchone() == ("passed", "PASS")
        # the first states stay: the fleet is append-only, the views show the latest
        assert conn.execute("SELECT count(*) FROM fleet.run_states").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM fleet.steps").fetchone()[0] == 2
        check = compare(conn, j.path)
        third = FleetSync(conn, j.path, "st-a").run()
    j.close()
    assert check.equal, "\n".join(check.lines())
    assert third.total_rows == 0


def test_a_new_journal_table_and_column_synchronise_without_a_code_change(fleet: FleetDB, tmp_path: Path) -> None:
    path = journal_of(tmp_path, runs=3)
    db = sqlite3.connect(path)  # the journal's schema grows (as the lead's next version will)
    run_id = db.execute("SELECT run_id FROM runs ORDER BY rowid LIMIT 1").fetchone()[0]
    db.execute(
        "CREATE TABLE run_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, "
        "started TEXT, resumed_from INTEGER, chunk_hash BLOB, ratio REAL)"
    )
    db.execute(
        "INSERT INTO run_sessions (run_id, started, resumed_from, chunk_hash, ratio) VALUES (?, ?, ?, ?, ?)",
        (run_id, "2026-01-05T07:00:00Z", None, b"\x00\xffraw", float("inf")),
    )
    db.execute("ALTER TABLE measurements ADD COLUMN session_id INTEGER")
    db.execute("UPDATE measurements SET session_id = 7 WHERE rowid = 1")
    db.execute("CREATE TABLE station_notes (note TEXT)")
    db.commit()
    db.close()
    with fleet.connect() as conn:
        result = FleetSync(conn, path, "st-a").run()
        assert result.rows["run_sessions"] == 1
        assert any("station_notes" in p and "no run_id" in p for p in result.problems), result.problems
        assert not result.ok  # loud: the table is named, the exit code says so
        row = conn.execute("SELECT row_data FROM fleet.journal_rows WHERE tbl = 'run_sessions'").fetchone()[0]
        assert row["chunk_hash"] == {"$b64": "AP9yYXc="} and row["ratio"] == {"$float": "inf"}
        more = conn.execute("SELECT _more FROM fleet.measurements WHERE _local_id = 1").fetchone()[0]
        assert more == {"session_id": 7}
        check = compare(conn, path)
    assert check.equal, "\n".join(check.lines())


def test_a_replaced_journal_is_rechecked_in_full_not_skipped(fleet: FleetDB, tmp_path: Path) -> None:
    a = journal_of(tmp_path / "a", runs=4)
    with fleet.connect() as conn:
        assert FleetSync(conn, a, "st-a").run().ok
    # a restore from an old backup: the first run survives, then new runs reuse the same local ids
    b_dir = tmp_path / "b" / "st-a"
    b_dir.mkdir(parents=True)
    src = sqlite3.connect(a)
    first = src.execute("SELECT run_id FROM runs ORDER BY rowid LIMIT 1").fetchone()[0]
    dst = sqlite3.connect(b_dir / "journal.sqlite")
    src.backup(dst)
    src.close()
    for t in ("steps", "measurements", "events", "series", "attachments", "runs"):
        dst.execute(f"DELETE FROM {t} WHERE run_id <> ?", (first,))
    dst.execute("DELETE FROM sqlite_sequence")  # the restored file's counters start again
    dst.commit()
    dst.close()
    build_journal(
        b_dir,
        StationSpec("st-a", 0, 0.0, 0.0),
        2,
        samples=120,
        seed=9,
        start=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        leave_dead_running=False,
    )
    with fleet.connect() as conn:
        result = FleetSync(conn, b_dir / "journal.sqlite", "st-a").run()
        assert any("re-checking the whole table" in n for n in result.notes), result.notes
        check = compare(conn, b_dir / "journal.sqlite")
    assert check.equal, "\n".join(check.lines())


def test_a_run_id_owned_by_another_station_is_refused_not_merged(fleet: FleetDB, tmp_path: Path) -> None:
    path = journal_of(tmp_path, runs=2)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(path, copy / "journal.sqlite")
    with fleet.connect(fleet.station_role("st-a")) as conn:
        assert FleetSync(conn, path, "st-a").run().ok
    with fleet.connect() as conn:
        before = conn.execute("SELECT count(*) FROM fleet.measurements").fetchone()[0]
    with fleet.connect(fleet.station_role("st-b")) as conn:
        result = FleetSync(conn, copy / "journal.sqlite", "st-b").run()
    assert not result.ok and all("under another station" in p for p in result.problems) and result.problems
    with fleet.connect() as conn:
        assert conn.execute("SELECT count(*) FROM fleet.measurements").fetchone()[0] == before


def test_four_station_processes_synchronise_concurrently_and_match_their_journals(
    fleet: FleetDB, tmp_path: Path
) -> None:
    stations = [(f"line-{i}", journal_of(tmp_path, f"line-{i}", i, runs=5)) for i in range(4)]
    roles = {name: fleet.station_role(name) for name, _ in stations}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "sync",
                "--to",
                fleet.url(roles[name]),
                "--journal",
                str(path),
                "--station-id",
                name,
                "--batch-rows",
                "100",
                "--verify",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, path in stations
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out
        assert "EQUAL" in out
    with fleet.connect() as conn:
        per_station = dict(conn.execute("SELECT station_id, count(*) FROM fleet.v_runs GROUP BY 1").fetchall())
        assert per_station == {name: local_counts(path)["runs"] for name, path in stations}
        for _, path in stations:
            assert compare(conn, path).equal
    again = [
        plan_fork.run_bench(
            [
                "sync",
                "--to",
                fleet.url(roles[name]),
                "--journal",
                str(path),
                "--station-id",
                name,
                "--json",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            timeout=300,
        )
        for name, path in stations[:1]
    ]
    assert again[0].returncode == 0 and '"new_runs": 0' in again[0].stdout


def test_a_sync_out_of_time_stops_between_batches_and_the_next_one_completes(fleet: FleetDB, tmp_path: Path) -> None:
    path = journal_of(tmp_path, runs=3)
    calls: list[str] = []
    with fleet.connect() as conn:
        sync = FleetSync(conn, path, "st-a", batch_rows=50, deadline=float("inf"))

        def budget_gone(table: str, last_id: int) -> None:
            calls.append(table)
            sync.deadline = 0.0  # the run-end budget is used up after the first batch

        sync.on_batch = budget_gone
        partial = sync.run()
        assert not partial.complete and not partial.ok and len(calls) == 1
        assert conn.execute("SELECT count(*) FROM fleet.run_states").fetchone()[0] == 0  # no state before its rows
        rest = FleetSync(conn, path, "st-a").run()
        assert rest.ok
        check = compare(conn, path)
    assert check.equal, "\n".join(check.lines())


def test_a_resumed_run_keeps_its_cut_attempt_as_superseded_and_statistics_leave_it_out(
    fleet: FleetDB, tmp_path: Path
) -> None:
    from bench.fleet.synthetic import DEAD_PID

    j = Journal(tmp_path / "journal.sqlite")
    j.start_run("RUN-RESUME", plan="smoke", station="st-a", dut_serial="SN-R", started_wall="2026-02-01T08:00:00Z")
    j.start_step("RUN-RESUME", "p.py::test_ocv", "test_ocv", [], "module", 0.0)
    j.add_measurement("RUN-RESUME", step="p.py::test_ocv", name="pack.ocv", value=52.0, unit="V", verdict="PASS")
    j.end_step("RUN-RESUME", "p.py::test_ocv", "passed", "PASS", "", 1.0)
    j.start_step("RUN-RESUME", "p.py::test_charge", "test_charge", [], "module", 1.0)
    j.add_measurement("RUN-RESUME", step="p.py::test_charge", name="charge.ah", value=10.0, unit="Ah", verdict="PASS")
    j.update_run("RUN-RESUME", pid=DEAD_PID)  # the station lost power mid-step
    with fleet.connect() as conn:
        assert FleetSync(conn, j.path, "st-a").run().ok
        assert conn.execute("SELECT status, journal_status FROM fleet.v_runs").fetchone() == ("ABORTED", "RUNNING")
        assert conn.execute("SELECT count(*) FROM fleet.v_open_aborted").fetchone()[0] == 1
        j.resume_run("RUN-RESUME", operator="op", code_version="test")
        j.start_step("RUN-RESUME", "p.py::test_charge", "test_charge", [], "module", 2.0)
        j.add_measurement(
            "RUN-RESUME", step="p.py::test_charge", name="charge.ah", value=20.0, unit="Ah", verdict="PASS"
        )
        j.end_step("RUN-RESUME", "p.py::test_charge", "passed", "PASS", "", 3.0)
        j.end_run("RUN-RESUME", COMPLETED, "PASS")
        result = FleetSync(conn, j.path, "st-a").run()
        assert result.ok, result.summary()
        assert result.revisions == {"sessions": 1, "steps": 1}  # session 1 closed, the cut attempt marked
        sessions = conn.execute("SELECT session, end_status FROM fleet.v_sessions ORDER BY session").fetchall()
        assert sessions == [(1, "ABORTED"), (2, "COMPLETED")]
        rows = conn.execute(
            "SELECT value, session, superseded FROM fleet.v_measurements WHERE name = 'charge.ah' "
            "ORDER BY measurement_id"
        ).fetchall()
        assert rows == [(10.0, 1, True), (20.0, 2, False)]
        stats = conn.execute("SELECT n, mean FROM fleet.v_measurement_stats WHERE name = 'charge.ah'").fetchone()
        assert stats == (1, 20.0)
        assert conn.execute("SELECT count(*) FROM fleet.v_open_aborted").fetchone()[0] == 0
        check = compare(conn, j.path)
    j.close()
    assert check.equal, "\n".join(check.lines())
