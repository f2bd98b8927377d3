"""The intake plan's declarations (plan.toml) match what the plan reads and what its limit sets hold.

Why: the declarations let the bench refuse a wrong unit, a typo or an impossible value before
anything is energised; they are only worth that if every parameter the plan code reads and every
measurement it journals is declared, and every shipped limit set fits them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bench.declarations import load_plan_file
from bench.errors import ConfigError, ConfigErrors
from bench.limits import load_limit_set

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
LIMIT_SETS = ["module_intake_lfp.toml", "module_intake_nmc.toml"]


def _decl() -> dict:
    return tomllib.loads((PLAN / "plan.toml").read_text(encoding="utf-8"))


def _code() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in PLAN.glob("*.py"))


def test_every_parameter_the_plan_reads_is_declared() -> None:
    declared = set(_decl()["parameters"])
    read = set(re.findall(r'\bp(?:aram)?\("([a-z_.0-9]+)"\)', _code()))
    read |= {f"bms.{k}.{leaf}" for k in ("ov", "uv") for leaf in ("step",)}  # built as f"bms.{kind}.step"
    assert read, "no limits.param() call found: the pattern no longer matches the plan code"
    assert sorted(read - declared) == []


def test_every_measurement_the_plan_journals_is_declared() -> None:
    declared = set(_decl()["measurements"])
    code = _code()
    names = set(re.findall(r'(?<![.\w])record\("([a-z_.0-9A-Z]+)"', code))
    names |= {f"bms.{k}.response_time{s}" for k in ("ov", "uv", "oc", "ot") for s in ("", "_ramp")} - {
        "bms.oc.response_time_ramp",
        "bms.ot.response_time_ramp",
    }
    names |= {"bms.ot.trip_temperature"}
    assert sorted(names - declared) == []


@pytest.mark.parametrize("limit_file", LIMIT_SETS)
def test_limit_sets_load_against_the_plan_declarations(limit_file: str) -> None:
    """The bench's own load-time check: every limit a declared measurement of its dimension, every
    parameter declared, of its type and in range, and the set names the plan it serves."""
    _, decl = load_plan_file(PLAN / "plan.toml")
    s = load_limit_set(ROOT / "limits" / limit_file, decl)
    assert s.meta["plans"] == ["module_intake"]
    assert sorted(set(decl.parameters) - set(s.parameters)) == []  # nothing declared that the set lacks


def test_a_parameter_outside_its_declared_range_is_refused(tmp_path: Path) -> None:
    _, decl = load_plan_file(PLAN / "plan.toml")
    text = (ROOT / "limits" / "module_intake_lfp.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace('[parameters."soc.tolerance"]\nvalue = "5 %"', '[parameters."soc.tolerance"]\nvalue = "5 V"'),
        encoding="utf-8",
    )
    with pytest.raises((ConfigError, ConfigErrors), match="soc.tolerance"):
        load_limit_set(bad, decl)
