"""Limit sets: versioned TOML files of bounds with units, provenance, decision rules and grades.

Limits stay structured data (bounds as quantities, a rule name) from file to journal to
report; nothing is ever turned into a string to be parsed back. The SHA-256 over the file's
bytes goes into every record that used it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pint

from bench.declarations import PlanDeclarations, check_value, parse_range
from bench.errors import ConfigError, ConfigErrors
from bench.tomlfile import parse_toml_bytes, read_bytes, sha256_hex, unknown_keys
from bench.units import dimensionality, non_finite_errors, parse_quantity

TOP_KEYS = {"limit_set", "limits", "parameters", "grading", "interlocks"}
META_KEYS = {
    "id",
    "version",
    "chemistry",
    "product",
    "title",
    "description",
    "documents",
    "effective",
    "supersedes",
    "author",
    "plans",
    "overlay",
}
LIMIT_KEYS = {
    "min",
    "max",
    "marginal",
    "rule",
    "clause",
    "source",
    "description",
    "unit",
    "grades",
    "nominal",
    "plausible",
}
GRADE_KEYS = {"grade", "min", "max", "description"}
PARAM_KEYS = {"value", "source", "description", "clause"}
RULES = {"simple", "guarded"}
REQUIRED_META = ("id", "version")


@dataclass(frozen=True)
class GradeBand:
    grade: str
    low: pint.Quantity | None
    high: pint.Quantity | None
    description: str = ""

    def contains(self, q: pint.Quantity, last: bool) -> bool:
        if self.low is not None and q < self.low:
            return False
        if self.high is not None:
            return q <= self.high if last else q < self.high
        return True


@dataclass(frozen=True)
class Limit:
    """One measurement's acceptance criteria. `low`/`high` may be None for one-sided limits."""

    name: str
    low: pint.Quantity | None
    high: pint.Quantity | None
    marginal: pint.Quantity | None = None
    rule: str = "simple"
    clause: str = ""
    source: str = ""
    description: str = ""
    unit: str = ""
    nominal: pint.Quantity | None = None
    grades: tuple[GradeBand, ...] = ()
    limit_set: str = ""
    limit_set_version: str = ""
    plausible: tuple[pint.Quantity | None, pint.Quantity | None] | None = None

    @property
    def display_unit(self) -> pint.Unit | str:
        if self.unit:
            return self.unit
        ref = self.low if self.low is not None else self.high if self.high is not None else self.nominal
        if ref is None and self.grades:
            ref = next((b.low or b.high for b in self.grades if (b.low or b.high) is not None), None)
        return ref.units if ref is not None else ""

    def reference(self) -> pint.Quantity | None:
        for q in (self.low, self.high, self.nominal):
            if q is not None:
                return q
        for band in self.grades:
            if band.low is not None:
                return band.low
            if band.high is not None:
                return band.high
        return None

    def grade_for(self, q: pint.Quantity) -> GradeBand | None:
        for i, band in enumerate(self.grades):
            if band.contains(q, last=i == len(self.grades) - 1):
                return band
        return None

    def to_record(self) -> dict[str, Any]:
        """Structured, unit-carrying form for the journal and the report."""
        unit = self.display_unit

        def mag(q: pint.Quantity | None) -> float | None:
            if q is None:
                return None
            if not unit:
                return float(q.magnitude)
            try:
                return float(q.to(unit).magnitude)
            except pint.DimensionalityError:  # a band in delta_degC against limits in degC
                return float(q.to(f"delta_{unit}").magnitude)

        return {
            "name": self.name,
            "low": mag(self.low),
            "high": mag(self.high),
            "marginal": mag(self.marginal),
            "nominal": mag(self.nominal),
            "unit": f"{unit:~P}" if not isinstance(unit, str) else unit,
            "rule": self.rule,
            "clause": self.clause,
            "source": self.source,
            "limit_set": self.limit_set,
            "limit_set_version": self.limit_set_version,
            "plausible": None if self.plausible is None else [mag(self.plausible[0]), mag(self.plausible[1])],
            "grades": [
                {"grade": b.grade, "low": mag(b.low), "high": mag(b.high), "description": b.description}
                for b in self.grades
            ],
        }


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Any
    source: str
    description: str = ""


