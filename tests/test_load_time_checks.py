"""Issue 11 items 1-3: no value in a station or limit file can switch a safety function off or
surface mid-run; every one is parsed and range-checked at load time, with file and key."""

from __future__ import annotations

import os
from pathlib import Path

import plan_fork
import pytest

from bench.declarations import PlanDeclarations, load_plan_file, parse_declarations
from bench.errors import ConfigError, ConfigErrors
from bench.limits import load_limit_set
from bench.safety.interlocks import merge_config
from bench.safety.settings import SafetySettings, resolve
from bench.station import load_station
from bench.units import Q_
from bench.verdict import Verdict, decide

ROOT = Path(__file__).resolve().parents[1]
SMOKE_PLAN = ROOT / "test_plans" / "smoke" / "plan.toml"


def _station(tmp_path: Path, extra: str, base: str = "sim.toml") -> Path:
    text = (ROOT / "stations" / base).read_text()
    text = text.replace('include = ["lab_base.toml"]', f'include = ["{ROOT / "stations" / "lab_base.toml"}"]')
    p = tmp_path / "station.toml"
    p.write_text(text + "\n" + extra)
    return p


def _errors(fn, *args) -> str:
    with pytest.raises((ConfigError, ConfigErrors)) as exc:
        fn(*args)
    return str(exc.value)


@pytest.mark.parametrize(
    "key, value",
    [
        ("safe_state_action_timeout", '"abc"'),
        ("teardown_timeout", '"abc"'),
        ("teardown_timeout", '"nan s"'),
        ("safe_state_retry_delay", '"-1 s"'),
        ("safe_state_retries", "0"),
        ("safe_state_retries", '"3"'),
        ("step_timeout", '"5 V"'),
        ("bms_contactor_open_on_abort", '"yes"'),
        ("safe_state_timeout", '"10 s"'),  # a misspelt key is an error, not ignored
    ],
)
def test_bad_safety_value_is_refused_when_the_station_loads(tmp_path, key, value):
    p = _station(tmp_path, f"[safety]\n{key} = {value}\n")
    text = _errors(load_station, p)
    assert f"{p}:safety.{key}" in text


def test_stations_check_names_the_bad_safety_key_and_fails(tmp_path):
    p = _station(tmp_path, '[safety]\nsafe_state_action_timeout = "abc"\n')
    proc = plan_fork.run_bench(["stations", "check", str(p)], cwd=ROOT, env=dict(os.environ), timeout=120)
    assert proc.returncode == 1
    assert "safety.safe_state_action_timeout" in proc.stderr and "Traceback" not in proc.stderr


SIM_STATION = """[station]
name = "t"
[simulation]
preset = "lfp_16s5p"
seed = {seed}
max_step = {max_step}
{faults}
[roles.psu]
driver = "instruments.keysight_rp7900:KeysightRP7900"
resource = "sim"
timeout = {timeout}
[roles.bms_can]
driver = "instruments.foxbms_can:FoxBmsCan"
resource = "sim"
{extra}
"""


@pytest.mark.parametrize(
    "change, key",
    [
        ({"extra": '[interlocks.cell_voltage]\nmax = "nan V"'}, "interlocks.cell_voltage.max"),
        ({"extra": '[interlocks.cell_voltage]\nmax = "inf V"'}, "interlocks.cell_voltage.max"),
        ({"extra": '[interlocks.pack_current]\nmax = "1e400 A"'}, "interlocks.pack_current.max"),
        ({"extra": "[interlocks.gas_stage]\nmax = nan"}, "interlocks.gas_stage.max"),
        ({"extra": '[interlocks.cell_votlage]\nmax = "3.7 V"'}, "interlocks"),
        ({"extra": '[interlocks]\nperiod = "0 s"'}, "interlocks.period"),
        ({"max_step": '"0 s"'}, "simulation.max_step"),
        ({"max_step": '"nan s"'}, "simulation.max_step"),
        ({"seed": "-1"}, "simulation.seed"),
        ({"faults": 'faults = [{type = "no_such_fault"}]'}, "simulation"),
        ({"extra": "[simulation.overrides.pack]\nsoc0 = nan"}, "simulation.overrides.pack.soc0"),
        ({"timeout": '"0 s"'}, "roles.psu.timeout"),
        ({"extra": '[dut]\nrated_capacity = "nan A*h"'}, "dut.rated_capacity"),
    ],
)
def test_bad_interlock_or_simulation_value_is_refused_at_load(tmp_path, change, key):
    parts = {"seed": "1", "max_step": '"1 s"', "faults": "", "timeout": '"2 s"', "extra": "", **change}
    p = tmp_path / "station.toml"
    p.write_text(SIM_STATION.format(**parts))
    load_station(_write_ok(tmp_path, parts))  # the same file without the change loads
    assert f"{p}:{key}" in _errors(load_station, p)


