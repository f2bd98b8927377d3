"""Grading rule table: maps intake results to a grade and a reuse route. Pure, no I/O.

Why a table and not code: UL 1974 sets no universal numbers; the repurposer defines the criteria
per battery type and the certifier audits them. Keeping every threshold in the limit file (with
a `version`) lets an auditor replay a grade from the record, and lets an OEM datasheet change a
number without a code change.

Table (`[grading.module_intake]` of a limit set):

    version = "MI-LFP-2026.1"           # recorded with every grade
    grades = ["A", "B", "C", "quarantine", "recycle"]   # best first
    missing_grade = "quarantine"       # a required result that was never measured
    indeterminate_grade = "quarantine" # a result that cannot be graded (INDETERMINATE, outside every band)
    default_rule = "R00"               # id reported when no rule fired
    [grading.module_intake.routes]     # grade -> reuse route
    [[grading.module_intake.rules]]    # evaluated in order
    id = "R01"; measurement = "history.disqualifying_events"; above = "0"; grade = "recycle"

A rule fires on exactly one condition: `above` (>), `at_least` (>=), `below` (<), `at_most`
(<=), `equals` (text or quantity), or `bands = true` (the grade band of the measurement's own
limit, so band edges live once, in `[limits]`). The final grade is the worst grade any rule
gives; the deciding rule is the first rule, in table order, that gives that grade.

Nothing is graded from a doubtful value: a result whose verdict was INDETERMINATE (implausible,
not measured because a precondition failed, no limit, expired calibration) and a value that no
grade band contains give `indeterminate_grade` with the reason, never a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pint

from bench.units import parse_quantity

CONDITIONS = ("above", "at_least", "below", "at_most", "equals")
RULE_KEYS = {"id", "measurement", "grade", "reason", "source", "required", "bands", *CONDITIONS}
TABLE_KEYS = {
    "version",
    "title",
    "source",
    "description",
    "grades",
    "missing_grade",
    "indeterminate_grade",
    "default_rule",
    "routes",
    "rules",
}


class RuleTableError(ValueError):
    """The rule table is malformed; the message names the key."""


@dataclass(frozen=True)
class Result:
    """One intake result as the grader sees it: a value (quantity or text) and its limit's band.

    `indeterminate` is why the value cannot be graded ("" = it can): an INDETERMINATE verdict's
    reason, or "not measured: <precondition>".
    """

    value: pint.Quantity | str | None
    band: str | None = None
    indeterminate: str = ""
    note: str = ""  # detail appended to the rule's reason when it fires (e.g. which steps were incomplete)


@dataclass(frozen=True)
class Rule:
    id: str
    measurement: str
    grade: str | None
    condition: str
    threshold: pint.Quantity | str | None
    reason: str = ""
    source: str = ""
    required: bool = False


@dataclass(frozen=True)
class Fired:
    rule: str
    measurement: str
    grade: str
    value: str
    reason: str


@dataclass
class GradeDecision:
    grade: str
    route: str
    rule: str
    measurement: str
    value: str
    reason: str
    version: str
    fired: list[Fired] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "route": self.route,
            "rule": self.rule,
            "measurement": self.measurement,
            "value": self.value,
            "reason": self.reason,
            "rule_table_version": self.version,
            "fired": [f.__dict__ for f in self.fired],
        }


@dataclass(frozen=True)
class RuleTable:
    version: str
    grades: tuple[str, ...]
    routes: dict[str, str]
    rules: tuple[Rule, ...]
    missing_grade: str
    indeterminate_grade: str
    default_rule: str

    def severity(self, grade: str) -> int:
        return self.grades.index(grade)


def _threshold(cond: str, raw: Any, key: str) -> pint.Quantity | str:
    if cond == "equals" and isinstance(raw, str):
        try:
            return parse_quantity(raw, key=key)
        except Exception:  # plain text such as "yes"
            return raw.strip().lower()
    if isinstance(raw, bool):
        raise RuleTableError(f'{key}: expected a quantity such as "80 %", got {raw!r}')
    try:
        return parse_quantity(raw, key=key)
    except Exception as exc:
        raise RuleTableError(f"{key}: {exc}") from exc


def load_rule_table(table: dict[str, Any]) -> RuleTable:
    """Validate a `[grading.<name>]` table; RuleTableError lists every problem by key."""
    errors: list[str] = []
    for k in sorted(set(table) - TABLE_KEYS):
        errors.append(f"{k}: unknown key; expected some of {sorted(TABLE_KEYS)}")
    version = table.get("version")
    if not isinstance(version, str) or not version:
        errors.append("version: required text (recorded with every grade)")
    grades = table.get("grades")
    if not isinstance(grades, list) or not grades or not all(isinstance(g, str) for g in grades):
        errors.append("grades: required list of grade names, best first")
        grades = []
    missing = str(table.get("missing_grade", grades[-1] if grades else ""))
    if grades and missing not in grades:
        errors.append(f"missing_grade: {missing!r} is not one of {grades}")
    indeterminate = str(table.get("indeterminate_grade", missing))
    if grades and indeterminate not in grades:
        errors.append(f"indeterminate_grade: {indeterminate!r} is not one of {grades}")
    routes = table.get("routes", {})
    if not isinstance(routes, dict):
        errors.append("routes: expected a table grade -> route")
        routes = {}
    for g in grades:
        if g not in routes:
            errors.append(f"routes.{g}: every grade needs a reuse route")
    rules: list[Rule] = []
    seen: set[str] = set()
    raw_rules = table.get("rules", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        errors.append("rules: expected an array of tables [[grading.<name>.rules]]")
        raw_rules = []
    for i, r in enumerate(raw_rules):
        key = f"rules[{i}]"
        if not isinstance(r, dict):
            errors.append(f"{key}: expected a table")
            continue
        for k in sorted(set(r) - RULE_KEYS):
            errors.append(f"{key}.{k}: unknown key; expected some of {sorted(RULE_KEYS)}")
        rid = r.get("id")
        if not isinstance(rid, str) or not rid:
            errors.append(f"{key}.id: required text")
            rid = f"#{i}"
        elif rid in seen:
            errors.append(f"{key}.id: duplicate rule id {rid!r}")
        seen.add(rid)
        if not isinstance(r.get("measurement"), str) or not r.get("measurement"):
            errors.append(f"{key}.measurement: required measurement name")
        conds = [c for c in CONDITIONS if c in r] + (["bands"] if r.get("bands") else [])
        if len(conds) != 1:
            errors.append(f"{key}: exactly one condition of {[*CONDITIONS, 'bands']} needed, got {conds}")
            continue
        cond = conds[0]
        grade = r.get("grade")
        if cond != "bands" and grade not in grades:
            errors.append(f"{key}.grade: {grade!r} is not one of {grades}")
            continue
        try:
            thr = None if cond == "bands" else _threshold(cond, r[cond], f"{key}.{cond}")
        except RuleTableError as exc:
            errors.append(str(exc))
            continue
        rules.append(
            Rule(
                id=rid,
                measurement=str(r.get("measurement", "")),
                grade=grade,
                condition=cond,
                threshold=thr,
                reason=str(r.get("reason", "")),
                source=str(r.get("source", "")),
                required=bool(r.get("required", False)),
            )
        )
    if errors:
        raise RuleTableError("grading table: " + "; ".join(errors))
    return RuleTable(
        version=str(version),
        grades=tuple(grades),
        routes={str(k): str(v) for k, v in routes.items()},
        rules=tuple(rules),
        missing_grade=missing,
        indeterminate_grade=indeterminate,
        default_rule=str(table.get("default_rule", "R00")),
    )


def _text(v: pint.Quantity | str | None) -> str:
    if v is None:
        return "not measured"
    if isinstance(v, str):
        return v
    return f"{v.magnitude:.6g} {v.units:~P}".strip()


def _fires(rule: Rule, value: pint.Quantity | str) -> bool:
    thr = rule.threshold
    if isinstance(thr, str) or isinstance(value, str):
        if rule.condition != "equals":
            raise RuleTableError(f"rule {rule.id}: {rule.condition} needs a quantity, got text {value!r}")
        return str(value).strip().lower() == str(thr).strip().lower()
    if value.dimensionality != thr.dimensionality:
        raise RuleTableError(
            f"rule {rule.id}: {rule.measurement} = {_text(value)} cannot be compared with {_text(thr)}"
        )
    return {
        "above": value > thr,
        "at_least": value >= thr,
        "below": value < thr,
        "at_most": value <= thr,
        "equals": value == thr,
    }[rule.condition]


def evaluate(table: RuleTable, results: dict[str, Result]) -> GradeDecision:
    """Grade from the results; worst grade wins, the first rule giving it decides."""
    fired: list[Fired] = []
    for rule in table.rules:
        res = results.get(rule.measurement)
        if res is not None and res.indeterminate:
            fired.append(
                Fired(
                    rule.id,
                    rule.measurement,
                    table.indeterminate_grade,
                    _text(res.value),
                    f"{rule.measurement} cannot be graded: {res.indeterminate}",
                )
            )
            continue
        if res is None or res.value is None:
            if rule.required:
                fired.append(
                    Fired(
                        rule.id,
                        rule.measurement,
                        table.missing_grade,
                        "not measured",
                        f"required result {rule.measurement} missing",
                    )
                )
            continue
        if rule.condition == "bands":
            if res.band is None:
                fired.append(
                    Fired(
                        rule.id,
                        rule.measurement,
                        table.indeterminate_grade,
                        _text(res.value),
                        f"{rule.measurement} = {_text(res.value)} lies in no grade band of its limit",
                    )
                )
                continue
            if res.band not in table.grades:
                raise RuleTableError(
                    f"rule {rule.id}: band grade {res.band!r} of {rule.measurement} is not one of {list(table.grades)}"
                )
            if res.band != table.grades[0]:
                fired.append(
                    Fired(
                        rule.id,
                        rule.measurement,
                        res.band,
                        _text(res.value),
                        rule.reason or f"{rule.measurement} in band {res.band}",
                    )
                )
        elif _fires(rule, res.value):
            reason = f"{rule.reason}: {res.note}" if res.note else rule.reason
            fired.append(Fired(rule.id, rule.measurement, str(rule.grade), _text(res.value), reason))
    if not fired:
        best = table.grades[0]
        return GradeDecision(
            best, table.routes.get(best, ""), table.default_rule, "", "", "no rule lowered the grade", table.version, []
        )
    worst = max(table.severity(f.grade) for f in fired)
    decider = next(f for f in fired if table.severity(f.grade) == worst)
    grade = table.grades[worst]
    return GradeDecision(
        grade,
        table.routes.get(grade, ""),
        decider.rule,
        decider.measurement,
        decider.value,
        decider.reason,
        table.version,
        fired,
    )