@dataclass
class LimitSet:
    path: Path
    meta: dict[str, Any]
    limits: dict[str, Limit]
    parameters: dict[str, Parameter]
    grading: dict[str, Any] = field(default_factory=dict)
    interlocks: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    raw: bytes = b""

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "chemistry": self.meta.get("chemistry", ""),
            "product": self.meta.get("product", ""),
            "title": self.meta.get("title", ""),
            "path": str(self.path),
            "sha256": self.sha256,
        }


def _q(value: Any, src: str, key: str, errors: list[ConfigError]) -> pint.Quantity | None:
    try:
        return parse_quantity(value, source=src, key=key)
    except ConfigError as exc:
        errors.append(exc)
        return None


def _parse_limit(
    name: str, t: dict[str, Any], src: str, meta: dict[str, Any], errors: list[ConfigError]
) -> Limit | None:
    base = f"limits.{name}"
    n_before = len(errors)
    for key in unknown_keys(t, LIMIT_KEYS):
        errors.append(
            ConfigError(f"unknown key; expected one of {sorted(LIMIT_KEYS)}", source=src, key=f"{base}.{key}")
        )
    low = _q(t["min"], src, f"{base}.min", errors) if "min" in t else None
    high = _q(t["max"], src, f"{base}.max", errors) if "max" in t else None
    marginal = _q(t["marginal"], src, f"{base}.marginal", errors) if "marginal" in t else None
    nominal = _q(t["nominal"], src, f"{base}.nominal", errors) if "nominal" in t else None
    plausible = None
    if "plausible" in t:
        try:
            plausible = parse_range(t["plausible"], None, src, f"{base}.plausible")
        except ConfigError as exc:
            errors.append(exc)
    rule = t.get("rule", "simple")
    if rule not in RULES:
        errors.append(
            ConfigError(
                f"unknown decision rule {rule!r}; expected one of {sorted(RULES)}", source=src, key=f"{base}.rule"
            )
        )
    source = t.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append(
            ConfigError(
                "every limit needs its provenance: the clause, test method or 'bench default'",
                source=src,
                key=f"{base}.source",
            )
        )
    grades: list[GradeBand] = []
    raw_grades = t.get("grades", [])
    if not isinstance(raw_grades, list):
        errors.append(
            ConfigError('expected an array of tables [[limits."name".grades]]', source=src, key=f"{base}.grades")
        )
        raw_grades = []
    for i, g in enumerate(raw_grades):
        gkey = f"{base}.grades[{i}]"
        if not isinstance(g, dict):
            errors.append(ConfigError("expected a table with grade, min, max", source=src, key=gkey))
            continue
        for key in unknown_keys(g, GRADE_KEYS):
            errors.append(
                ConfigError(f"unknown key; expected one of {sorted(GRADE_KEYS)}", source=src, key=f"{gkey}.{key}")
            )
        if not isinstance(g.get("grade"), str):
            errors.append(ConfigError("missing grade name", source=src, key=f"{gkey}.grade"))
        glow = _q(g["min"], src, f"{gkey}.min", errors) if "min" in g else None
        ghigh = _q(g["max"], src, f"{gkey}.max", errors) if "max" in g else None
        grades.append(GradeBand(str(g.get("grade", "?")), glow, ghigh, str(g.get("description", ""))))
    if low is None and high is None and not grades and nominal is None:
        errors.append(ConfigError("a limit needs min, max, or grades", source=src, key=base))
    # Dimension consistency across every quantity of the entry.
    named = [("min", low), ("max", high), ("marginal", marginal), ("nominal", nominal)]
    named += [(f"grades[{i}].min", b.low) for i, b in enumerate(grades)]
    named += [(f"grades[{i}].max", b.high) for i, b in enumerate(grades)]
    if plausible is not None:
        named += [("plausible[0]", plausible[0]), ("plausible[1]", plausible[1])]
    present = [(k, q) for k, q in named if q is not None]
    if present:
        ref_key, ref = present[0]
        for k, q in present[1:]:
            if q.dimensionality != ref.dimensionality:
                errors.append(
                    ConfigError(
                        f"{q:~P} does not have the dimension of {ref_key} ({ref:~P})", source=src, key=f"{base}.{k}"
                    )
                )
        unit = t.get("unit")
        if unit is not None:
            try:
                if parse_quantity(f"1 {unit}").dimensionality != ref.dimensionality:
                    errors.append(
                        ConfigError(f"display unit {unit!r} does not match {ref:~P}", source=src, key=f"{base}.unit")
                    )
            except ConfigError as exc:
                errors.append(ConfigError(str(exc).split(": ", 1)[-1], source=src, key=f"{base}.unit"))
    if len(errors) > n_before:
        return None
    if low is not None and high is not None and low > high:
        errors.append(ConfigError(f"min {low:~P} is greater than max {high:~P}", source=src, key=base))
    if marginal is not None and marginal.magnitude < 0:
        errors.append(ConfigError("marginal band must not be negative", source=src, key=f"{base}.marginal"))
    for i, b in enumerate(grades):
        if b.low is not None and b.high is not None and b.low >= b.high:
            errors.append(
                ConfigError(
                    f"grade band min {b.low:~P} is not below max {b.high:~P}", source=src, key=f"{base}.grades[{i}]"
                )
            )
    ordered = sorted(
        grades, key=lambda b: (b.low is not None, b.low.to_base_units().magnitude if b.low is not None else 0.0)
    )
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.high is None or b.low is None:
            errors.append(
                ConfigError(
                    f"grade bands {a.grade!r} and {b.grade!r} overlap (open-ended band)",
                    source=src,
                    key=f"{base}.grades",
                )
            )
        elif a.high > b.low:
            errors.append(
                ConfigError(
                    f"grade bands {a.grade!r} and {b.grade!r} overlap ({a.high:~P} > {b.low:~P})",
                    source=src,
                    key=f"{base}.grades",
                )
            )
        elif a.high < b.low:
            errors.append(
                ConfigError(
                    f"gap between grade bands {a.grade!r} and {b.grade!r} ({a.high:~P} .. {b.low:~P})",
                    source=src,
                    key=f"{base}.grades",
                )
            )
    if len(errors) > n_before:
        return None
    return Limit(
        name=name,
        low=low,
        high=high,
        marginal=marginal,
        rule=rule,
        clause=str(t.get("clause", "")),
        source=str(source),
        description=str(t.get("description", "")),
        unit=str(t.get("unit", "")),
        nominal=nominal,
        grades=tuple(ordered),
        limit_set=str(meta.get("id", "")),
        limit_set_version=str(meta.get("version", "")),
        plausible=plausible,
    )


