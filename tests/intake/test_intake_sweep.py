"""Sweep over what a second-life intake line receives: LFP and NMC modules at 50-100 % state of
health, 0-150 % resistance growth, self-discharge leaks from none to 10 ohm, and two defects at
once. Every module runs the whole plan through the batch machinery (one process per module, its
simulated condition in its own station file) and must COMPLETE with the grade the limit set's rule
table gives for the PLANT's ground truth (tests/intake/conftest.py), within the stated tolerance
at grade boundaries; each graded result's band is checked against the truth as well, so a module
that varies several factors proves each of them.

Design: 12 modules, each varying several factors (not a grid), chemistries alternating:
state of health 52.5 57 61.5 66 71.5 76 80.8 83 88.5 91.5 94 98.5 %; growth 0 5 8 12 20 24 33 47 63
88 112 150 %; leaks none, 2000, 400, 100, 50, 30 and 10 ohm; two-defect modules: a weak cell with a
high-resistance cell, a weak cell with a soft short, and fade + growth + leak together.
"""

from __future__ import annotations

import time
from pathlib import Path

import plan_fork

from bench.batch import run_batch
from instruments.sim.plant.chemistry import get_chemistry

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
STATIONS = {
    "LFP": ROOT / "stations" / "sim_module_intake_fast.toml",
    "NMC": ROOT / "stations" / "sim_module_intake_nmc_fast.toml",
}
RATED_CELL_AH = {"LFP": 100.0, "NMC": 60.0}

# serial suffix, chemistry, SOH % (cell capacity / rated), growth % (cell R0 / BoL R0), leak ohm, extra faults
MODULES = [
    ("01", "LFP", 98.5, 0.0, None, []),
    ("02", "NMC", 91.5, 12.0, 2000.0, []),
    ("03", "LFP", 83.0, 33.0, None, []),
    ("04", "NMC", 76.0, 47.0, None, []),
    ("05", "LFP", 71.5, 63.0, 100.0, []),
    ("06", "NMC", 66.0, 88.0, 400.0, []),
    ("07", "LFP", 61.5, 112.0, None, []),
    ("08", "NMC", 57.0, 150.0, None, []),
    ("09", "LFP", 52.5, 20.0, 10.0, []),
    ("10", "NMC", 94.0, 5.0, 50.0, []),
    (
        "11",
        "LFP",
        88.5,
        8.0,
        None,
        [
            {"type": "weak_cell", "cell": 3, "capacity_factor": 0.74},
            {"type": "high_resistance_cell", "cell": 9, "resistance_factor": 3.0},
        ],
    ),
    ("12", "NMC", 80.8, 24.0, 30.0, [{"type": "weak_cell", "cell": 6, "capacity_factor": 0.9}]),
]


def _condition(chem: str, soh: float, growth: float, leak: float | None, extra: list[dict]) -> str:
    r0_bol = get_chemistry(chem).r0_ohm_Ah / RATED_CELL_AH[chem]
    faults = list(extra) + ([{"type": "soft_short", "cell": 5, "leak_ohm": leak}] if leak else [])
    desc = (
        f"{chem} SOH {soh} %, growth {growth:+} %"
        + (f", soft short {leak:g} ohm" if leak else "")
        + "".join(f", {f['type']} cell {f['cell']}" for f in extra)
    )
    items = ", ".join(
        "{ " + ", ".join(f'"{k}" = {v!r}' if not isinstance(v, str) else f'"{k}" = "{v}"' for k, v in f.items()) + " }"
        for f in faults
    )
    return (
        f'description = "{desc}"\nfaults = [{items}]\n\n[overrides.pack]\n'
        f"cell_capacity_Ah = {RATED_CELL_AH[chem] * soh / 100.0!r}\ncell_r0_ohm = {r0_bol * (1 + growth / 100)!r}\n"
        "capacity_spread_rel = 0.005\n"
    )


def test_sweep_over_the_intake_range_grades_as_the_plant_ground_truth(tmp_path, ground_truth, limit_sets):
    rows = ["serial,chemistry,station,simulation,sim_seed"]
    for i, (tag, chem, soh, growth, leak, extra) in enumerate(MODULES):
        cond = tmp_path / f"SW-{tag}.sim.toml"
        cond.write_text(_condition(chem, soh, growth, leak, extra), encoding="utf-8")
        rows.append(f"SW-{tag}-{chem},{chem},{STATIONS[chem]},{cond},{300 + i}")
    csv = tmp_path / "sweep.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    t0 = time.monotonic()
    summary = run_batch(
        PLAN,
        csv,
        report_dir=tmp_path / "reports",
        batch_id="sweep",
        jobs=2,
        timeout_s=900,
        echo=False,
        launcher=plan_fork.batch_module,  # each module a process forked from the suite's server
    )
    wall = time.monotonic() - t0
    journal = tmp_path / "reports" / "journal.sqlite"
    problems, lines, boundary = [], [], 0
    for row in summary["results"]:
        chem = row["serial"].rsplit("-", 1)[1]
        limits = limit_sets[chem]
        truth = ground_truth.truth_of(row["station"], limits)
        grades = ground_truth.allowed_grades(limits, truth)
        bands = ground_truth.allowed_bands(limits, truth)
        boundary += any(len(b) > 1 for b in bands.values())
        got = ground_truth.measurements(journal, row["run_id"]) if row["run_id"] else {}
        measured = {n: got[n]["value"] if n in got else None for n in ground_truth.graded}
        lines.append(
            f"{row['serial']:<11} {row['status']:<9} {row['grade']:<8} truth {'/'.join(sorted(grades)):<10} "
            f"SOH {truth.soh:6.2f}/{_f(measured['capacity.soh'])} "
            f"growth {truth.growth:7.2f}/{_f(measured['dcir.growth'])} "
            f"rate {truth.cell_rate:6.2f}/{_f(measured['self_discharge.cell_rate'])} mV/d "
            f"{row['wall_s']:5.1f} s  {row['description']}"
        )
        if row["status"] != "COMPLETED":
            problems.append(f"{row['serial']}: run {row['status']} ({row['reason']}; log {row['log']})")
            continue
        if row["grade"] not in grades:
            problems.append(
                f"{row['serial']}: graded {row['grade']} by {row['rule']} ({row['measurement']} "
                f"{row['value']}: {row['reason']}), the rule table on the truth gives {sorted(grades)}"
            )
        for name in ground_truth.graded:
            band = got.get(name, {}).get("grade")
            if band not in bands[name]:
                problems.append(
                    f"{row['serial']}: {name} = {measured[name]} in band {band}, truth "
                    f"{truth.value(name):.3f} allows {sorted(bands[name])}"
                )
    print(
        f"\nintake sweep: {len(MODULES)} modules, {boundary} with a result within the tolerance of a band edge, "
        f"{sum(r['status'] != 'COMPLETED' for r in summary['results'])} aborted, {wall:.1f} s wall on 2 jobs "
        f"(per module {summary['module_wall_s']})\n" + "\n".join(lines)
    )
    assert not problems, "\n".join(problems)


def _f(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.2f}"
