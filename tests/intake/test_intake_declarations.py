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

from bench.limits import load_limit_set
from bench.units import Q_, parse_quantity

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "test_plans" / "module_intake"
NAMED = {"voltage": "V", "current": "A", "resistance": "ohm", "power": "W", "energy": "J", "charge": "C",
         "temperature": "K", "time": "s", "frequency": "Hz", "dimensionless": ""}
LIMIT_SETS = ["module_intake_lfp.toml", "module_intake_nmc.toml"]


def _decl() -> dict:
    return tomllib.loads((PLAN / "plan.toml").read_text(encoding="utf-8"))


def _dim(text: str):
    return Q_(1, NAMED.get(text, text)).dimensionality


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
    names |= {f"bms.{k}.response_time{s}" for k in ("ov", "uv", "oc", "ot") for s in ("", "_ramp")} - \
        {"bms.oc.response_time_ramp"}
    assert sorted(names - declared) == []


@pytest.mark.parametrize("limit_file", LIMIT_SETS)
def test_limit_set_parameters_are_declared_and_in_range(limit_file: str) -> None:
    decl = _decl()["parameters"]
    s = load_limit_set(ROOT / "limits" / limit_file)
    problems = []
    for name, par in s.parameters.items():
        d = decl.get(name)
        if d is None:
            problems.append(f"{name}: in {limit_file} but not declared in plan.toml")
            continue
        if d.get("type") in ("list", "table"):
            items = d.get("items")
            if items:
                for v in par.value:
                    q = parse_quantity(v)
                    if q.dimensionality != _dim(items["dimension"]) or not (
                            parse_quantity(items["min"]) <= q <= parse_quantity(items["max"])):
                        problems.append(f"{name}: item {v} outside {items}")
            continue
        q = par.value if hasattr(par.value, "dimensionality") else parse_quantity(str(par.value))
        if q.dimensionality != _dim(d["dimension"]):
            problems.append(f"{name}: {q} is not a {d['dimension']}")
            continue
        if "min" in d and q < parse_quantity(d["min"]) or "max" in d and q > parse_quantity(d["max"]):
            problems.append(f"{name}: {q} outside [{d.get('min')}, {d.get('max')}]")
    assert problems == []


@pytest.mark.parametrize("limit_file", LIMIT_SETS)
def test_limits_match_their_measurement_declarations(limit_file: str) -> None:
    decl = _decl()["measurements"]
    s = load_limit_set(ROOT / "limits" / limit_file)
    problems = []
    for name, lim in s.limits.items():
        d = decl.get(name)
        if d is None:
            problems.append(f"{name}: limit without a measurement declaration")
            continue
        ref = lim.reference()
        if ref is not None and ref.dimensionality != _dim(d["dimension"]):
            problems.append(f"{name}: limit in {ref.units} but declared {d['dimension']}")
        lo, hi = (parse_quantity(x) for x in d["plausible"])
        if lo.dimensionality != _dim(d["dimension"]) or hi.dimensionality != _dim(d["dimension"]) or lo >= hi:
            problems.append(f"{name}: plausible range {d['plausible']} does not fit {d['dimension']}")
    assert problems == []
