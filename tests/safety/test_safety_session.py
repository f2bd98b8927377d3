"""Interlocks and timeouts wired into a real simulated session and a real pytest run of a plan."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import plan_fork
import pytest

from bench.safety.interlocks import InterlockTrip
from bench.session import BenchSession
from bench.units import Q_

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "stations" / "sim_safety.toml"
LIMITS = ROOT / "limits" / "safety_chain_lfp.toml"


def test_trip_in_a_simulated_session_drives_safe_state_and_aborts(tmp_path: Path) -> None:
    s = BenchSession(station=STATION, limits=[LIMITS], report_dir=tmp_path, interactive=False).open()
    try:
        psu, load = s.instruments["psu"], s.instruments["load"]
        s.instruments["bms_can"].request_state("discharge")
        load.set_mode("CC")
        load.set_level(Q_(10, "A"))
        load.set_input(True)
        psu.set_voltage(Q_(52, "V"))
        psu.set_output(True)
        s.sim.inject({"type": "thermal_runaway_precursor", "cell": 2, "heat_rate_degC_per_min": 20.0})
        with pytest.raises(InterlockTrip) as e:
            s.clock.sleep(Q_(2, "h"))
        assert e.value.trip.name in ("temperature_rate", "cell_temperature")
        plant = s.sim.plant
        assert not plant.supply.output_on and not plant.load.input_on
        assert abs(plant.chamber.setpoint_degC - plant.ambient_degC) < 0.5
        assert not plant.bms.contactor_closed
    finally:
        status = s.close()
    assert status == "ABORTED"
    rows = s.journal._db.execute("SELECT kind, message, data_json FROM events WHERE run_id=?", (s.run_id,)).fetchall()
    tripped = [r for r in rows if r[0] == "interlock" and '"tripped": true' in (r[2] or "")]
    assert len(tripped) == 1 and "value" in tripped[0][2]
    kinds = [r[0] for r in rows]
    first_safe = kinds.index("safe_state")
    assert kinds.index("interlock", kinds.index("interlock") + 1) < first_safe  # trip journalled, then safe state
    run = s.journal._db.execute("SELECT status, reason FROM runs WHERE run_id=?", (s.run_id,)).fetchone()
    assert run[0] == "ABORTED" and "interlock" in run[1]
    s.journal.close()


PLAN = """
import pytest
from bench.units import Q_

@pytest.mark.timeout_step("10 min")
def test_hangs(clock, measure, psu):
    measure("pack.ocv", psu.measure_voltage(), instrument=psu)
    psu.set_output(True)
    clock.sleep(Q_(1, "h"))

def test_never_runs(clock):
    clock.sleep(Q_(1, "s"))
"""


def test_step_timeout_in_virtual_time_aborts_the_run_and_still_reports(tmp_path: Path) -> None:
    plan = tmp_path / "plan_t"
    plan.mkdir()
    (plan / "plan.toml").write_text(
        f'[plan]\nname = "t"\nstation = "{STATION.as_posix()}"\nlimits = ["{LIMITS.as_posix()}"]\n', encoding="utf-8"
    )
    (plan / "test_t.py").write_text(PLAN, encoding="utf-8")
    out = tmp_path / "rep"
    proc = plan_fork.run(  # python -m pytest ARGS in tmp_path
        ["-q", str(plan), "--report-dir", str(out), "--rootdir", str(tmp_path)],
        cwd=tmp_path,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert "exceeded its time limit of 600 s (virtual time)" in proc.stdout, proc.stdout[-3000:]
    db = sqlite3.connect(out / "journal.sqlite")
    run_id, status = db.execute("SELECT run_id, status FROM runs").fetchone()
    assert status == "ABORTED"
    steps = [r[0] for r in db.execute("SELECT name FROM steps WHERE run_id=?", (run_id,))]
    assert steps == ["test_hangs"]
    assert db.execute("SELECT count(*) FROM measurements WHERE run_id=?", (run_id,)).fetchone()[0] == 1
    t_abort = db.execute("SELECT t FROM events WHERE run_id=? AND kind='abort'", (run_id,)).fetchone()[0]
    assert 600.0 <= t_abort <= 602.0
    assert (out / run_id).is_dir()  # the report folder was still rendered