def load_limit_set(path: str | Path, declarations: PlanDeclarations | None = None) -> LimitSet:
    """Load and validate a limit set; raise ConfigErrors listing every problem by file and key."""
    p = Path(path)
    return parse_limit_set(read_bytes(p), p, declarations)


def parse_limit_set(raw: bytes, path: str | Path, declarations: PlanDeclarations | None = None) -> LimitSet:
    """Validate a limit set from the bytes already read (the bytes a signature check verified).

    With the plan's declarations, every limit must be a declared measurement of the declared
    dimension and every parameter a declared one within its valid range.
    """
    p = Path(path)
    src = str(p)
    data = parse_toml_bytes(raw, src)
    errors: list[ConfigError] = []
    for key in unknown_keys(data, TOP_KEYS):
        errors.append(ConfigError(f"unknown section; expected one of {sorted(TOP_KEYS)}", source=src, key=key))
    meta = data.get("limit_set")
    if not isinstance(meta, dict):
        errors.append(ConfigError("missing [limit_set] table with id and version", source=src, key="limit_set"))
        meta = {}
    for key in unknown_keys(meta, META_KEYS):
        errors.append(
            ConfigError(f"unknown key; expected one of {sorted(META_KEYS)}", source=src, key=f"limit_set.{key}")
        )
    for key in REQUIRED_META:
        if not isinstance(meta.get(key), str) or not meta.get(key):
            errors.append(ConfigError("required text value", source=src, key=f"limit_set.{key}"))
    plans = meta.get("plans", [])
    if not isinstance(plans, list) or not all(isinstance(x, str) and x for x in plans):
        errors.append(ConfigError("expected a list of plan names", source=src, key="limit_set.plans"))
    overlay = meta.get("overlay", False)
    if not isinstance(overlay, bool):
        errors.append(
            ConfigError(
                "expected true or false (an overlay completes the limit sets given after it)",
                source=src,
                key="limit_set.overlay",
            )
        )
        overlay = False
    limits: dict[str, Limit] = {}
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        errors.append(ConfigError('expected tables [limits."name"]', source=src, key="limits"))
        raw_limits = {}
    for name, table in _flatten_dotted(raw_limits, LIMIT_KEYS).items():
        if not isinstance(table, dict):
            errors.append(ConfigError("expected a table with min/max", source=src, key=f"limits.{name}"))
            continue
        lim = _parse_limit(name, table, src, meta, errors)
        if lim is not None:
            limits[name] = lim
            if declarations is not None:
                _check_declared_limit(lim, declarations, src, errors)
    params: dict[str, Parameter] = {}
    raw_params = data.get("parameters", {})
    if not isinstance(raw_params, dict):
        errors.append(ConfigError('expected tables [parameters."name"]', source=src, key="parameters"))
        raw_params = {}
    for name, table in _flatten_dotted(raw_params, PARAM_KEYS).items():
        key = f"parameters.{name}"
        if not isinstance(table, dict) or "value" not in table:
            errors.append(ConfigError("expected a table with value and source", source=src, key=key))
            continue
        for k in unknown_keys(table, PARAM_KEYS):
            errors.append(
                ConfigError(f"unknown key; expected one of {sorted(PARAM_KEYS)}", source=src, key=f"{key}.{k}")
            )
        if not isinstance(table.get("source"), str) or not table["source"].strip():
            errors.append(ConfigError("every parameter needs its provenance", source=src, key=f"{key}.source"))
        try:
            value = _parameter_value(name, table["value"], declarations, src, f"{key}.value")
        except ConfigError as exc:
            errors.append(exc)
            continue
        params[name] = Parameter(name, value, str(table.get("source", "")), str(table.get("description", "")))
    if declarations is not None and not overlay:
        errors += missing_parameters(declarations, [params], src)
    interlocks = data.get("interlocks", {})
    if not isinstance(interlocks, dict):
        errors.append(ConfigError("expected a table", source=src, key="interlocks"))
        interlocks = {}
    elif interlocks:
        from bench.safety.interlocks import merge_config

        try:
            merge_config([(src, interlocks)])
        except ConfigError as exc:
            errors.append(exc)
    grading = data.get("grading", {})
    if not isinstance(grading, dict):
        errors.append(ConfigError("expected tables [grading.<name>]", source=src, key="grading"))
        grading = {}
    errors += non_finite_errors(grading, src, "grading")
    if errors:
        raise ConfigErrors(errors)
    return LimitSet(
        path=p,
        meta=dict(meta),
        limits=limits,
        parameters=params,
        grading=dict(grading),
        interlocks=dict(interlocks),
        sha256=sha256_hex(raw),
        raw=raw,
    )


