"""Seeded ground-truth batch on the simulated station: every module lands in its expected grade,
decided by the expected rule and measurement (bench run --dut-list path, one process per module)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.batch import run_batch

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
FAST = ROOT / "stations" / "sim_module_intake_fast.toml"
PROFILES = ["healthy", "low_capacity", "high_resistance", "soft_short", "failed_protection", "swollen"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("batch")
    csv = tmp / "modules.csv"
    csv.write_text("serial,sim_profile,sim_seed\n" + "".join(
        f"GT-{i:02d}-{name},{name},{100 + i}\n" for i, name in enumerate(PROFILES)), encoding="utf-8")
    t0 = time.monotonic()
    summary = run_batch(PLAN, csv, report_dir=tmp / "reports", batch_id="gt", jobs=2, timeout_s=600, echo=True,
                        extra_args=["--station", str(FAST)])
    print(f"ground-truth batch of {len(PROFILES)} modules: {time.monotonic() - t0:.1f} s wall on 2 workers")
    return summary


@pytest.mark.parametrize("profile", PROFILES)
def test_module_graded_as_ground_truth(batch: dict, profile: str) -> None:
    row = next(r for r in batch["results"] if r["profile"] == profile)
    exp = row["expect"]
    assert row["status"] == "COMPLETED", f"{profile}: run {row['status']} (log {row['log']})"
    assert row["grade"] == exp["grade"], f"{profile}: graded {row['grade']} by {row['rule']} ({row['value']})"
    assert row["rule"] == exp["rule"], f"{profile}: decided by {row['rule']!r}, expected {exp['rule']!r}"
    assert row["measurement"] == exp["measurement"]


def test_batch_summary_written(batch: dict) -> None:
    out = Path(batch["results"][0]["log"]).parents[1]
    data = json.loads((out / "batch-gt.json").read_text(encoding="utf-8"))
    assert data["modules"] == len(PROFILES)
    assert sum(data["counts"].values()) == len(PROFILES)
    assert data["yield_percent"] == pytest.approx(100 * 3 / 6, abs=0.1)
    assert "Yield" in (out / "batch-gt.html").read_text(encoding="utf-8")


def test_passport_attached_and_valid(batch: dict) -> None:
    from test_plans.module_intake.passport import validate

    for row in batch["results"]:
        passport = Path(row["report"]).parent / "attachments" / "passport.json"
        data = json.loads(passport.read_text(encoding="utf-8"))
        validate(data)
        assert data["repurposing"]["grade"] == row["grade"]
        assert data["repurposing"]["statement"] == "sequence derived from UL 1974"
        assert data["batteryStatus"] == ("waste" if row["grade"] == "recycle" else "repurposed")