def _write_ok(tmp_path: Path, parts: dict) -> Path:
    ok = tmp_path / "ok.toml"
    ok.write_text(
        SIM_STATION.format(**{**parts, "seed": "1", "max_step": '"1 s"', "faults": "", "timeout": '"2 s"', "extra": ""})
    )
    return ok


@pytest.mark.parametrize("bound", ['"nan V"', '"inf V"', '"-inf V"', '"1e400 V"', "nan", "inf"])
def test_non_finite_limit_bounds_are_refused(tmp_path, bound):
    p = tmp_path / "l.toml"
    p.write_text(f'[limit_set]\nid = "x"\nversion = "1"\n[limits."pack.ocv"]\nmax = {bound}\nsource = "t"\n')
    assert f"{p}:limits.pack.ocv.max" in _errors(load_limit_set, p)


@pytest.mark.parametrize(
    "table, key",
    [
        ('[parameters."ocv.rest"]\nvalue = "nan s"\nsource = "t"\n', "parameters.ocv.rest.value"),
        ('[parameters."x"]\nvalue = [1.0, nan]\nsource = "t"\n', "parameters.x.value[1]"),
        ('[limits."g"]\nsource = "t"\n[[limits."g".grades]]\ngrade = "A"\nmin = "nan V"\n', "limits.g.grades[0].min"),
        ('[interlocks.cell_voltage]\nmax = "nan V"\n', "interlocks.cell_voltage.max"),
        ('[limits."p"]\nmax = "3 V"\nplausible = ["nan V", "5 V"]\nsource = "t"\n', "limits.p.plausible[0]"),
    ],
)
def test_non_finite_values_anywhere_in_a_limit_set_are_refused(tmp_path, table, key):
    p = tmp_path / "l.toml"
    p.write_text(f'[limit_set]\nid = "x"\nversion = "1"\n{table}')
    assert f"{p}:{key}" in _errors(load_limit_set, p)


def _smoke_limits(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "limits" / "smoke_lfp.toml").read_text()
    assert old in text
    p = tmp_path / "smoke.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    "old, new, key, why",
    [
        ('value = "56.8 V"', 'value = "3.65 A"', "parameters.charge.voltage.value", "dimension"),
        ('value = "60 s"', 'value = "-60 s"', "parameters.ocv.rest.value", "below the valid minimum"),
        ('value = "10 s"', 'value = "0 s"', "parameters.sample.interval.value", "below the valid minimum"),
        ('value = "50 A"', 'value = "abc"', "parameters.charge.current_limit.value", "cannot parse"),
        ('[parameters."ocv.rest"]', '[parameters."ocv.rests"]', "parameters.ocv.rests", "did you mean 'ocv.rest'"),
        ('max = "50.5 A"', 'max = "50.5 V"', "limits.charge.max_current", "is not a current"),
        ('[limits."pack.ocv"]', '[limits."pack.ovc"]', "limits.pack.ovc", "did you mean 'pack.ocv'"),
    ],
)
def test_limit_set_is_checked_against_the_plans_declarations(tmp_path, old, new, key, why):
    _, decl = load_plan_file(SMOKE_PLAN)
    p = _smoke_limits(tmp_path, old, new)
    text = _errors(load_limit_set, p, decl)
    assert f"{p}:{key}" in text and why in text


