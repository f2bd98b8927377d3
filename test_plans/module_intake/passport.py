"""Battery passport for a graded module: EU 2023/1542 attributes the intake plan measures.

Why a separate module: the passport is built from plain results (quantities) and the grade, so
it can be unit-tested and validated against the shipped JSON Schema without a bench. Attribute
names follow the IDTA Battery Pass product-condition aspect 1.2.0 and the clause numbers DIN DKE
SPEC 99100:2025-02; every quantity carries its unit and the passport clause it answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pint

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "battery_passport.schema.json"
STATEMENT = "sequence derived from UL 1974"

# passport attribute -> (result name, unit, DIN DKE SPEC 99100 clause)
PERFORMANCE: dict[str, tuple[str, str, str]] = {
    "remainingCapacity": ("capacity.discharge_capacity", "A*h", "6.7.2.3"),
    "capacityFade": ("capacity.fade", "%", "6.7.2.4"),
    "remainingEnergy": ("capacity.discharge_energy", "kWh", "6.7.2.6"),
    "stateOfCertifiedEnergy": ("capacity.soce", "%", "6.7.2.7"),
    "internalResistance": ("dcir.resistance", "mohm", "6.7.5.2"),
    "internalResistanceIncrease": ("dcir.growth", "%", "6.7.5.3"),
    "remainingPowerCapability": ("pulse.power_capability", "W", "6.7.3.3"),
    "powerFade": ("pulse.power_fade", "%", "6.7.3.4"),
    "currentSelfDischargingRate": ("self_discharge.module_rate", "%/month", "6.7.4.7"),
    "selfDischargeVoltageDrift": ("self_discharge.cell_rate", "mV/day", "6.7.4.8"),
}
UNIT_TEXT = {
    "A*h": "Ah",
    "kWh": "kWh",
    "%": "%",
    "mohm": "mΩ",
    "W": "W",
    "%/month": "%/month",
    "mV/day": "mV/day",
    "Mohm": "MΩ",
    "V": "V",
}


def quantity(q: pint.Quantity | None, unit: str, clause: str = "", method: str = "") -> dict[str, Any] | None:
    """{value, unit[, clause, method]} in the passport's unit, or None when not measured."""
    if q is None:
        return None
    out: dict[str, Any] = {"value": round(float(q.to(unit).magnitude), 6), "unit": UNIT_TEXT.get(unit, unit)}
    if clause:
        out["clause"] = clause
    if method:
        out["method"] = method
    return out


def build_passport(
    *,
    dut: dict[str, Any],
    history: dict[str, Any],
    results: dict[str, pint.Quantity],
    grade: dict[str, Any],
    run: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the passport. `results` maps result names to quantities; `grade` is GradeDecision.as_dict()."""
    from bench.units import Q_

    def q_from(entry: Any) -> pint.Quantity | None:
        if entry is None or entry == "":
            return None
        return entry if isinstance(entry, pint.Quantity) else Q_(str(entry))

    performance = {
        attr: quantity(results.get(name), unit, clause) for attr, (name, unit, clause) in PERFORMANCE.items()
    }
    if results.get("insulation.resistance") is not None:
        performance["insulationResistance"] = quantity(results["insulation.resistance"], "Mohm", "UL 1974 S4")
    status = "waste" if grade["grade"] == "recycle" else "repurposed"
    rated = q_from(dut.get("rated_capacity"))
    chemistry = str(dut.get("chemistry", "other")).upper()
    serial = str(dut.get("serial", ""))
    prior = list(history.get("repurposing_history", []) or [])
    passport = {
        "schemaVersion": "ess-bench-passport/1.0",
        "passportId": f"{serial}-{run['run_id']}",
        "linkedOriginalPassport": dut.get("passport_id") or None,
        "batteryStatus": status,
        "identity": {
            "serialNumber": serial,
            "manufacturer": str(dut.get("oem", dut.get("manufacturer", ""))),
            "model": str(dut.get("model", "")),
            "chemistry": chemistry if chemistry in ("LFP", "NMC", "NCA", "LMO", "LTO") else "other",
            "ratedCapacity": quantity(rated, "A*h", "6.7.2.2") if rated is not None else {"value": 0, "unit": "Ah"},
            "nominalVoltage": quantity(q_from(dut.get("nominal_voltage")), "V", "6.7.2.11"),
            "initialInternalResistance": quantity(q_from(dut.get("bol_resistance")), "mohm", "6.7.5.2"),
            "manufactureDate": str(dut["manufacture_date"]) if dut.get("manufacture_date") else None,
            "expectedLifetimeYears": _num(history.get("calendar_life_years")),
        },
        "repurposing": {
            "statement": STATEMENT,
            "repurposer": str(run.get("site", "")),
            "date": str(run.get("date", "")),
            "runId": str(run["run_id"]),
            "batchId": run.get("batch_id"),
            "plan": str(run.get("plan", "")),
            "planVersion": str(run.get("plan_version", "")),
            "station": str(run.get("station", "")),
            "simulated": bool(run.get("simulated", False)),
            "grade": grade["grade"],
            "route": grade["route"],
            "gradingRuleVersion": grade["rule_table_version"],
            "decidingRule": grade["rule"],
            "decidingMeasurement": grade.get("measurement", ""),
            "limitSet": dict(run.get("limit_set", {"id": "", "version": "", "sha256": ""})),
            "repurposingHistory": [
                *prior,
                {
                    "date": str(run.get("date", "")),
                    "status": status,
                    "grade": grade["grade"],
                    "route": grade["route"],
                    "runId": str(run["run_id"]),
                },
            ],
        },
        "performance": performance,
        "history": {
            "numberOfFullCycles": _num(history.get("cycle_count")),
            "energyThroughput": quantity(q_from(history.get("energy_throughput")), "kWh", "6.7.6.7"),
            "capacityThroughput": quantity(q_from(history.get("capacity_throughput")), "A*h", "6.7.6.8"),
            "negativeEvents": [str(e) for e in history.get("events", []) or []],
            "faultCodes": [int(c) for c in history.get("fault_codes", []) or []],
            "ageYears": _num(history.get("age_years")),
            "calendarLifeYears": _num(history.get("calendar_life_years")),
            "historySource": str(history.get("source", "")),
        },
    }
    return passport


def _num(x: Any) -> float | None:
    return None if x is None or x == "" else float(x)


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(passport: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if the passport does not match the shipped schema (whose own
    validity against the metaschema tests/intake/test_intake_passport.py proves, once, not every run)."""
    import jsonschema

    jsonschema.Draft202012Validator(schema()).validate(passport)


def to_bytes(passport: dict[str, Any]) -> bytes:
    return json.dumps(passport, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
