"""Modules the plan cannot fully measure end in quarantine with the reason, never with a grade from
partial evidence and never as a missing line of the batch summary.

- A chamber that cannot cool the module to 25 degC (a hot bay, a failed cooler): the capacity step's
  precondition fails, its results stay INDETERMINATE, the SOC points are counted against the
  BMS-reported state of health instead, the plan goes on and the grade is quarantine.
- A load that refuses every command: the run aborts (an instrument failure is a safety matter);
  the batch summary still lists the module, ABORTED, quarantined with the reason, against yield.
- Physically impossible values (a mis-entered passport: rated 50 Ah and 50 mOhm at BoL for a
  100 Ah, 5 mOhm module; a load sense offset; a drifting BMS cell-voltage front end, see
  measurement_faults.py): capacity above 150 % of rated, SOH and SOCE above 150 %, growth below
  -50 %, negative pulse resistances and power, power fade below -100 %, a self-discharge rate
  implying a negative leak. Each is INDETERMINATE "implausible: ...", none is graded, the grade is
  quarantine with that reason, and the SOC points fall back to the BMS-reported state of health.
  (The intake plan measures no efficiency, so "efficiency above 100 %" has no intake case.)
"""

from __future__ import annotations

from pathlib import Path

from bench.batch import run_batch

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
STATION = ROOT / "stations" / "sim_module_intake_fast.toml"

HOT_BAY = """description = "62 % module in a 40 degC bay whose chamber cannot cool"
[overrides]
ambient_degC = 40.0
[overrides.chamber]
cool_rate_max_degC_per_min = 0.001
[overrides.pack]
cell_capacity_Ah = 62.0
cell_r0_ohm = 0.00033
capacity_spread_rel = 0.005
"""
IMPLAUSIBLE = """description = "healthy 100 Ah module, passport mis-entered, load sense offset, BMS front end drifting"
[dut]
rated_capacity = "50 A*h"
bol_resistance = "50 mohm"
[overrides.pack]
cell_capacity_Ah = 98.0
cell_r0_ohm = 0.0003
capacity_spread_rel = 0.005
"""
IMPLAUSIBLE_RESULTS = [
    "capacity.discharge_capacity",
    "capacity.discharge_energy",
    "capacity.soh",
    "capacity.soce",
    "dcir.growth",
    "pulse.discharge_resistance",
    "pulse.power_capability",
    "pulse.power_fade",
    "self_discharge.cell_rate",
    "self_discharge.module_rate",
]
DEAD_LOAD = """description = "electronic load refusing every command"
faults = [{ type = "instrument_error", name = "load", count = 100000, code = -200, message = "Execution error" }]
"""


def test_unmeasurable_implausible_and_aborted_modules_are_quarantined_with_the_reason(
    tmp_path, ground_truth, monkeypatch
):
    monkeypatch.chdir(ROOT)  # the children import the measurement-fault plugin from the checkout
    (tmp_path / "hot.sim.toml").write_text(HOT_BAY, encoding="utf-8")
    (tmp_path / "impl.sim.toml").write_text(IMPLAUSIBLE, encoding="utf-8")
    (tmp_path / "dead.sim.toml").write_text(DEAD_LOAD, encoding="utf-8")
    csv = tmp_path / "modules.csv"
    csv.write_text(
        "serial,chemistry,station,simulation,sim_seed\n"
        f"Q-HOT,LFP,{STATION},{tmp_path / 'hot.sim.toml'},401\n"
        f"Q-IMPL,LFP,{STATION},{tmp_path / 'impl.sim.toml'},403\n"
        f"Q-DEAD,LFP,{STATION},{tmp_path / 'dead.sim.toml'},402\n",
        encoding="utf-8",
    )
    summary = run_batch(
        PLAN,
        csv,
        report_dir=tmp_path / "reports",
        batch_id="q",
        jobs=2,
        timeout_s=900,
        echo=False,
        extra_args=["-p", "tests.intake.measurement_faults"],
    )
    rows = {r["serial"]: r for r in summary["results"]}
    journal = tmp_path / "reports" / "journal.sqlite"

    hot = rows["Q-HOT"]
    assert hot["status"] == "COMPLETED", hot
    assert hot["grade"] == "quarantine" and hot["measurement"] == "capacity.soh", hot
    assert "not measured" in hot["reason"] and "not stable" in hot["reason"], hot["reason"]
    events = ground_truth.events(journal, hot["run_id"])
    kinds = [e["kind"] for e in events]
    assert "abort" not in kinds
    basis = [e["message"] for e in events if e["kind"] == "soc_basis"]
    assert basis and "BMS-reported state of health" in basis[0], basis
    grade = next(e for e in events if e["kind"] == "grade")
    assert any(i.startswith("capacity: module not stable") for i in grade["data"]["incomplete"]), grade["data"]
    got = ground_truth.measurements(journal, hot["run_id"])
    assert "capacity.soh" not in got and "dcir.resistance" in got and "self_discharge.cell_rate" in got
    assert got["intake.incomplete_steps"]["value"] >= 1

    impl = rows["Q-IMPL"]
    assert impl["status"] == "COMPLETED", impl
    assert impl["grade"] == "quarantine" and "implausible" in impl["reason"], impl
    got = ground_truth.measurements(journal, impl["run_id"])
    j_all = ground_truth.measurement_rows(journal, impl["run_id"])
    for name in IMPLAUSIBLE_RESULTS:
        rows_n = [m for m in j_all if m["name"] == name]
        assert rows_n, f"{name} not journalled"
        assert all(
            m["verdict"] == "INDETERMINATE" and m["reason"].startswith("implausible:") and m["grade"] is None
            for m in rows_n
        ), [(m["value"], m["verdict"], m["reason"], m["grade"]) for m in rows_n]
    assert got["dcir.resistance"]["verdict"] == "PASS"  # the differential two-step is immune to the offset
    events = ground_truth.events(journal, impl["run_id"])
    basis = [e["message"] for e in events if e["kind"] == "soc_basis"]
    assert basis and "BMS-reported state of health" in basis[0], basis
    fired = next(e for e in events if e["kind"] == "grade")["data"]["fired"]
    implausible = {f["measurement"] for f in fired if "implausible" in f["reason"]}
    assert {"capacity.soh", "dcir.growth", "self_discharge.cell_rate"} <= implausible, fired
    assert all(f["grade"] == "quarantine" for f in fired if f["measurement"] in implausible)

    dead = rows["Q-DEAD"]
    assert dead["status"] == "ABORTED" and dead["grade"] == "quarantine", dead
    assert dead["rule"] == "run aborted" and "InstrumentError" in dead["reason"], dead
    assert summary["not_completed"] == 1 and summary["reusable"] == 0 and summary["yield_percent"] == 0.0
    assert summary["counts"] == {"quarantine": 3}
    page = (tmp_path / "reports" / "batch-q.html").read_text(encoding="utf-8")
    assert "Q-DEAD" in page and "ABORTED" in page and "InstrumentError" in page
