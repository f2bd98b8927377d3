"""What a plan reads and measures, declared in its plan.toml, so files are checked before a run.

A limit set only says "charge.voltage = 3.65 A"; whether that is a voltage, and a sane one, is
something only the plan that reads it knows. Each plan declares every parameter it reads
(type, dimension, valid range) and every measurement it journals (dimension, physically
plausible range). `bench limits check`, `bench stations check` and the session check limit sets
against these declarations at load time, so a wrong unit, a typo or an impossible value is a
named error before any instrument is opened, never a mid-run abort.

    [parameters."charge.voltage"]   dimension = "voltage"  min = "2.0 V"  max = "5.0 V"
    [parameters."insulation.classes"]
    type = "list"
    items = { type = "table", fields = { max_nominal = { dimension = "voltage" }, limit = { type = "text" } } }
    [measurements."dcir.resistance"] dimension = "resistance"  plausible = ["0 ohm", "10 ohm"]
    [steps."test_05_capacity"]       expected = "9 h"     # run time the step takes (operator view's time left)

Names may use shell wildcards (`"site.block*.soc"`) for families of measurements.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pint

from bench.errors import ConfigError, ConfigErrors
from bench.tomlfile import read_toml, unknown_keys
from bench.units import DIMENSIONS, dimensionality, fmt, parse_quantity

TYPES = ("quantity", "number", "integer", "text", "bool", "list", "table", "any")
SPEC_KEYS = {
    "type",
    "dimension",
    "min",
    "max",
    "required",
    "items",
    "fields",
    "choices",
    "description",
    "min_items",
    "max_items",
}
MEASUREMENT_KEYS = {"dimension", "plausible", "description", "unit"}
STEP_KEYS = {"expected", "description"}
STEP_EXPECTED_RANGE_S = (1e-3, 30 * 86400.0)  # a step expected to last longer than 30 days is a typo
PLAN_KEYS = {"plan", "parameters", "measurements", "steps", "batch", "telemetry"}  # [telemetry]: bench.telemetry.config


@dataclass(frozen=True)
class ValueSpec:
    """The declared shape of one value: its type, dimension and valid range (recursive for lists/tables)."""

    type: str = "quantity"
    dimension: str | None = None
    low: Any = None
    high: Any = None
    required: bool = True
    items: ValueSpec | None = None
    fields: dict[str, ValueSpec] = field(default_factory=dict)
    choices: tuple[Any, ...] = ()
    min_items: int = 0
    max_items: int | None = None
    description: str = ""

    def check(self, value: Any, *, source: str, key: str) -> Any:
        """The value parsed (quantities as pint quantities) and range-checked; ConfigError otherwise."""
        kind = self.type
        if kind == "any":
            return value
        if kind == "quantity":
            q = parse_quantity(value, source=source, key=key, dimension=self.dimension)
            self._range(q, source, key)
            return q
        if kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"expected a {kind}, got {type(value).__name__} {value!r}", source=source, key=key)
            if kind == "integer" and not isinstance(value, int):
                raise ConfigError(f"expected a whole number, got {value!r}", source=source, key=key)
            if not math.isfinite(value):
                raise ConfigError(f"non-finite value {value!r} refused", source=source, key=key)
            self._range(value, source, key)
            return value
        if kind == "text":
            if not isinstance(value, str):
                raise ConfigError(f"expected text, got {type(value).__name__} {value!r}", source=source, key=key)
            if self.choices and value not in self.choices:
                raise ConfigError(f"expected one of {list(self.choices)}, got {value!r}", source=source, key=key)
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"expected true or false, got {value!r}", source=source, key=key)
            return value
        if kind == "list":
            if not isinstance(value, list):
                raise ConfigError(f"expected a list, got {type(value).__name__} {value!r}", source=source, key=key)
            if len(value) < self.min_items or (self.max_items is not None and len(value) > self.max_items):
                most = "" if self.max_items is None else f" and at most {self.max_items}"
                raise ConfigError(
                    f"expected at least {self.min_items}{most} items, got {len(value)}", source=source, key=key
                )
            if self.items is None:
                return value
            return [self.items.check(v, source=source, key=f"{key}[{i}]") for i, v in enumerate(value)]
        if kind == "table":
            if not isinstance(value, dict):
                raise ConfigError(f"expected a table, got {type(value).__name__} {value!r}", source=source, key=key)
            if self.fields:
                for k in unknown_keys(value, set(self.fields)):
                    raise ConfigError(
                        f"unknown field {k!r}; expected some of {sorted(self.fields)}", source=source, key=f"{key}.{k}"
                    )
                out = {}
                for k, spec in self.fields.items():
                    if k in value:
                        out[k] = spec.check(value[k], source=source, key=f"{key}.{k}")
                    elif spec.required:
                        raise ConfigError("missing field", source=source, key=f"{key}.{k}")
                return out
            if self.items is not None:
                return {k: self.items.check(v, source=source, key=f"{key}.{k}") for k, v in value.items()}
            return value
        raise ConfigError(f"unknown declared type {kind!r}", source=source, key=key)  # pragma: no cover

    def _range(self, value: Any, source: str, key: str) -> None:
        if self.low is not None and value < self.low:
            raise ConfigError(f"{_show(value)} is below the valid minimum {_show(self.low)}", source=source, key=key)
        if self.high is not None and value > self.high:
            raise ConfigError(f"{_show(value)} is above the valid maximum {_show(self.high)}", source=source, key=key)


def _show(v: Any) -> str:
    return fmt(v) if isinstance(v, pint.Quantity) else repr(v)


@dataclass(frozen=True)
class MeasurementSpec:
    """A measurement the plan journals: its dimension and the range a real device can produce."""

    name: str
    dimension: str | None = None
    plausible: tuple[pint.Quantity | None, pint.Quantity | None] | None = None
    description: str = ""


@dataclass(frozen=True)
class StepSpec:
    """What the plan says about one step (by test function name): how long it is expected to take."""

    name: str
    expected_s: float | None = None
    description: str = ""


@dataclass
class PlanDeclarations:
    """The parameters and measurements one plan declares (empty when the plan declares none)."""

    plan: str = ""
    source: str = ""
    parameters: dict[str, ValueSpec] = field(default_factory=dict)
    measurements: dict[str, MeasurementSpec] = field(default_factory=dict)
    steps: dict[str, StepSpec] = field(default_factory=dict)

    @property
    def declared(self) -> bool:
        return bool(self.parameters or self.measurements)

    def parameter(self, name: str) -> ValueSpec | None:
        return _match(self.parameters, name)

    def measurement(self, name: str) -> MeasurementSpec | None:
        return _match(self.measurements, name)

    def step(self, name: str) -> StepSpec | None:
        """The declaration of a step by its test name ("test_x" or "test_x[param]"; wildcards allowed)."""
        return _match(self.steps, name) or _match(self.steps, name.split("[", 1)[0])

    def suggest(self, name: str, table: str) -> str:
        names = list(self.parameters if table == "parameters" else self.measurements)
        close = difflib.get_close_matches(name, names, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""


def _match(table: dict[str, Any], name: str) -> Any:
    if name in table:
        return table[name]
    for pattern, spec in table.items():
        if any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return spec
    return None


def _dimension(value: Any, src: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"expected a dimension name ({', '.join(DIMENSIONS)}) or a unit", source=src, key=key)
    try:
        dimensionality(value)
    except Exception:  # noqa: BLE001 - pint raises assorted errors on an unknown name
        raise ConfigError(
            f'unknown dimension {value!r}; expected one of {sorted(DIMENSIONS)} or a unit such as "A/h"',
            source=src,
            key=key,
        ) from None
    return value


def parse_spec(t: Any, src: str, key: str) -> ValueSpec:
    """A ValueSpec from its plan.toml table (recursive)."""
    if not isinstance(t, dict):
        raise ConfigError("expected a table (type, dimension, min, max, ...)", source=src, key=key)
    for k in unknown_keys(t, SPEC_KEYS):
        raise ConfigError(f"unknown key; expected some of {sorted(SPEC_KEYS)}", source=src, key=f"{key}.{k}")
    kind = t.get("type", "quantity" if "dimension" in t else None)
    if kind is None:
        raise ConfigError("declare a dimension (for a quantity) or a type", source=src, key=key)
    if kind not in TYPES:
        raise ConfigError(f"unknown type {kind!r}; expected one of {list(TYPES)}", source=src, key=f"{key}.type")
    dim = _dimension(t["dimension"], src, f"{key}.dimension") if "dimension" in t else None
    if kind == "quantity" and dim is None:
        raise ConfigError("a quantity needs its dimension", source=src, key=f"{key}.dimension")
    low = high = None
    for bound in ("min", "max"):
        if bound not in t:
            continue
        raw = t[bound]
        if kind == "quantity":
            v: Any = parse_quantity(raw, source=src, key=f"{key}.{bound}", dimension=dim)
        elif (
            kind in ("number", "integer")
            and isinstance(raw, int | float)
            and not isinstance(raw, bool)
            and math.isfinite(raw)
        ):
            v = raw
        else:
            raise ConfigError(f"a {kind} has no {bound} of {raw!r}", source=src, key=f"{key}.{bound}")
        low, high = (v, high) if bound == "min" else (low, v)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"min {_show(low)} is above max {_show(high)}", source=src, key=key)
    required = t.get("required", True)
    if not isinstance(required, bool):
        raise ConfigError("expected true or false", source=src, key=f"{key}.required")
    items = parse_spec(t["items"], src, f"{key}.items") if "items" in t else None
    fields_raw = t.get("fields", {})
    if not isinstance(fields_raw, dict):
        raise ConfigError("expected a table of field declarations", source=src, key=f"{key}.fields")
    fields = {k: parse_spec(v, src, f"{key}.fields.{k}") for k, v in fields_raw.items()}
    choices = t.get("choices", [])
    if not isinstance(choices, list):
        raise ConfigError("expected a list", source=src, key=f"{key}.choices")
    counts = []
    for k in ("min_items", "max_items"):
        n = t.get(k)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ConfigError("expected a whole number >= 0", source=src, key=f"{key}.{k}")
        counts.append(n)
    return ValueSpec(
        type=kind,
        dimension=dim,
        low=low,
        high=high,
        required=required,
        items=items,
        fields=fields,
        choices=tuple(choices),
        min_items=counts[0] or 0,
        max_items=counts[1],
        description=str(t.get("description", "")),
    )


def parse_range(
    raw: Any, dimension: str | None, src: str, key: str
) -> tuple[pint.Quantity | None, pint.Quantity | None]:
    """["0 ohm", "10 ohm"]: a two-item list, "" for an open side."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise ConfigError('expected [low, high] (use "" for an open side)', source=src, key=key)
    out: list[pint.Quantity | None] = []
    for i, v in enumerate(raw):
        out.append(None if v == "" else parse_quantity(v, source=src, key=f"{key}[{i}]", dimension=dimension))
    low, high = out
    if low is None and high is None:
        raise ConfigError("at least one side of the range is needed", source=src, key=key)
    if low is not None and high is not None:
        if low.dimensionality != high.dimensionality:
            raise ConfigError(f"{fmt(low)} and {fmt(high)} differ in dimension", source=src, key=key)
        if low > high:
            raise ConfigError(f"low {fmt(low)} is above high {fmt(high)}", source=src, key=key)
    return low, high


