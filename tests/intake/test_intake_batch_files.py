"""Batch files without running a plan: the module list, the simulated condition and where it goes
(a per-module station file, never the DUT record), and how a module without a grade is summarised."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.batch import (
    ModuleOutcome,
    ModuleRow,
    check_condition,
    module_condition,
    prepare,
    read_dut_list,
    settle_ungraded,
    summarise,
)
from bench.clock import SimClock
from bench.errors import ConfigError, ConfigErrors
from bench.station import load_station
from bench.units import Q_
from instruments.sim.station import SimulatedStation

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
STATION = ROOT / "stations" / "sim_module_intake_fast.toml"


def test_every_bad_row_of_a_module_list_is_reported_at_once(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text(
        'serial,sim_seed,sim_faults,simulation\nA,x,,\nB,1,[{"cell": 1}],\nC,,,nowhere.toml\nA,,,\n', encoding="utf-8"
    )
    with pytest.raises(ConfigErrors) as exc:
        read_dut_list(f)
    text = str(exc.value)
    for part in (
        "line 2",
        "sim_seed must be an integer",
        "line 3.sim_faults.faults[0]",
        "line 4",
        "nowhere.toml",
        "line 5",
        "listed twice",
    ):
        assert part in text, text


def test_unknown_column_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text("serial,sim_overrides\nA,{}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown column.*sim_overrides.*simulation"):
        read_dut_list(f)


def test_condition_keys_and_types_are_checked() -> None:
    errors = check_condition(
        {"seed": "7", "overrides": [], "faults": [{"cell": 1}], "prompts": {"visual.leak": 1}, "colour": "red"},
        "f.toml",
        "profiles.x",
    )
    text = " ".join(str(e) for e in errors)
    for part in (
        "profiles.x.colour",
        "profiles.x.seed",
        "profiles.x.overrides",
        "profiles.x.faults[0]",
        "profiles.x.prompts.visual.leak",
    ):
        assert part in text, text


def test_profile_file_seed_and_faults_columns_combine(tmp_path: Path) -> None:
    sim = tmp_path / "m.sim.toml"
    sim.write_text(
        'faults = [{ type = "weak_cell", cell = 2, capacity_factor = 0.8 }]\n[overrides.pack]\ncell_r0_ohm = 0.0005\n',
        encoding="utf-8",
    )
    profiles = {
        "faded": {
            "overrides": {"pack": {"cell_capacity_Ah": 70.0}},
            "faults": [{"type": "soft_short", "cell": 5, "leak_ohm": 50.0}],
            "seed": 3,
            "prompts": {"visual.leak": "no"},
        }
    }
    row = ModuleRow(
        serial="M1",
        sim_profile="faded",
        simulation=str(sim),
        sim_seed="11",
        sim_faults='[{"type": "high_resistance_cell", "cell": 1}]',
    )
    cond = module_condition(row, profiles)
    assert cond["seed"] == 11
    assert cond["overrides"] == {"pack": {"cell_capacity_Ah": 70.0, "cell_r0_ohm": 0.0005}}
    assert [f["type"] for f in cond["faults"]] == ["soft_short", "weak_cell", "high_resistance_cell"]
    assert cond["prompts"] == {"visual.leak": "no"}


def test_the_simulated_condition_goes_to_a_station_file_not_the_dut(tmp_path: Path) -> None:
    sim = tmp_path / "m.sim.toml"
    sim.write_text(
        'description = "faded, leaking"\nseed = 9\n'
        'faults = [{ type = "soft_short", cell = 5, leak_ohm = 20.0 }]\n'
        '[prompts]\n"visual.swelling" = "yes"\n[dut]\nbol_resistance = "5.1 mohm"\n'
        "[overrides.pack]\ncell_capacity_Ah = 66.5\n",
        encoding="utf-8",
    )
    row = ModuleRow(serial="M 7/x", simulation=str(sim), station=str(STATION), line=2)
    args, cond, _ = prepare(
        row, plan=PLAN, work=tmp_path, profiles={}, base_args=["pytest", "--station", "other"], batch_id="b1"
    )
    station_file = Path(args[args.index("--station") + 1])
    assert args.count("--station") == 1 and station_file.name == "M_7_x.station.toml"
    dut = (tmp_path / "M_7_x.dut.json").read_text(encoding="utf-8")
    assert "sim_" not in dut and "cell_capacity" not in dut and "soft_short" not in dut
    assert '"bol_resistance": "5.1 mohm"' in dut and '"serial": "M 7/x"' in dut
    station = load_station(station_file)
    assert station.simulation["module"]["description"] == "faded, leaking"
    assert station.simulation["prompts"]["visual.swelling"] == "yes"
    assert station.simulation["prompts"]["visual.leak"] == "no"  # the base station's answers stay
    sim_station = SimulatedStation(station, SimClock(max_step=Q_(1, "s")))
    plant = sim_station.plant
    assert plant.pack.cell_capacity_Ah == 66.5 and plant.seed == 9
    assert plant.pack.cells.leak_conductance_S[5, 0] == pytest.approx(1 / 20.0)
    assert "faded, leaking" in sim_station.describe()


def test_a_condition_on_a_hardware_station_is_refused(tmp_path: Path) -> None:
    sim = tmp_path / "m.sim.toml"
    sim.write_text("seed = 1\n", encoding="utf-8")
    row = ModuleRow(serial="M1", simulation=str(sim), station=str(ROOT / "stations" / "lab_base.toml"), line=4)
    with pytest.raises(ConfigError, match="line 4.*simulated station"):
        prepare(row, plan=PLAN, work=tmp_path, profiles={}, base_args=["pytest"])


def test_simulation_settings_in_the_dut_info_are_refused_naming_the_new_place() -> None:
    station = load_station(STATION)
    with pytest.raises(ConfigError, match=r"simulation\.module"):
        SimulatedStation(station, SimClock(max_step=Q_(1, "s")), dut={"sim_overrides": {"pack": {}}})


@pytest.mark.parametrize(
    "status,log,expect",
    [
        ("NOT RUN", "collecting ...\nConfigError: stations/x.toml:roles.psu: bad\n", "no run was opened: ConfigError"),
        (
            "NOT RUN",
            "ESS Bench: configuration error, nothing was run:\n1 problem(s):\n  - limits/x.toml:parameters.a: "
            "not declared\n\n! _pytest.outcomes.Exit: ESS Bench configuration error (above) !\n",
            "no run was opened: limits/x.toml:parameters.a: not declared",
        ),
        ("ABORTED", "", "run aborted"),
        ("TIMEOUT", "", "module timeout"),
    ],
)
def test_a_module_without_a_grade_is_quarantined_with_the_reason(tmp_path: Path, status, log, expect) -> None:
    f = tmp_path / "m.log"
    f.write_text(log, encoding="utf-8")
    out = ModuleOutcome(serial="M1", status=status, exit_code=4)
    settle_ungraded(out, f)
    assert (out.grade, out.rule) == ("quarantine", f"run {status.lower()}")
    assert expect in out.reason


def test_aborted_modules_count_against_yield() -> None:
    outs = [
        ModuleOutcome("a", status="COMPLETED", grade="A"),
        ModuleOutcome("b", status="COMPLETED", grade="C"),
        ModuleOutcome("c", status="ABORTED", grade="quarantine"),
        ModuleOutcome("d", status="COMPLETED", grade="recycle"),
    ]
    s = summarise("b", PLAN, Path("m.csv"), outs, 1.0)
    assert s["yield_percent"] == 50.0 and s["reusable"] == 2 and s["not_completed"] == 1
    assert s["counts"] == {"A": 1, "C": 1, "quarantine": 1, "recycle": 1}
