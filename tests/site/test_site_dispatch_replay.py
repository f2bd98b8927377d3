"""A `bench dispatch` schedule replayed through the site plan's duty-cycle step agrees with the optimiser (issue 15).

The schedule is made for the simulated site (299.52 kWh / 150 kW, the example site load and
tariff, three days at 15 min), named by the limit set's `duty.cycles`, and replayed by step 7 alone (`-k test_07`): the step itself compares the meter's energies and the
monthly peak reduction with the prediction and journals the normalised deviations.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import plan_fork
import pytest

from bench.dispatch.replay import load_reference
from bench.dutycycle import load_duty_cycle
from bench.errors import ConfigError, ConfigErrors
from instruments.sim.site.scenarios import (
    dispatch_schedule,
    limits_replaying,
    outcome,
    run_plan,
    write_station,
)

DAYS = 3


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    out = dispatch_schedule(tmp, DAYS)
    station = write_station(tmp, [])
    proc = run_plan(
        tmp / "reports",
        station,
        limits=limits_replaying(tmp, out / "schedule.dutycycle.csv"),
        extra=["-k", "test_07"],
        runner=plan_fork.run,
    )
    return out, tmp / "reports", outcome(tmp / "reports"), proc


def test_dispatch_schedule_replayed_on_the_site_agrees_with_the_prediction(replay):
    out, reports, res, proc = replay
    assert list(res["steps"]) == ["test_07_duty_cycles"], proc.stdout[-3000:]
    assert res["steps"]["test_07_duty_cycles"]["verdict"] == "PASS", (res["bad"], proc.stdout[-3000:])
    rows = {m["name"]: m for m in res["measurements"] if m["name"].startswith("duty.dispatch_")}
    assert set(rows) == {
        "duty.dispatch_discharged_deviation",
        "duty.dispatch_charged_deviation",
        "duty.dispatch_peak_reduction_deviation",
    }
    assert all(abs(m["value"]) <= 1 and m["verdict"] == "PASS" for m in rows.values()), rows
    # independently of the plan's comparison: the meter's energies per direction (the step's CSV)
    # against the optimiser's own prediction.json (ideal tracking), 2 % + 0.15 kWh
    pred = json.loads((out / "prediction.json").read_text())
    att = reports / res["run"]["run_id"] / "attachments"
    with open(att / "duty_schedule.dutycycle.csv", newline="") as f:
        data = list(csv.DictReader(f))
    assert len(data) == DAYS * 96
    dis = sum(float(r["delivered_Wh"]) for r in data if float(r["requested_W"]) > 0) / 1000
    chg = -sum(float(r["delivered_Wh"]) for r in data if float(r["requested_W"]) < 0) / 1000
    assert pred["discharged"]["value"] > 50 and pred["charged"]["value"] > 50  # the schedule does something
    assert dis == pytest.approx(pred["discharged"]["value"], rel=0.02, abs=0.15)
    assert chg == pytest.approx(pred["charged"]["value"], rel=0.02, abs=0.15)
    table = (att / "duty_schedule.dutycycle_dispatch_agreement.csv").read_text()
    assert "peak reduction 2025-01" in table and "PCS response" in table
    events = [e for e in _events(reports, res["run"]["run_id"]) if e["kind"] == "dispatch agreement"]
    assert events and events[0]["data"]["idle_standby_import_kWh"] >= 0


def _events(reports: Path, run_id: str) -> list[dict]:
    from bench.journal import Journal

    j = Journal(reports / "journal.sqlite")
    try:
        return j.events(run_id)
    finally:
        j.close()


def test_a_schedule_whose_prediction_belongs_to_another_cycle_is_refused_naming_the_file(replay, tmp_path):
    out = replay[0]
    text = (out / "schedule.dutycycle.csv").read_text()
    (tmp_path / "other.dutycycle.csv").write_text(text)
    for name in ("prediction.json", "schedule.csv"):
        (tmp_path / name).write_text((out / name).read_text())
    with pytest.raises(ConfigError, match=r"prediction.json.*duty_cycle.*not 'other.dutycycle.csv'"):
        load_reference(load_duty_cycle(tmp_path / "other.dutycycle.csv"))
    sched = (out / "schedule.csv").read_text().splitlines()
    (tmp_path / "schedule.csv").write_text("\n".join(sched[:-1]) + "\n")
    (tmp_path / "schedule.dutycycle.csv").write_text(text)
    (tmp_path / "prediction.json").write_text((out / "prediction.json").read_text())
    with pytest.raises(ConfigError, match=r"schedule.csv:rows: .* not the same schedule"):
        load_reference(load_duty_cycle(tmp_path / "schedule.dutycycle.csv"))


def test_a_missing_duty_cycle_stops_the_plan_at_load(tmp_path):
    from bench.limits import Limits, load_limit_set
    from test_plans.site_acceptance.duty import check_duty_cycles

    lim = Limits([load_limit_set(limits_replaying(tmp_path, tmp_path / "nowhere.csv"))])
    with pytest.raises(ConfigErrors, match=r"replay.toml:parameters.duty.cycles: item 0: duty-cycle file"):
        check_duty_cycles(lim)
