"""High-rate capture through a plan run: per-step Parquet files, checks from the store, the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import plan_fork
import pytest

from bench.journal import COMPLETED, Journal
from bench.report.render import render_report
from bench.signing.manifest import build_manifest
from bench.telemetry.reader import StoreReader

ROOT = Path(__file__).resolve().parents[2]
PLAN = Path(__file__).with_name("plan_capture")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Journal, str, Path]:
    out = tmp_path_factory.mktemp("capture-plan")
    proc = plan_fork.run(
        [
            str(PLAN / "plan_steps.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-o",
            "addopts=",
            "--report-dir",
            str(out),
            "--dut",
            "CAP-1",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    j = Journal(out / "journal.sqlite")
    run_id = j.runs(1)[0]["run_id"]
    yield j, run_id, out
    j.close()


def test_each_step_gets_its_own_parquet_files_hashed_in_the_journal(run) -> None:
    j, run_id, out = run
    assert j.run(run_id)["status"] == COMPLETED
    steps = {s["nodeid"] for s in j.steps(run_id)}
    segments = j.chunks(run_id, kind="segment")
    by_step: dict[str | None, set[str]] = {}
    for r in segments:
        by_step.setdefault(r["step"], set()).add(r["grp"])
        assert (out / run_id / r["file"]).is_file()
    assert steps <= set(by_step) and by_step[next(iter(steps))] >= {"poll", "bms_can.f_CellVoltages"}
    reader = StoreReader(j, run_id)
    assert reader.verify(deep=True) == []
    start = next(e for e in j.events(run_id) if e["kind"] == "telemetry")
    assert start["data"]["rate_hz"] == 20.0 and start["data"]["exact_cycles"] == ["bms_can"]  # plan over station
    assert not (out / run_id / "telemetry-wal").exists()


def test_aggregate_checks_on_captured_channels_equal_the_store_over_the_step(run) -> None:
    j, run_id, _ = run
    reader = StoreReader(j, run_id)
    started = {s["nodeid"]: s["started_t"] for s in j.steps(run_id)}
    checks = [m for m in j.measurements(run_id) if m["series"]]
    assert {m["series"] for m in checks} == {
        "bms_can.CellVoltage_003",
        "bms_can.Current",
        "load.current",
        "bms_can.CellTemperature_000",
    }
    for m in checks:
        want = reader.aggregate(m["series"], m["aggregate"], started[m["step"]], m["t"])
        unit = reader.channel(m["series"]).unit
        factor = {("mV", "V"): 1e-3}.get((unit, m["unit"]), 1.0)
        assert m["value"] == pytest.approx(want * factor, rel=1e-12, abs=1e-12), m["name"]
        assert m["verdict"] == "PASS"
    current = next(m for m in checks if m["name"] == "pulse.mean_current")
    assert 38.0 < current["value"] < 42.0  # 40 A on the load, seen on the BMS's pack current frames


def test_report_lists_and_signs_the_parquet_files_and_writes_csv_only_on_request(run, tmp_path: Path) -> None:
    j, run_id, out = run
    folder = out / run_id
    record = json.loads((folder / "record.json").read_text())
    files = {f["path"]: f["sha256"] for f in record["telemetry"]["files"]}
    assert files and all(p.startswith("attachments/telemetry/") for p in files)
    manifest = {e.path: e.sha256 for e in build_manifest(folder, run_id=run_id).files}
    assert all(manifest[p] == sha for p, sha in files.items())  # a signature over the manifest covers them
    assert not (folder / "attachments" / "telemetry.csv").exists()
    html = (folder / "report.html").read_text()
    assert "High-rate telemetry" in html and "bms_can cell voltages (16 cells)" in html
    assert "pulse.mean_current" in html and "No anomaly flag was raised" in html
    copy = render_report(j, run_id, tmp_path / "copy", pdf=False, csv=True)
    assert all((copy.out_dir / p).is_file() for p in files)  # --out elsewhere carries the files along
    lines = (copy.out_dir / "attachments" / "telemetry.csv").read_text().splitlines()
    assert lines[0] == "series,unit,step,t_s,value"
    captured = [ln for ln in lines if ln.startswith("bms_can.CellVoltage_003,mV,")]
    assert len(captured) == StoreReader(j, run_id).totals("bms_can.CellVoltage_003")["count"]