def parse_declarations(data: dict[str, Any], source: str) -> PlanDeclarations:
    """Declarations from a parsed plan.toml; every problem reported at once."""
    errors: list[ConfigError] = []
    for k in unknown_keys(data, PLAN_KEYS):
        errors.append(ConfigError(f"unknown section; expected some of {sorted(PLAN_KEYS)}", source=source, key=k))
    plan = data.get("plan", {})
    decl = PlanDeclarations(plan=str(plan.get("name", "")) if isinstance(plan, dict) else "", source=source)
    params = data.get("parameters", {})
    if not isinstance(params, dict):
        errors.append(ConfigError('expected tables [parameters."name"]', source=source, key="parameters"))
        params = {}
    for name, t in _leaves(params, SPEC_KEYS).items():
        try:
            decl.parameters[name] = parse_spec(t, source, f"parameters.{name}")
        except ConfigError as exc:
            errors.append(exc)
    meas = data.get("measurements", {})
    if not isinstance(meas, dict):
        errors.append(ConfigError('expected tables [measurements."name"]', source=source, key="measurements"))
        meas = {}
    for name, t in _leaves(meas, MEASUREMENT_KEYS).items():
        key = f"measurements.{name}"
        try:
            if not isinstance(t, dict):
                raise ConfigError("expected a table (dimension, plausible)", source=source, key=key)
            for k in unknown_keys(t, MEASUREMENT_KEYS):
                raise ConfigError(
                    f"unknown key; expected some of {sorted(MEASUREMENT_KEYS)}", source=source, key=f"{key}.{k}"
                )
            dim = _dimension(t["dimension"], source, f"{key}.dimension") if "dimension" in t else None
            plausible = parse_range(t["plausible"], dim, source, f"{key}.plausible") if "plausible" in t else None
            decl.measurements[name] = MeasurementSpec(name, dim, plausible, str(t.get("description", "")))
        except ConfigError as exc:
            errors.append(exc)
    steps = data.get("steps", {})
    if not isinstance(steps, dict):
        errors.append(ConfigError('expected tables [steps."test_name"]', source=source, key="steps"))
        steps = {}
    for name, t in steps.items():
        try:
            decl.steps[name] = parse_step(name, t, source)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigErrors(errors)
    return decl