def test_missing_declared_parameter_is_a_load_time_error(tmp_path):
    _, decl = load_plan_file(SMOKE_PLAN)
    p = _smoke_limits(
        tmp_path,
        '[parameters."ocv.rest"]\nvalue = "60 s"\nsource = "bench default: short rest before reading OCV"\n',
        "",
    )
    assert "missing parameter 'ocv.rest'" in _errors(load_limit_set, p, decl)


def test_limits_check_command_uses_the_plan_named_by_the_limit_set(tmp_path):
    p = _smoke_limits(tmp_path, 'value = "56.8 V"', 'value = "3.65 A"')
    proc = plan_fork.run_bench(
        ["limits", "check", str(p), "--plan", str(SMOKE_PLAN)], cwd=ROOT, env=dict(os.environ), timeout=120
    )
    assert proc.returncode == 1 and "parameters.charge.voltage.value" in proc.stderr
    ok = plan_fork.run_bench(
        ["limits", "check", str(ROOT / "limits" / "smoke_lfp.toml")], cwd=ROOT, env=dict(os.environ), timeout=120
    )
    assert ok.returncode == 0 and "checked against plan 'smoke'" in ok.stdout


def test_declaration_file_errors_name_plan_toml_and_key():
    bad = {
        "plan": {"name": "p"},
        "parameters": {"a": {"dimension": "voltag"}},
        "measurements": {"m": {"dimension": "current", "plausible": ["5 A", "1 A"]}},
    }
    text = _errors(parse_declarations, bad, "plan.toml")
    assert "plan.toml:parameters.a.dimension" in text and "plan.toml:measurements.m.plausible" in text


def test_nan_station_bound_cannot_loosen_the_limit_sets_bound():
    with pytest.raises(ConfigError):
        merge_config(
            [("station.toml", {"pack_current": {"max": "nan A"}}), ("limits.toml", {"pack_current": {"max": "20 A"}})]
        )
    cfg = merge_config(
        [("station.toml", {"pack_current": {"max": "25 A"}}), ("limits.toml", {"pack_current": {"max": "20 A"}})]
    )
    assert cfg.interlocks["pack_current"].high == Q_(20, "A")


def test_unusable_safety_values_fall_back_to_builtin_defaults_and_say_so():
    cfg = resolve(
        {"safe_state_action_timeout": "abc", "teardown_timeout": "nan s", "safe_state_retries": 2, "mystery": 1},
        "station.toml",
    )
    defaults = SafetySettings()
    assert cfg.safe_state_action_timeout_s == defaults.safe_state_action_timeout_s
    assert cfg.teardown_timeout_s == defaults.teardown_timeout_s
    assert cfg.safe_state_retries == 2
    assert len(cfg.fallbacks) == 3 and any("safe_state_action_timeout" in f for f in cfg.fallbacks)
    assert resolve("garbage", "s").fallbacks


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_measurement_is_indeterminate_never_pass(value):
    from bench.limits import Limit

    lim = Limit("x", Q_(0, "V"), Q_(5, "V"))
    d = decide("x", Q_(value, "V"), lim)
    assert d.verdict is Verdict.INDETERMINATE
    assert d.reason.startswith("not measured" if value != value else "implausible")


def test_declared_plan_refuses_an_undeclared_parameter_read():
    from bench.limits import Limits

    _, decl = load_plan_file(SMOKE_PLAN)
    limits = Limits([load_limit_set(ROOT / "limits" / "smoke_lfp.toml", decl)], decl)
    assert limits.param("ocv.rest") == Q_(60, "s")
    with pytest.raises(ConfigError, match="does not declare"):
        limits.param("ocv.rets")
    assert Limits([], PlanDeclarations()).param("anything", default=1) == 1