def missing_parameters(declarations: PlanDeclarations, present: list[dict[str, Any]], src: str) -> list[ConfigError]:
    """Parameters the plan requires that none of `present` (parameter tables) gives, named by `src`."""
    if not declarations.declared:
        return []
    errors = []
    for name, spec in declarations.parameters.items():
        wild = any(c in name for c in "*?[")
        if spec.required and not wild and not any(name in p for p in present):
            errors.append(
                ConfigError(
                    f"missing parameter {name!r}, which plan {declarations.plan!r} reads ({declarations.source})",
                    source=src,
                    key=f"parameters.{name}",
                )
            )
    return errors


def _parameter_value(name: str, value: Any, declarations: PlanDeclarations | None, src: str, key: str) -> Any:
    """Declared parameters are checked against their declaration; others: quantity text is parsed,
    anything else stays as written; non-finite numbers are refused either way."""
    if declarations is not None and declarations.declared:
        return check_value(declarations, name, value, source=src, key=key)
    errors = non_finite_errors(value, src, key)
    if errors:
        raise errors[0]
    if isinstance(value, str):
        try:
            return parse_quantity(value, source=src, key=key)
        except ConfigError:
            return value  # plain text parameter (e.g. a chemistry name)
    return value


def _check_declared_limit(lim: Limit, decl: PlanDeclarations, src: str, errors: list[ConfigError]) -> None:
    """A limit must be a measurement the plan declares, with the declared dimension."""
    if not decl.declared:
        return
    spec = decl.measurement(lim.name)
    if spec is None:
        errors.append(
            ConfigError(
                f"plan {decl.plan!r} declares no measurement {lim.name!r} ({decl.source})"
                f"{decl.suggest(lim.name, 'measurements')}",
                source=src,
                key=f"limits.{lim.name}",
            )
        )
        return
    ref = lim.reference()
    if spec.dimension and ref is not None and ref.dimensionality != dimensionality(spec.dimension):
        errors.append(
            ConfigError(
                f"{ref:~P} is not a {spec.dimension} (plan {decl.plan!r} declares {lim.name!r} as {spec.dimension})",
                source=src,
                key=f"limits.{lim.name}",
            )
        )


