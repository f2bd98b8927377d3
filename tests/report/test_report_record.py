"""The canonical record: deterministic bytes, built from the journal only, with the 17025 content."""

from __future__ import annotations

import json
from pathlib import Path

from bench.journal import Journal
from bench.report.record import RECORD_SCHEMA_VERSION, build_record
from bench.report.render import render_report
from bench.signing.manifest import canonical_json


def test_rendering_twice_gives_identical_canonical_record_bytes(run_id: str, journal: Journal, tmp_path: Path) -> None:
    a = render_report(journal, run_id, tmp_path / "a", pdf=False, csv=True)
    b = render_report(journal, run_id, tmp_path / "b", pdf=False, csv=True)
    data = (a.out_dir / "record.json").read_bytes()
    assert data == (b.out_dir / "record.json").read_bytes()
    assert data == canonical_json(json.loads(data))  # canonical form round-trips to the same bytes
    assert a.html.read_bytes() == b.html.read_bytes()
    assert (a.out_dir / "attachments" / "telemetry.csv").read_bytes() == (
        b.out_dir / "attachments" / "telemetry.csv"
    ).read_bytes()


def test_record_carries_identity_instruments_passport_conditions_and_checks(run_id: str, journal: Journal) -> None:
    r = build_record(journal, run_id)
    assert r["schema_version"] == RECORD_SCHEMA_VERSION and r["report_id"] == f"ESSB-{run_id}"
    assert r["lab"] == {"site": "ESS Bench lab", "location": "Bay 2, battery test cell"}
    status = {i["role"]: i["calibration_status"] for i in r["instruments"]}
    assert status == {"chamber": "NONE", "irt": "EXPIRED", "psu": "VALID"}
    assert [p["source"] for p in r["passports"]] == ["DUT information", "attachment passport.json"]
    assert "passport" not in r["dut_identity"] and r["dut_identity"]["serial"] == "MOD-0042"
    assert r["conditions"]["events"][0]["data"]["temperature"] == "23.4 °C"
    cond = [m["name"] for m in r["measurements"] if m["id"] in r["conditions"]["measurements"]]
    assert cond == ["chamber.temperature"] and r["conditions"]["series"] == []
    assert [g["grade"] for g in r["grades"]] == ["B"]
    assert [p["answer"] for p in r["prompts"]] == ["yes"]
    assert [d["kind"] for d in r["deviations"]] == ["deviation"]
    current = next(s for s in r["series"] if s["name"] == "pack.current")
    assert current["samples"] == 5000 and len(current["checks"]) == 1
    matrix = {c["clause"]: c["verdict"] for c in r["compliance_matrix"]}
    assert matrix["UL 1974 S4 insulation"] == "INDETERMINATE" and matrix["UL 1974 S5 capacity"] == "PASS"
    limits = next(a for a in r["attachments"] if a["kind"] == "limit-set")
    assert limits["path"] == "limits/module_lfp.toml" and len(limits["sha256"]) == 64
    assert r["amendment"] is None


def test_limit_set_bytes_and_csv_are_written_exactly(run_id: str, journal: Journal, tmp_path: Path) -> None:
    out = render_report(journal, run_id, tmp_path / "run", pdf=False, csv=True).out_dir
    assert (out / "limits" / "module_lfp.toml").read_bytes() == next(
        a["content"] for a in journal.attachments(run_id) if a["kind"] == "limit-set"
    )
    lines = (out / "attachments" / "telemetry.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "series,unit,step,t_s,value" and len(lines) == 1 + 3 * 5000
    assert lines[1].startswith("cell.max_temperature,°C,test_plans/intake/test_intake.py::test_capacity,4.0,")


def test_the_shipped_record_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Runs validate records against schemas/record.schema.json without re-checking the schema itself."""
    import jsonschema

    from bench.report.record import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]
