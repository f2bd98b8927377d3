"""The site acceptance plan end to end on the simulated site: healthy, and one test per seeded fault.

Each runs the plan in its own process (`pytest test_plans/site_acceptance`, as `bench run` does),
so they are independent and can run in parallel. The fault runs use a shorter variant of the
limit set (one capacity cycle, the first 3 h of the frequency-regulation signal, 6 h standby):
the same steps and limits, less virtual time.
"""

from __future__ import annotations

import json
from pathlib import Path

import plan_fork
import pytest

from instruments.sim.site.scenarios import (
    LIMITS,
    ROOT,
    SCENARIOS,
    compare_with_ledger,
    outcome,
    run_plan,
    write_station,
)

STEPS = [
    "test_01_communication_and_identity",
    "test_02_configuration_as_approved",
    "test_03_sign_conventions_and_metering",
    "test_04_reference_performance",
    "test_05_round_trip_efficiency",
    "test_06_response_and_ramp",
    "test_07_duty_cycles",
    "test_08_standby_loss",
    "test_09_site_protective_functions",
    "test_10_write_access_restriction",
]


def _short_limits(tmp: Path) -> Path:
    duty = ROOT / "test_plans" / "site_acceptance" / "duty_cycles"
    fr = (duty / "frequency_regulation_24h.csv").read_text().splitlines()
    head = [ln for ln in fr if ln.startswith("#") or ln.startswith("t[")]
    rows = [ln for ln in fr if ln and not ln.startswith("#") and not ln.startswith("t[")][:180]
    head = [("# end: 10800 s" if ln.startswith("# end:") else ln) for ln in head]
    (tmp / "fr_3h.csv").write_text("\n".join(head + rows) + "\n")
    text = LIMITS.read_text()
    text = text.replace('[parameters."rpt.cycles"]\nvalue = 3', '[parameters."rpt.cycles"]\nvalue = 1')
    text = text.replace('value = "24 h"\nsource = "PNNL-22010', 'value = "6 h"\nsource = "PNNL-22010')
    text = text.replace(
        '"test_plans/site_acceptance/duty_cycles/frequency_regulation_24h.csv"', json.dumps(str(tmp / "fr_3h.csv"))
    )
    text = text.replace('id = "site-acceptance-lfp-300kwh"', 'id = "site-acceptance-lfp-300kwh-short"')
    out = tmp / "short.toml"
    out.write_text(text)
    return out


def test_healthy_site_passes_every_step_and_energies_agree_with_the_plant(healthy_run):
    res, proc = healthy_run, healthy_run["proc"]
    assert [s for s in res["steps"]] == STEPS, proc.stdout[-2000:]
    assert res["run"]["verdict"] == "PASS", [(s, m["name"], m["value"], m["verdict"]) for s, m in res["bad"]]
    ledger = res["ledger"]
    dis, ch = compare_with_ledger(res["measurements"], ledger)
    assert len(dis) == len(ch) == 3
    usable_plan, usable_plant = sum(v for v, _ in dis) / 3, sum(p for _, p in dis) / 3
    assert usable_plan == pytest.approx(usable_plant, rel=0.005)
    rte_plan = sum(v for v, _ in dis) / sum(v for v, _ in ch)
    assert rte_plan == pytest.approx(sum(p for _, p in dis) / sum(p for _, p in ch), rel=0.005)
    rte_row = [m for m in res["measurements"] if m["name"] == "rte.ac"][0]
    assert rte_row["value"] / 100 == pytest.approx(rte_plan, rel=1e-6)
    attachments = {p.name for p in (res["reports"] / res["run"]["run_id"] / "attachments").iterdir()}
    assert {
        "capacity_cycles.svg",
        "rte_table.csv",
        "response_steps.svg",
        "alarm_matrix.csv",
        "configuration_comparison.csv",
        "duty_peak_shaving_daily.svg",
    } <= attachments


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_seeded_fault_is_caught_by_its_step_and_only_there(tmp_path, scenario):
    station = write_station(tmp_path, scenario.faults, role_timeout=scenario.role_timeout)
    proc = run_plan(tmp_path / "reports", station, limits=_short_limits(tmp_path), runner=plan_fork.run)
    res = outcome(tmp_path / "reports")
    steps = res["steps"]
    assert scenario.step in steps, proc.stdout[-2000:]
    assert steps[scenario.step]["verdict"] == scenario.verdict, proc.stdout[-2000:]
    caught = [m for s, m in res["bad"] if s == scenario.step and m["name"] == scenario.measurement]
    assert caught and all(m["verdict"] == scenario.verdict for m in caught), res["bad"]
    others = {n: s["verdict"] for n, s in steps.items() if n != scenario.step and s["verdict"] != "PASS"}
    assert not others, (others, [(s, m["name"], m["value"], m["verdict"]) for s, m in res["bad"]])
    ran = list(steps)
    if scenario.gate:  # the run stops at a failed gate (STOPPED, verdict FAIL): nothing after it is meaningful
        assert ran[-1] == scenario.step and res["run"]["status"] == "STOPPED" and res["run"]["verdict"] == "FAIL"
    else:
        assert ran == STEPS