def parse_step(name: str, t: Any, src: str) -> StepSpec:
    """[steps."test_x"] expected = "2 h": the run time the step is expected to take (virtual in simulation)."""
    key = f"steps.{name}"
    if not isinstance(t, dict):
        raise ConfigError('expected a table (expected = "2 h", description)', source=src, key=key)
    for k in unknown_keys(t, STEP_KEYS):
        raise ConfigError(f"unknown key; expected some of {sorted(STEP_KEYS)}", source=src, key=f"{key}.{k}")
    expected = None
    if "expected" in t:
        raw = t["expected"]
        if not isinstance(raw, str):
            raise ConfigError(
                f'expected a duration with its unit such as "2 h", got {raw!r}', source=src, key=f"{key}.expected"
            )
        expected = float(parse_quantity(raw, source=src, key=f"{key}.expected", dimension="time").to("s").magnitude)
        low, high = STEP_EXPECTED_RANGE_S
        if not low <= expected <= high:  # also refuses NaN
            raise ConfigError(
                f"{raw!r} outside the plausible step duration {low:g} s .. 30 d", source=src, key=f"{key}.expected"
            )
    description = t.get("description", "")
    if not isinstance(description, str):
        raise ConfigError("expected text", source=src, key=f"{key}.description")
    return StepSpec(name, expected, description)


