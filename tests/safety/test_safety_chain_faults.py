"""The safety-chain plan on the simulator: a healthy LFP and NMC system passes every step, and for
each hazard the chain covers a system whose response is missing or late FAILs at the step for that
hazard and only there (issue 11 item 6). Existing faults keep their meaning: a precursor or a gas
leak by the baseline, a stuck sensor by the trip response, a slow comms watchdog by the comms-loss
step, an unannounced loss of the BMS link by the bench's own interlock, and a BMS ignoring gas
stage 2 by the gas step, with the bench's gas-stage trip during the safe state merged, not raised.

The hardware path: the same plan with the stimulus layer's operator backend (OperatorStimulus,
stations/sim_safety_operator.toml), every prompt answered from the station file and the simulated
operator performing what was confirmed, gives the same verdicts as the HIL run, healthy and faulty.

Each case is one run of the plan in a subprocess (chain_runs.py); cases run in parallel.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from chain_runs import Case, run_case

PRESSURE_2000 = "[simulation.overrides.bms]\npressure_alarm_Pa = 2000.0"
CASES: dict[str, Case] = {
    "healthy": Case(),
    "nmc_healthy": Case(base="nmc"),
    # -- one seeded failure per hazard: missing or late response -----------------------------------------
    "ror_no_open": Case(
        "[simulation.overrides.bms.opens_contactor]\ntemp_rise_rate = false",
        "test_rate_of_rise_response",
        "STOPPED",
        ("ror.trip_time", "ror.current_zero_time"),
    ),
    "gas_stage1_late": Case(
        "[simulation.overrides.bms]\ngas_stage1_ppm = { H2 = 2000.0, CO = 1000.0, VOC = 500.0, HF = 50.0 }",
        "test_gas_detection",
        "STOPPED",
        ("gas.stage1_alarm_time",),
    ),
    # issue 11 item 4: the BMS ignores gas stage 2; the plan FAILs the shutdown, and the bench's own
    # gas-stage interlock then trips while the safe state is being driven: merged into it, never raised
    # (its contactors take 3 s to open on the safe state's standby request, so the bench's 2 s watch
    # certainly falls inside the safe state)
    "gas_stage2_no_open": Case(
        "[simulation.overrides.bms]\nopen_time_s = 3.0\n[simulation.overrides.bms.opens_contactor]\ngas_stage2 = false",
        "test_gas_detection",
        "STOPPED",
        ("gas.stage2_trip_time", "gas.shutdown_time"),
        interlock="gas_stage",
    ),
    # issue 11 item 6: a BMS that acts on over-pressure only at 2000 Pa instead of 150 Pa
    "pressure_no_act": Case(
        PRESSURE_2000,
        "test_pressure_vent_detection",
        "STOPPED",
        ("pressure.alarm_time", "pressure.trip_time", "pressure.current_zero_time"),
    ),
    "gradient_slow": Case(
        "[simulation.overrides.bms]\ngradient_delay_s = 30.0",
        "test_thermal_gradient",
        "STOPPED",
        ("gradient.alarm_time", "gradient.trip_time", "gradient.current_zero_time"),
    ),
    "ot_slow": Case(
        "[simulation.overrides.bms]\not_delay_s = 5.0",
        "test_thermal_trip_response",
        "STOPPED",
        ("thermal.alarm_time", "thermal.trip_time", "thermal.current_zero_time"),
    ),
    "comms_loss_slow_bms": Case(
        "[simulation.overrides.bms]\ncomms_timeout_s = 30.0", "test_comms_loss", "STOPPED", ("comms.safe_state_time",)
    ),
    # -- faults of the plant --------------------------------------------------------------------------------
    "thermal_runaway_precursor": Case(
        'faults = [{type = "thermal_runaway_precursor", cell = 3, heat_rate_degC_per_min = 5.0}]',
        "test_baseline_at_rest",
        "STOPPED",
        ("thermal.baseline_rate_of_rise",),
    ),
    "gas_release": Case(
        "[simulation.overrides.gas]\nbackground_ppm = { H2 = 2500.0 }",
        "test_baseline_at_rest",
        "STOPPED",
        ("gas.baseline_lfl_fraction",),
    ),
    "stuck_sensor": Case(
        'faults = [{type = "stuck_temp_sensor", cell = 6}]',
        "test_thermal_trip_response",
        "STOPPED",
        ("thermal.sensor_tracking",),
    ),
    # the first provoked path with current flowing is the comms loss: the current never stops
    "welded_contactor": Case(
        'faults = [{type = "welded_contactor"}]', "test_comms_loss", "STOPPED", ("comms.safe_state_time",)
    ),
    "comms_loss_unannounced": Case(
        'faults = [{type = "comms_loss", at_s = 3000.0}]', None, "ABORTED", interlock="link.bms_can"
    ),
    # -- NMC ----------------------------------------------------------------------------------------------------
    # an NMC pack commissioned with the LFP product's OT trips (55 degC, above the NMC 45 degC ceiling):
    # the settings the engineer reads are those the BMS holds
    "nmc_lfp_ot_settings": Case(
        "[simulation.overrides.bms]\not_charge_alarm_degC = 55.0\not_discharge_alarm_degC = 55.0\n"
        '[simulation.prompts]\n"bms.setting.ot_charge_trip" = "55 degC"\n'
        '"bms.setting.ot_discharge_trip" = "55 degC"',
        "test_thermal_detection_setpoints",
        "COMPLETED",
        ("thermal.ot_trip_headroom_oem", "thermal.soak_headroom"),
        also=("test_thermal_trip_response",),
        base="nmc",
    ),
    "nmc_stuck_sensor": Case(
        'faults = [{type = "stuck_temp_sensor", cell = 4}]',
        "test_thermal_trip_response",
        "STOPPED",
        ("thermal.sensor_tracking",),
        base="nmc",
    ),
    # -- the hardware path: operator prompts answered from the station, the simulated operator acting ------------
    "operator_healthy": Case(base="operator"),
    "operator_pressure_no_act": Case(
        PRESSURE_2000,
        "test_pressure_vent_detection",
        "STOPPED",
        ("pressure.alarm_time", "pressure.trip_time", "pressure.current_zero_time"),
        base="operator",
    ),
}
SAME_AS = {"operator_healthy": "healthy", "operator_pressure_no_act": "pressure_no_act"}
# longest runs first, so the parallel workers finish together
ORDER = sorted(CASES, key=lambda n: (CASES[n].status != "COMPLETED", CASES[n].step is not None))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("chain")
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        return {r["name"]: r for r in pool.map(lambda n: run_case(n, CASES[n], tmp), ORDER)}


@pytest.mark.parametrize("case", list(CASES))
def test_each_hazard_is_caught_at_its_step_and_only_there(case: str, outcomes: dict[str, dict[str, Any]]) -> None:
    c, r = CASES[case], outcomes[case]
    assert r["status"] == c.status, (r["reason"], r["out"])
    assert not r["internal_error"] and r["summary"], r["out"]
    failing = [node for node, (outcome, _verdict) in r["steps"].items() if outcome == "failed"]
    assert failing == c.failing_steps() or c.interlock, (failing, r["failed"])
    verdicts = {node: verdict for node, (_outcome, verdict) in r["steps"].items()}
    if c.step is None and c.interlock is None:
        assert set(verdicts.values()) == {"PASS"}, (verdicts, r["failed"])
        assert r["failed"] == {} and r["verdict"] == "PASS", r["failed"]
        assert all(v == "PASS" for _n, _s, v, _x, _note in r["measurements"]), r["measurements"]
    elif c.step is not None:
        nodes = list(verdicts)
        at = c.failing_steps()
        assert all(verdicts.get(n) == "FAIL" for n in at), (verdicts, r["failed"], r["out"])
        assert all(verdicts[n] == "PASS" for n in nodes if n not in at), verdicts  # every other step ran clean
        assert set(c.failed) <= set(r["failed"]), r["failed"]
        assert set(r["failed"].values()) == set(at), r["failed"]  # every FAIL is in the step for that hazard
        if c.status == "STOPPED":
            assert nodes[-1] == at[-1] and r["verdict"] == "FAIL", (nodes, r["verdict"])  # nothing ran after it
        else:  # a FAIL that does not stop the plan: every later step still ran, and passed
            assert nodes == list(outcomes["healthy"]["steps"]) and r["verdict"] == "FAIL", (nodes, r["verdict"])
    if c.interlock is not None:  # the link interlock, or the plan's own read of the silent BMS, stops the run
        role = c.interlock.split(".")[-1]
        assert any(c.interlock in e["message"] for e in r["trips"]) or role in (r["reason"] or ""), (
            r["trips"],
            r["reason"],
        )
    else:
        assert r["trips"] == [], r["trips"]


def test_a_trip_during_the_safe_state_is_merged_and_the_sequence_completes(outcomes: dict[str, dict[str, Any]]) -> None:
    r = outcomes["gas_stage2_no_open"]
    assert "gas.shutdown_time" in r["failed"] and r["status"] == "STOPPED"
    assert not r["internal_error"] and r["summary"], r["out"]
    assert any(e["data"].get("merged") is True for e in r["trips"]), r["trips"]
    # every role of the station reported in each safe-state pass, in order (stimulus/load first, BMS last)
    roles = [m.split(":")[0] for m in r["safe"]]
    first_pass = roles[: roles.index("bms_can") + 1]
    assert {"stimulus", "load", "psu", "chamber", "bms_can"} <= set(first_pass), r["safe"]
    assert (
        first_pass.index("stimulus")
        < first_pass.index("load")
        < first_pass.index("psu")
        < first_pass.index("chamber")
        < first_pass.index("bms_can")
    )


@pytest.mark.parametrize("case", list(SAME_AS))
def test_the_hardware_path_gives_the_same_verdicts(case: str, outcomes: dict[str, dict[str, Any]]) -> None:
    """The operator backend runs the whole chain end to end: every measurement of the HIL run is
    journalled in the same order with the same verdict, every stimulus was confirmed and witnessed."""
    op, hil = outcomes[case], outcomes[SAME_AS[case]]
    assert (op["status"], op["verdict"]) == (hil["status"], hil["verdict"])
    assert {n: v for n, (_o, v) in op["steps"].items()} == {n: v for n, (_o, v) in hil["steps"].items()}
    assert [(n, s, v) for n, s, v, _x, _note in op["measurements"]] == [
        (n, s, v) for n, s, v, _x, _note in hil["measurements"]
    ]
    stimuli = [(msg, data) for kind, msg, data in op["events"] if kind == "stimulus"]
    asked = [data for kind, _msg, data in op["events"] if kind == "prompt" and data["key"].startswith("stimulus.")]
    assert len(stimuli) >= 8 and all(d["confirmed"] and d["witness"] == "A. Witness" for _m, d in stimuli), stimuli
    assert {d["stimulus"] for _m, d in stimuli} >= (
        {"cut_link", "heat", "gas_release", "ventilation"}
        | ({"sensor_override"} if case == "operator_healthy" else set())
    )
    assert sum(d["key"] == "stimulus.witness" for d in asked) == len(stimuli)  # one witness per confirmation
    assert not any(kind == "stimulus" for kind, _m, _d in hil["events"])  # the HIL run asked nobody
