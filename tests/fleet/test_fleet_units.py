"""Pure parts of the fleet store (no server): row digests, lossless typed/JSON split, output formats."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from decimal import Decimal

import pytest

from bench.fleet.digest import canonical_row, from_json_value, row_digest, to_json_value
from bench.fleet.folders import folder_index
from bench.fleet.migrate import available
from bench.fleet.output import render
from bench.fleet.store import join_row, split_row

ROWS = [
    {"run_id": "R1", "name": "pack.ocv", "value": 52.5595, "unit": "V", "limit_json": '{"low": 40.0}'},
    {"run_id": "R1", "name": "Δt ≤ 45 °C", "value": 1e-07, "t": 3.0, "n": 2**62, "none": None},
    {"run_id": "R1", "content": b"\x00\xff\x10", "ratio": float("inf"), "neg": float("-inf"), "txt": "a\x00b"},
    {"run_id": "R1", "value": 0.1 + 0.2, "big": -(2**63), "small": 5e-324},
]
TYPED = {
    "run_id": "text",
    "name": "text",
    "value": "double precision",
    "unit": "text",
    "content": "bytea",
    "n": "integer",
    "txt": "text",
    "missing_in_journal": "bigint",
}


@pytest.mark.parametrize("row", ROWS)
def test_fast_row_digest_hashes_the_signing_layers_canonical_json(row: dict) -> None:
    assert row_digest("measurements", 7, row) == hashlib.sha256(canonical_row("measurements", 7, row)).hexdigest()


def test_row_digest_changes_with_any_value_type_or_id() -> None:
    base = row_digest("steps", 1, {"a": 1})
    assert (
        len(
            {
                base,
                row_digest("steps", 2, {"a": 1}),
                row_digest("events", 1, {"a": 1}),
                row_digest("steps", 1, {"a": 1.0}),
                row_digest("steps", 1, {"a": "1"}),
                row_digest("steps", 1, {"a": 1, "b": None}),
            }
        )
        == 6
    )


@pytest.mark.parametrize("row", ROWS)
def test_typed_split_and_join_give_back_the_identical_row(row: dict) -> None:
    values, more = split_row(row, TYPED)
    back = join_row(values, json.loads(json.dumps(more)) if more else None)  # through JSON, as jsonb would
    assert back == row
    assert row_digest("t", 1, back) == row_digest("t", 1, row)
    assert "missing_in_journal" not in back


def test_values_that_do_not_fit_their_typed_column_go_to_more_losslessly() -> None:
    values, more = split_row({"run_id": "R", "value": 3, "n": 2**40, "txt": "a\x00b", "name": None}, TYPED)
    assert values == {"run_id": "R", "name": None}
    assert more is not None and more["value"] == 3 and more["n"] == 2**40
    assert from_json_value(more["txt"]) == "a\x00b"
    assert from_json_value(to_json_value(b"\x01\x02")) == b"\x01\x02"


def test_migrations_are_numbered_without_gaps_and_hashed() -> None:
    ms = available()
    assert [m.version for m in ms] == list(range(1, len(ms) + 1))
    assert all(len(m.sha256) == 64 and m.sql.strip() for m in ms)


def test_query_output_as_table_csv_and_json_keeps_every_value() -> None:
    cols = ["station", "n", "mean", "at", "yield"]
    rows = [
        ["line-0", 12, 1.23456789, dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC), Decimal("66.7")],
        ["line-1", 3, None, None, Decimal("100.0")],
    ]
    table = render(cols, rows, "table")
    assert "1.235" in table and "2026-01-05 07:00" in table and table.splitlines()[0].startswith("station")
    parsed = list(csv.DictReader(io.StringIO(render(cols, rows, "csv"))))
    assert parsed[0]["mean"] == "1.23456789" and parsed[1]["mean"] == ""
    data = json.loads(render(cols, rows, "json"))
    assert data[0]["at"] == "2026-01-05T07:00:00+00:00" and data[0]["yield"] == 66.7 and data[1]["mean"] is None


def test_a_runs_report_folders_are_its_own_then_its_amendments_in_order(tmp_path) -> None:
    for name in ("R1-amend-10", "R1", "R1-amend-2", "R2", "batch-x", "R3-amend-x"):
        (tmp_path / name).mkdir()
    (tmp_path / "journal.sqlite").write_bytes(b"")
    index = folder_index(tmp_path)
    assert index["R1"] == ["R1", "R1-amend-2", "R1-amend-10"]
    assert index["R2"] == ["R2"] and index["R3-amend-x"] == ["R3-amend-x"]
    assert folder_index(tmp_path / "missing") == {}


def test_synthetic_journals_hold_what_a_real_run_records(tmp_path) -> None:
    """The benchmark's journals are only a stand-in if the record builder accepts them as real runs."""
    from bench.fleet.synthetic import StationSpec, build_journal
    from bench.journal import Journal
    from bench.report.record import build_record, validate_record

    ids = build_journal(tmp_path, StationSpec("line-0", 0, 0.0, 0.0), 6, samples=12, aborted_every=3)
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        statuses = set()
        for run_id in ids:
            record = build_record(journal, run_id)
            validate_record(record)  # raises, naming every deviation from schemas/record.schema.json
            statuses.add(journal.run(run_id)["status"])
    finally:
        journal.close()
    assert statuses == {"COMPLETED", "ABORTED"}