def _leaves(table: dict[str, Any], leaf_keys: set[str]) -> dict[str, Any]:
    """Dotted names: TOML turns [parameters.a.b] into nested tables; a table with spec keys is a leaf."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if (
            isinstance(node, dict)
            and node
            and not (set(node) & leaf_keys)
            and all(isinstance(v, dict) for v in node.values())
        ):
            for k, v in node.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = node

    for k, v in table.items():
        walk(k, v)
    return out


def load_plan_file(path: str | Path) -> tuple[dict[str, Any], PlanDeclarations]:
    """([plan] table, declarations) of a plan.toml."""
    data, _ = read_toml(path)
    plan = data.get("plan", {})
    if not isinstance(plan, dict):
        raise ConfigError("expected a [plan] table", source=str(path), key="plan")
    return plan, parse_declarations(data, str(path))


def find_plan_file(plan: str, near: Path) -> Path | None:
    """test_plans/<plan>/plan.toml in the checkout holding `near`, or under the working directory."""
    for base in (*near.resolve().parents, Path.cwd()):
        cand = base / "test_plans" / plan / "plan.toml"
        if cand.is_file():
            return cand
    return None


def check_value(decl: PlanDeclarations, name: str, value: Any, *, source: str, key: str) -> Any:
    """A parameter's value checked against its declaration (as is when the plan declares nothing)."""
    spec = decl.parameter(name)
    if spec is None:
        if decl.declared:
            raise ConfigError(
                f"parameter {name!r} is not declared by plan {decl.plan!r} ({decl.source})"
                f"{decl.suggest(name, 'parameters')}",
                source=source,
                key=key,
            )
        return value
    return spec.check(value, source=source, key=key)
