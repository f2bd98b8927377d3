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

from bench.errors import ConfigError, ConfigErrors
from bench.tomlfile import parse_toml, read_toml, sha256_hex, unknown_keys
from bench.units import parse_quantity

TOP_KEYS = {"limit_set", "limits", "parameters", "grading", "interlocks"}
META_KEYS = {"id", "version", "chemistry", "product", "title", "description", "documents", "effective",
             "supersedes", "author"}
LIMIT_KEYS = {"min", "max", "marginal", "rule", "clause", "source", "description", "unit", "grades", "nominal"}
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


def _parse_limit(name: str, t: dict[str, Any], src: str, meta: dict[str, Any],
                 errors: list[ConfigError]) -> Limit | None:
    base = f"limits.{name}"
    n_before = len(errors)
    for key in unknown_keys(t, LIMIT_KEYS):
        errors.append(ConfigError(f"unknown key; expected one of {sorted(LIMIT_KEYS)}", source=src, key=f"{base}.{key}"))
    low = _q(t["min"], src, f"{base}.min", errors) if "min" in t else None
    high = _q(t["max"], src, f"{base}.max", errors) if "max" in t else None
    marginal = _q(t["marginal"], src, f"{base}.marginal", errors) if "marginal" in t else None
    nominal = _q(t["nominal"], src, f"{base}.nominal", errors) if "nominal" in t else None
    rule = t.get("rule", "simple")
    if rule not in RULES:
        errors.append(ConfigError(f"unknown decision rule {rule!r}; expected one of {sorted(RULES)}", source=src,
                                  key=f"{base}.rule"))
    source = t.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append(ConfigError("every limit needs its provenance: the clause, test method or 'bench default'",
                                  source=src, key=f"{base}.source"))
    grades: list[GradeBand] = []
    raw_grades = t.get("grades", [])
    if not isinstance(raw_grades, list):
        errors.append(ConfigError("expected an array of tables [[limits.\"name\".grades]]", source=src,
                                  key=f"{base}.grades"))
        raw_grades = []
    for i, g in enumerate(raw_grades):
        gkey = f"{base}.grades[{i}]"
        if not isinstance(g, dict):
            errors.append(ConfigError("expected a table with grade, min, max", source=src, key=gkey))
            continue
        for key in unknown_keys(g, GRADE_KEYS):
            errors.append(ConfigError(f"unknown key; expected one of {sorted(GRADE_KEYS)}", source=src,
                                      key=f"{gkey}.{key}"))
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
    present = [(k, q) for k, q in named if q is not None]
    if present:
        ref_key, ref = present[0]
        for k, q in present[1:]:
            if q.dimensionality != ref.dimensionality:
                errors.append(ConfigError(f"{q:~P} does not have the dimension of {ref_key} ({ref:~P})", source=src,
                                          key=f"{base}.{k}"))
        unit = t.get("unit")
        if unit is not None:
            try:
                if parse_quantity(f"1 {unit}").dimensionality != ref.dimensionality:
                    errors.append(ConfigError(f"display unit {unit!r} does not match {ref:~P}", source=src,
                                              key=f"{base}.unit"))
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
            errors.append(ConfigError(f"grade band min {b.low:~P} is not below max {b.high:~P}", source=src,
                                      key=f"{base}.grades[{i}]"))
    ordered = sorted(grades, key=lambda b: (b.low is not None, b.low.to_base_units().magnitude if b.low is not None
                                            else 0.0))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.high is None or b.low is None:
            errors.append(ConfigError(f"grade bands {a.grade!r} and {b.grade!r} overlap (open-ended band)",
                                      source=src, key=f"{base}.grades"))
        elif a.high > b.low:
            errors.append(ConfigError(f"grade bands {a.grade!r} and {b.grade!r} overlap ({a.high:~P} > {b.low:~P})",
                                      source=src, key=f"{base}.grades"))
        elif a.high < b.low:
            errors.append(ConfigError(f"gap between grade bands {a.grade!r} and {b.grade!r} ({a.high:~P} .. {b.low:~P})",
                                      source=src, key=f"{base}.grades"))
    if len(errors) > n_before:
        return None
    return Limit(name=name, low=low, high=high, marginal=marginal, rule=rule, clause=str(t.get("clause", "")),
                 source=str(source), description=str(t.get("description", "")), unit=str(t.get("unit", "")),
                 nominal=nominal, grades=tuple(ordered), limit_set=str(meta.get("id", "")),
                 limit_set_version=str(meta.get("version", "")))


