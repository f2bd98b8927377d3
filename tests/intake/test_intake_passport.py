"""Battery passport: built from results and grade, validated against the shipped JSON Schema."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from bench.units import Q_
from test_plans.module_intake.passport import build_passport, schema, validate

DUT = {
    "serial": "M-1",
    "oem": "OEM",
    "model": "X",
    "chemistry": "LFP",
    "rated_capacity": "100 A*h",
    "nominal_voltage": "51.2 V",
    "bol_resistance": "5 mohm",
    "passport_id": "EU-1",
}
HIST = {
    "source": "passport file",
    "cycle_count": 1200,
    "energy_throughput": "60 MWh",
    "events": [],
    "fault_codes": [],
    "age_years": 5,
    "calendar_life_years": 15,
}
GRADE = {
    "grade": "B",
    "route": "community storage",
    "rule": "R08 state of health",
    "measurement": "capacity.soh",
    "value": "74 %",
    "reason": "",
    "rule_table_version": "MI-LFP-1.0.0",
    "fired": [],
}
RUN = {
    "run_id": "R1",
    "batch_id": "b",
    "plan": "module_intake",
    "plan_version": "1.0.0",
    "station": "sim",
    "site": "lab",
    "simulated": True,
    "date": "2026-11-23",
    "limit_set": {"id": "module-intake-lfp", "version": "1.0.0", "sha256": "00"},
}
RESULTS = {
    "capacity.discharge_capacity": Q_(74, "A*h"),
    "capacity.fade": Q_(26, "%"),
    "capacity.discharge_energy": Q_(3800, "W*h"),
    "capacity.soce": Q_(74, "%"),
    "dcir.resistance": Q_(5.6, "mohm"),
    "dcir.growth": Q_(12, "%"),
    "pulse.power_capability": Q_(80, "kW"),
    "pulse.power_fade": Q_(10, "%"),
    "self_discharge.module_rate": Q_(2.5, "%/month"),
    "self_discharge.cell_rate": Q_(0.1, "mV/day"),
    "insulation.resistance": Q_(500, "Mohm"),
}


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"].endswith("2020-12/schema")


def test_full_passport_validates() -> None:
    p = build_passport(dut=DUT, history=HIST, results=RESULTS, grade=GRADE, run=RUN)
    validate(p)
    assert p["batteryStatus"] == "repurposed"
    assert p["performance"]["remainingCapacity"] == {"value": 74.0, "unit": "Ah", "clause": "6.7.2.3"}
    assert p["performance"]["remainingEnergy"]["value"] == pytest.approx(3.8)
    assert p["repurposing"]["statement"] == "sequence derived from UL 1974"
    assert p["repurposing"]["decidingRule"] == "R08 state of health"
    assert p["history"]["energyThroughput"] == {"value": 60000.0, "unit": "kWh", "clause": "6.7.6.7"}


def test_rejected_module_has_nulls_and_waste_status() -> None:
    g = {**GRADE, "grade": "recycle", "route": "recycling", "rule": "R03 visual", "measurement": "visual.defects"}
    p = build_passport(dut=DUT, history=HIST, results={}, grade=g, run=RUN)
    validate(p)
    assert p["batteryStatus"] == "waste"
    assert p["performance"]["remainingCapacity"] is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["repurposing"].update(statement="UL 1974 compliant"),
        lambda p: p.update(batteryStatus="scrap"),
        lambda p: p["performance"].update(remainingCapacity={"value": 74}),
        lambda p: p["repurposing"].update(grade="D"),
        lambda p: p.pop("identity"),
    ],
)
def test_schema_rejects_bad_passports(mutate) -> None:
    p = copy.deepcopy(build_passport(dut=DUT, history=HIST, results=RESULTS, grade=GRADE, run=RUN))
    mutate(p)
    with pytest.raises(jsonschema.ValidationError):
        validate(p)