def _flatten_dotted(table: Any, leaf_keys: set[str]) -> dict[str, Any]:
    """TOML turns [limits.cell.ocv] into nested tables; accept both quoted and bare dotted names."""
    out: dict[str, Any] = {}
    if not isinstance(table, dict):
        return out

    def walk(prefix: str, node: Any) -> None:
        if (
            isinstance(node, dict)
            and node
            and not (set(node) & leaf_keys)
            and all(isinstance(v, dict) for v in node.values())
        ):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    for k, v in table.items():
        walk(k, v)
    return out


class Limits:
    """Several limit sets in force for one run; a name resolves to the first set defining it.

    With the plan's declarations, reading an undeclared parameter is an error naming plan.toml:
    what the plan reads must be what load time checked.
    """

    def __init__(self, sets: list[LimitSet], declarations: PlanDeclarations | None = None):
        self.sets = sets
        self.declarations = declarations or PlanDeclarations()
        seen: dict[str, str] = {}
        for s in sets:
            if s.id in seen:
                raise ConfigError(
                    f"limit set id {s.id!r} loaded twice (also from {seen[s.id]})",
                    source=str(s.path),
                    key="limit_set.id",
                )
            seen[s.id] = str(s.path)
        if any(s.meta.get("overlay") for s in sets):  # overlays are complete only with the sets after them
            where = " + ".join(str(s.path) for s in sets)
            errors = missing_parameters(self.declarations, [s.parameters for s in sets], where)
            if errors:
                raise ConfigErrors(errors)

    def get(self, name: str) -> Limit | None:
        for s in self.sets:
            if name in s.limits:
                return s.limits[name]
        return None

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter's value (a quantity where it has a unit); KeyError names the limit sets searched."""
        decl = self.declarations
        if decl.declared and decl.parameter(name) is None:
            raise ConfigError(
                f"the plan reads parameter {name!r} but does not declare it{decl.suggest(name, 'parameters')}",
                source=decl.source,
                key=f"parameters.{name}",
            )
        for s in self.sets:
            if name in s.parameters:
                return s.parameters[name].value
        if default is not None:
            return default
        ids = ", ".join(f"{s.id} ({s.path})" for s in self.sets) or "none loaded"
        raise KeyError(f"parameter {name!r} not found in limit sets: {ids}")

    def grading(self, section: str) -> dict[str, Any]:
        for s in self.sets:
            if section in s.grading:
                return s.grading[section]
        raise KeyError(f"grading table {section!r} not found in limit sets {[s.id for s in self.sets]}")

    def interlocks(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in reversed(self.sets):
            out.update(s.interlocks)
        return out

    def summaries(self) -> list[dict[str, Any]]:
        return [s.summary() for s in self.sets]
