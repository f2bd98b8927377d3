"""A damaged journal (0 bytes, garbage, truncated) is a one-line error naming the file, never replaced.

Before: `runs list` on a 0-byte journal printed "no runs" (SQLite quietly started a new journal in
it) and garbage or a truncated file ended in a bare sqlite3.DatabaseError traceback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.cli import main
from bench.journal import Journal, JournalError

ROOT = Path(__file__).resolve().parents[2]


def _real_journal(path: Path) -> bytes:
    j = Journal(path)
    for i in range(3):
        j.start_run(f"R{i}", plan="p")
        for _ in range(500):
            j.add_event(f"R{i}", "note", "x" * 200)
    j.close()
    return path.read_bytes()


def _damage(kind: str, path: Path, tmp_path: Path) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"this is not a journal\n" * 50)
    else:  # truncated
        data = _real_journal(tmp_path / "whole.sqlite")
        path.write_bytes(data[: len(data) // 2])


KINDS = ["empty", "garbage", "truncated"]


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_journal_is_refused_by_name(kind, tmp_path):
    path = tmp_path / "reports" / "journal.sqlite"
    path.parent.mkdir()
    _damage(kind, path, tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(JournalError, match=str(path)):
        Journal(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # never replaced or repaired


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "argv",
    [["runs", "list"], ["report", "R0"], ["run", str(ROOT / "test_plans" / "smoke")]],
    ids=["runs-list", "report", "run"],
)
def test_commands_on_a_damaged_journal_give_one_line(kind, argv, tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    path = reports / "journal.sqlite"
    _damage(kind, path, tmp_path)
    size = path.stat().st_size
    code = main(
        [
            *argv[:1],
            *(["--report-dir", str(reports)] if argv[0] == "runs" else []),
            *argv[1:],
            *([] if argv[0] == "runs" else ["--report-dir", str(reports)]),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert "no runs" not in out
    assert len(err.strip().splitlines()) == 1, err
    assert str(path) in err and "Traceback" not in err
    assert path.stat().st_size == size


def test_healthy_journal_still_opens(tmp_path):
    path = tmp_path / "journal.sqlite"
    _real_journal(path)
    assert sorted(r["run_id"] for r in Journal(path).runs()) == ["R0", "R1", "R2"]
