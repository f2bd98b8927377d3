"""Seeded ground-truth batch on the simulated station: every named profile lands in its expected
grade, decided by the expected rule and measurement (bench run --dut-list path, one process per
module), the summary is written, and every module's passport validates.

One test function on purpose: the batch is the expensive part, and a module-scoped fixture would
run it once per pytest-xdist worker that picks up one of several tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import plan_fork
import pytest

from bench.batch import run_batch
from bench.journal import Journal
from test_plans.module_intake.passport import validate

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
FAST = ROOT / "stations" / "sim_module_intake_fast.toml"
PROFILES = ["healthy", "low_capacity", "high_resistance", "soft_short", "failed_protection", "swollen"]


def test_six_ground_truth_profiles_grade_as_expected(tmp_path: Path) -> None:
    csv = tmp_path / "modules.csv"
    csv.write_text(
        "serial,sim_profile,sim_seed\n"
        + "".join(f"GT-{i:02d}-{name},{name},{100 + i}\n" for i, name in enumerate(PROFILES)),
        encoding="utf-8",
    )
    t0 = time.monotonic()
    batch = run_batch(
        PLAN,
        csv,
        report_dir=tmp_path / "reports",
        batch_id="gt",
        jobs=2,
        timeout_s=900,
        echo=False,
        extra_args=["--station", str(FAST)],
        launcher=plan_fork.batch_module,  # each module a process forked from the suite's server
    )
    print(
        f"\nground-truth batch of {len(PROFILES)} modules: {time.monotonic() - t0:.1f} s wall on 2 jobs, "
        f"CPU per module {batch['module_cpu_s']}"
    )
    problems = []
    for profile in PROFILES:
        row = next(r for r in batch["results"] if r["profile"] == profile)
        exp = row["expect"]
        got = (row["status"], row["grade"], row["rule"], row["measurement"])
        want = ("COMPLETED", exp["grade"], exp["rule"], exp["measurement"])
        if got != want:
            problems.append(f"{profile}: {got} ({row['value']}: {row['reason']}), expected {want} (log {row['log']})")
    assert not problems, "\n".join(problems)

    data = json.loads((tmp_path / "reports" / "batch-gt.json").read_text(encoding="utf-8"))
    assert data["modules"] == len(PROFILES) and sum(data["counts"].values()) == len(PROFILES)
    assert data["yield_percent"] == pytest.approx(100 * 3 / 6, abs=0.1) and data["not_completed"] == 0
    assert "Yield" in (tmp_path / "reports" / "batch-gt.html").read_text(encoding="utf-8")

    j = Journal(tmp_path / "reports" / "journal.sqlite")
    try:
        virtual_h = {
            r["serial"]: max(s["ended_t"] or 0.0 for s in j.steps(r["run_id"])) / 3600 for r in batch["results"]
        }
    finally:
        j.close()
    cycled = {r["serial"] for r in batch["results"] if r["profile"] != "swollen"}  # a rejected module is not cycled
    assert all(virtual_h[s] > 48 for s in cycled), virtual_h  # capacity cycle, pulses, the 48 h self-discharge rest
    assert virtual_h[next(r["serial"] for r in batch["results"] if r["profile"] == "swollen")] < 1

    for row in batch["results"]:
        passport = json.loads(
            (Path(row["report"]).parent / "attachments" / "passport.json").read_text(encoding="utf-8")
        )
        validate(passport)
        assert passport["repurposing"]["grade"] == row["grade"]
        assert passport["repurposing"]["statement"] == "sequence derived from UL 1974"
        assert passport["batteryStatus"] == ("waste" if row["grade"] == "recycle" else "repurposed")
        record = json.loads((Path(row["report"]).parent / "record.json").read_text(encoding="utf-8"))
        leaked = [k for k in record["dut"] if k.startswith("sim_") or k in ("overrides", "faults", "expect")]
        assert not leaked, f"{row['serial']}: simulation settings in the DUT record: {leaked}"
