"""The journal's file: its SQL schema (with the columns added since schema 1) and the integrity check
run before a journal is used, so a damaged file is a named error and never silently replaced."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

from bench.errors import BenchError

SCHEMA_VERSION = 3  # 2: run sessions (resume), step/measurement session numbers, series checks as columns
# 3: telemetry_chunks (high-rate capture: each flushed chunk, Parquet segment and summary file, with SHA-256)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, plan TEXT, plan_version TEXT, station TEXT, station_json TEXT,
    dut_serial TEXT, dut_json TEXT, operator TEXT, limits_json TEXT, code_version TEXT,
    site TEXT, mode TEXT, simulated INTEGER, started_wall TEXT, ended_wall TEXT,
    status TEXT NOT NULL, verdict TEXT, reason TEXT, pid INTEGER, host TEXT, batch_id TEXT,
    amends TEXT, extra_json TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, nodeid TEXT NOT NULL, name TEXT,
    clauses_json TEXT, plan_level TEXT, started_wall TEXT, started_t REAL, ended_wall TEXT,
    ended_t REAL, outcome TEXT, verdict TEXT, message TEXT, session INTEGER DEFAULT 1
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT, name TEXT NOT NULL,
    value REAL, unit TEXT, uncertainty REAL, limit_json TEXT, verdict TEXT NOT NULL, reason TEXT,
    grade TEXT, clause TEXT, instrument TEXT, instrument_json TEXT, t REAL, wall TEXT,
    required INTEGER DEFAULT 0, note TEXT, session INTEGER DEFAULT 1, series TEXT, aggregate TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, n INTEGER NOT NULL, operator TEXT,
    started_wall TEXT, ended_wall TEXT, pid INTEGER, host TEXT, code_version TEXT, t_offset REAL,
    end_status TEXT, end_reason TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT, kind TEXT NOT NULL,
    message TEXT, data_json TEXT, t REAL, wall TEXT
);
CREATE TABLE IF NOT EXISTS series (
    run_id TEXT NOT NULL, step TEXT, name TEXT NOT NULL, unit TEXT, t REAL NOT NULL, value REAL
);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT, name TEXT NOT NULL,
    kind TEXT, content BLOB, wall TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT, kind TEXT NOT NULL, key TEXT,
    question TEXT, spec_json TEXT, t REAL, wall TEXT
);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id INTEGER NOT NULL UNIQUE, run_id TEXT NOT NULL, answer TEXT,
    answered_by TEXT, origin TEXT, withdrawn INTEGER DEFAULT 0, wall TEXT
);
CREATE TABLE IF NOT EXISTS abort_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, requested_by TEXT, origin TEXT, reason TEXT,
    wall TEXT
);
CREATE TABLE IF NOT EXISTS live (
    run_id TEXT NOT NULL, kind TEXT NOT NULL, data_json TEXT, t REAL, wall TEXT, PRIMARY KEY (run_id, kind)
);
CREATE TABLE IF NOT EXISTS telemetry_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT, kind TEXT NOT NULL,
    grp TEXT NOT NULL, file TEXT NOT NULL, idx INTEGER NOT NULL, rows INTEGER NOT NULL, samples INTEGER,
    t_first REAL, t_last REAL, sha256 TEXT NOT NULL, size INTEGER, wall TEXT, session INTEGER DEFAULT 1
);
CREATE INDEX IF NOT EXISTS idx_meas_run ON measurements(run_id);
CREATE INDEX IF NOT EXISTS idx_requests_run ON requests(run_id);
CREATE INDEX IF NOT EXISTS idx_tchunks_run ON telemetry_chunks(run_id, kind, grp);
CREATE INDEX IF NOT EXISTS idx_events_run ON events(run_id);
CREATE INDEX IF NOT EXISTS idx_series_run ON series(run_id, name);
CREATE INDEX IF NOT EXISTS idx_steps_run ON steps(run_id);
CREATE INDEX IF NOT EXISTS idx_sessions_run ON sessions(run_id);
"""
# Columns added after schema 1, for journals written by an earlier bench (added on open). Tables added
# later (telemetry_chunks, schema 3) are created by SCHEMA itself, which runs on every open.
ADDED_COLUMNS = {
    "steps": (("session", "INTEGER DEFAULT 1"),),
    "measurements": (("session", "INTEGER DEFAULT 1"), ("series", "TEXT"), ("aggregate", "TEXT")),
}


class JournalError(BenchError, sqlite3.DatabaseError):
    """The journal file is damaged or not a journal; names the file. Never repaired by replacing it.

    Also an sqlite3.DatabaseError, so code that already catches SQLite errors keeps working.
    """


EMPTY_WAIT_S = 1.0
DAMAGED_ADVICE = (
    "a damaged journal is never replaced: move it aside (keep it for recovery) or pass another --report-dir"
)


def check_journal_file(path: str | Path, *, deep: bool = False) -> None:
    """Integrity check of an existing journal file (none yet is fine), raising JournalError naming it.

    Always (stat only): it must be a regular file, and not empty (SQLite would quietly start a new
    journal in it, so `runs list` said "no runs"); a file another process is creating this very
    moment gets EMPTY_WAIT_S to be written. With `deep` (commands about to read or append to a
    journal: `bench runs`, `bench report`, `bench run` before pytest starts) SQLite must also read
    its header and schema (garbage or a truncated file).

    The file is never opened outside SQLite: closing any other descriptor of a database file
    releases the process's POSIX locks on it, which can corrupt a journal another connection of the
    same process has open.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise JournalError(f"{p}: not a regular file; expected an SQLite journal")
    for _ in range(int(EMPTY_WAIT_S / 0.05)):  # bounded: another process may be creating it right now
        if st.st_size:
            break
        time.sleep(0.05)
        st = os.stat(p)
    if st.st_size == 0:
        raise JournalError(f"{p}: empty file (0 bytes), expected an SQLite journal; {DAMAGED_ADVICE}")
    if not deep:
        return
    try:
        con = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True, timeout=30)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return  # in use by a running bench: readable, not damaged
        raise JournalError(f"{p}: cannot read it as an SQLite journal: {exc}; {DAMAGED_ADVICE}") from exc
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{p}: not a readable SQLite journal: {exc}; {DAMAGED_ADVICE}") from exc
