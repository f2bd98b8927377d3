"""Capabilities are complete: every method a plan calls on an instrument fixture is declared by
the fixture's capability class or by an optional-feature class, and every driver implements what
it declares (no abstract leftovers, no ignored `sim=` argument)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import instruments
from instruments import capabilities as cap

ROOT = Path(__file__).resolve().parents[2]
OPTIONAL = (cap.SupplyPriority, cap.FaultReset, cap.BmsHistory, cap.ClockAware, cap.BmsConfiguration)
BASE = {"safe_state", "identity", "close", "name", "safe_state_order", "fixture", "bidirectional", "MODES"}


def _capability_classes() -> dict[str, type]:
    return {
        c.fixture: c for c in vars(cap).values() if inspect.isclass(c) and issubclass(c, cap.Instrument) and c.fixture
    }


def _declared(cls: type) -> set[str]:
    return {n for klass in cls.__mro__ for n in vars(klass) if not n.startswith("_")}


def _plan_calls() -> dict[tuple[str, str], list[str]]:
    """(fixture, method) -> ["file:line", ...] for `fixture.method(...)` and `getattr(fixture, "m")`."""
    fixtures = set(_capability_classes())
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted((ROOT / "test_plans").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            pair = None
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in fixtures:
                pair = (node.value.id, node.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in fixtures
                and isinstance(node.args[1], ast.Constant)
            ):
                pair = (node.args[0].id, str(node.args[1].value))
            if pair:
                found.setdefault(pair, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _drivers() -> list[type]:
    out = []
    for info in pkgutil.iter_modules(instruments.__path__):
        if info.ispkg or info.name in ("capabilities", "errors", "scpi_driver", "scpi_settings"):
            continue
        module = importlib.import_module(f"instruments.{info.name}")
        out += [
            c
            for c in vars(module).values()
            if inspect.isclass(c) and c.__module__ == module.__name__ and issubclass(c, cap.Instrument)
        ]
    return out


def test_every_method_plans_call_is_declared_by_a_capability() -> None:
    classes = _capability_classes()
    optional = set().union(*(_declared(c) for c in OPTIONAL))
    calls = _plan_calls()
    assert calls, "no plan calls found: the scan is broken"
    undeclared = {
        f"{fx}.{m}": sites for (fx, m), sites in calls.items() if m not in _declared(classes[fx]) | optional | BASE
    }
    assert not undeclared, f"plans call methods no capability declares: {undeclared}"


def test_every_driver_implements_its_capabilities_and_takes_no_sim_argument() -> None:
    drivers = _drivers()
    assert len(drivers) >= 9
    for cls in drivers:
        assert not inspect.isabstract(cls), f"{cls.__name__} leaves {sorted(cls.__abstractmethods__)} abstract"
        assert any(issubclass(cls, c) for c in _capability_classes().values()), cls
        params = inspect.signature(cls.__init__).parameters
        assert "sim" not in params and not any(p.startswith("sim_") for p in params), cls.__name__


@pytest.mark.parametrize(
    ("driver", "features"),
    [
        ("keysight_rp7900:KeysightRP7900", {cap.SupplyPriority}),
        ("foxbms_can:FoxBmsCan", {cap.FaultReset, cap.ClockAware}),
        ("sunspec_bms:SunSpecBms", {cap.FaultReset, cap.BmsHistory, cap.ClockAware}),
        ("insulation_tester:KikusuiTOS9213S", {cap.ClockAware}),
    ],
)
def test_optional_features_are_declared_by_type(driver: str, features: set[type]) -> None:
    module, _, name = driver.partition(":")
    cls = getattr(importlib.import_module(f"instruments.{module}"), name)
    assert {f for f in OPTIONAL if issubclass(cls, f)} == features
