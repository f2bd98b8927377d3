"""A field log's analysis feeds the module intake: its dut_info.json is the history the plan reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import plan_fork
import pytest

from bench.analyze import analyze_bms_log
from bench.analyze.output import write_all

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"


@pytest.fixture(scope="module")
def feed(cell_and_heat_log, tmp_path_factory):
    log, path = cell_and_heat_log
    out = tmp_path_factory.mktemp("feed")
    result = analyze_bms_log([path])
    paths = write_all(result, out)
    return result, json.loads(paths["dut_info.json"].read_text(encoding="utf-8")), paths["dut_info.json"]


def test_dut_info_carries_cycles_throughput_and_window_excursions(feed):
    result, info, _ = feed
    hist = info["history"]
    t = result.metrics.totals
    assert hist["cycle_count"] == pytest.approx(t["equivalent_full_cycles"].magnitude, abs=0.05)
    assert float(hist["energy_throughput"].split()[0]) == pytest.approx(
        t["discharge_energy"].to("kWh").magnitude, rel=1e-4
    )
    assert float(hist["capacity_throughput"].split()[0]) == pytest.approx(t["discharge"].to("A*h").magnitude, abs=0.05)
    assert len(hist["events"]) == 1 and hist["events"][0].startswith("cell overvoltage in field log: Cell07")
    assert "field log" in hist["source"] and hist["field_log"]["cells_outside_window"] == ["Cell07"]


def test_passport_built_from_the_field_history_validates(feed):
    from test_plans.module_intake.passport import build_passport, validate

    _, info, _ = feed
    dut = {
        "serial": "M-1",
        "oem": "OEM",
        "model": "X",
        "chemistry": "LFP",
        "rated_capacity": "250 A*h",
        "nominal_voltage": "51.2 V",
        "bol_resistance": "5 mohm",
        "passport_id": "EU-1",
    }
    grade = {
        "grade": "A",
        "route": "reuse",
        "rule": "R00",
        "measurement": "",
        "value": "",
        "reason": "",
        "rule_table_version": "MI-LFP-1.0.0",
        "fired": [],
    }
    run = {
        "run_id": "R1",
        "batch_id": "b",
        "plan": "module_intake",
        "plan_version": "1.0.0",
        "station": "sim",
        "site": "lab",
        "simulated": True,
        "date": "2026-11-23",
        "limit_set": {"id": "module-intake-lfp", "version": "1.0.0", "sha256": "00"},
    }
    p = build_passport(dut=dut, history=info["history"], results={}, grade=grade, run=run)
    validate(p)
    h = p["history"]
    assert h["numberOfFullCycles"] == info["history"]["cycle_count"]
    assert h["energyThroughput"]["unit"] == "kWh" and h["capacityThroughput"]["unit"] == "Ah"
    assert h["negativeEvents"] == info["history"]["events"]
    assert h["historySource"].startswith("BMS field log analysis")


def test_intake_plan_records_the_field_history(feed, tmp_path):
    """`bench run test_plans/module_intake --dut-info dut_info.json`, first step only, on the simulated station."""
    _, info, dut_info = feed
    args = [
        "run",
        str(PLAN),
        "--dut-info",
        str(dut_info),
        "--report-dir",
        str(tmp_path),
        "--",
        "-k",
        "test_01",
        "-p",
        "no:cacheprovider",
    ]
    done = plan_fork.run_bench(args, cwd=ROOT, env=dict(os.environ), timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    record = json.loads(next(tmp_path.glob("*/record.json")).read_text(encoding="utf-8"))
    values = {m["name"]: m["value"] for m in record["measurements"]}
    assert values["history.cycle_count"] == pytest.approx(info["history"]["cycle_count"])
    assert values["history.energy_throughput"] == pytest.approx(float(info["history"]["energy_throughput"].split()[0]))
    assert values["history.disqualifying_events"] == 0  # an overvoltage excursion is recorded, not a reject