def load_limit_set(path: str | Path, raw: bytes | None = None) -> LimitSet:
    """Load and validate a limit set; raise ConfigErrors listing every problem by file and key.

    `raw` is the file's content when the caller has already read it: production mode reads a
    limit set once, checks its signature over those bytes and parses the very same bytes, so a
    file swapped between two reads can never run unsigned.
    """
    p = Path(path)
    if raw is None:
        data, raw = read_toml(p)
    else:
        data = parse_toml(raw, p)
    src = str(p)
    errors: list[ConfigError] = []
    for key in unknown_keys(data, TOP_KEYS):
        errors.append(ConfigError(f"unknown section; expected one of {sorted(TOP_KEYS)}", source=src, key=key))
    meta = data.get("limit_set")
    if not isinstance(meta, dict):
        errors.append(ConfigError("missing [limit_set] table with id and version", source=src, key="limit_set"))
        meta = {}
    for key in unknown_keys(meta, META_KEYS):
        errors.append(ConfigError(f"unknown key; expected one of {sorted(META_KEYS)}", source=src,
                                  key=f"limit_set.{key}"))
    for key in REQUIRED_META:
        if not isinstance(meta.get(key), str) or not meta.get(key):
            errors.append(ConfigError("required text value", source=src, key=f"limit_set.{key}"))
    limits: dict[str, Limit] = {}
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        errors.append(ConfigError("expected tables [limits.\"name\"]", source=src, key="limits"))
        raw_limits = {}
    for name, table in _flatten_dotted(raw_limits, LIMIT_KEYS).items():
        if not isinstance(table, dict):
            errors.append(ConfigError("expected a table with min/max", source=src, key=f"limits.{name}"))
            continue
        lim = _parse_limit(name, table, src, meta, errors)
        if lim is not None:
            limits[name] = lim
    params: dict[str, Parameter] = {}
    for name, table in _flatten_dotted(data.get("parameters", {}), PARAM_KEYS).items():
        key = f"parameters.{name}"
        if not isinstance(table, dict) or "value" not in table:
            errors.append(ConfigError("expected a table with value and source", source=src, key=key))
            continue
        for k in unknown_keys(table, PARAM_KEYS):
            errors.append(ConfigError(f"unknown key; expected one of {sorted(PARAM_KEYS)}", source=src,
                                      key=f"{key}.{k}"))
        if not isinstance(table.get("source"), str) or not table["source"].strip():
            errors.append(ConfigError("every parameter needs its provenance", source=src, key=f"{key}.source"))
        value = table["value"]
        if isinstance(value, str):
            try:
                value = parse_quantity(value, source=src, key=f"{key}.value")
            except ConfigError:
                pass  # plain text parameter (e.g. a chemistry name)
        params[name] = Parameter(name, value, str(table.get("source", "")), str(table.get("description", "")))
    if errors:
        raise ConfigErrors(errors)
    return LimitSet(path=p, meta=dict(meta), limits=limits, parameters=params,
                    grading=dict(data.get("grading", {})), interlocks=dict(data.get("interlocks", {})),
                    sha256=sha256_hex(raw), raw=raw)


def _flatten_dotted(table: Any, leaf_keys: set[str]) -> dict[str, Any]:
    """TOML turns [limits.cell.ocv] into nested tables; accept both quoted and bare dotted names."""
    out: dict[str, Any] = {}
    if not isinstance(table, dict):
        return out

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and node and not (set(node) & leaf_keys) and all(
                isinstance(v, dict) for v in node.values()):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    for k, v in table.items():
        walk(k, v)
    return out


class Limits:
    """Several limit sets in force for one run; a name resolves to the first set defining it."""

    def __init__(self, sets: list[LimitSet]):
        self.sets = sets
        seen: dict[str, str] = {}
        for s in sets:
            if s.id in seen:
                raise ConfigError(f"limit set id {s.id!r} loaded twice (also from {seen[s.id]})", source=str(s.path),
                                  key="limit_set.id")
            seen[s.id] = str(s.path)

    def get(self, name: str) -> Limit | None:
        for s in self.sets:
            if name in s.limits:
                return s.limits[name]
        return None

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter's value (a quantity where it has a unit); KeyError names the limit sets searched."""
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
