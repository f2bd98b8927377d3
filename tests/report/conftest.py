"""A fake but realistic run written through the Journal API, for the report tests.

Two steps with clauses, limits, an instrument whose calibration has expired, a graded result,
operator prompt, conditions, a deviation, a passport (DUT info and passport.json), and
telemetry series with an aggregate check, all deterministic (no random, no clock reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.journal import ABORTED, COMPLETED, Journal

RUN_ID = "20260105T101500Z-MOD-0042-ab12"
LIMITS_TOML = b'[meta]\nid = "module-lfp"\nversion = "2.1"\n\n[limits."charge.max_current"]\nmax = "12 A"\n'
CAL_OK = {"certificate": "KS-CAL-2026-04417", "due": "2027-04-30", "lab": "Keysight Service Center"}
CAL_OLD = {"certificate": "FL-CAL-2024-00913", "due": "2025-06-30", "lab": "Fluke Calibration"}


def _limit(name: str, low: float | None, high: float | None, unit: str, clause: str, **extra: object) -> dict:
    return {
        "name": name,
        "low": low,
        "high": high,
        "marginal": None,
        "nominal": None,
        "unit": unit,
        "rule": "simple",
        "clause": clause,
        "source": "UL 1974 §S3 [bench]",
        "limit_set": "module-lfp",
        "limit_set_version": "2.1",
        "grades": [],
        **extra,
    }


def make_run(path: Path, *, samples: int = 5000, aborted: bool = False, spike_at: int | None = None) -> Journal:
    j = Journal(path)
    roles = {
        "psu": {
            "role": "psu",
            "driver": "instruments.keysight_rp7900:KeysightRP7900",
            "resource": "sim",
            "make": "Keysight",
            "model": "RP7952A",
            "serial": "MY61230017",
            "firmware": "B.01.07",
            "calibration": CAL_OK,
        },
        "irt": {
            "role": "irt",
            "driver": "instruments.irt:InsulationTester",
            "resource": "sim",
            "make": "Fluke",
            "model": "1587 FC",
            "serial": "FL-3321",
            "firmware": "2.4",
            "calibration": CAL_OLD,
        },
        "chamber": {
            "role": "chamber",
            "driver": "instruments.watlow_f4t:WatlowF4T",
            "resource": "sim",
            "make": "Watlow",
            "model": "F4T",
            "serial": "WT-889",
            "firmware": "6.1",
            "calibration": None,
        },
    }
    dut = {
        "serial": "MOD-0042",
        "model": "EV-LFP-16S",
        "chemistry": "LFP",
        "rated_capacity": "280 A·h",
        "passport": {
            "id": "BP-DE-0042",
            "manufacturer": "OEM Cells GmbH",
            "status": "original",
            "history": {"cycles": 1420, "soh_percent": 81.5},
        },
    }
    j.start_run(
        RUN_ID,
        plan="module_intake",
        plan_version="1.3.0",
        station="sim-bench",
        station_json={
            "name": "sim-bench",
            "mode": "development",
            "site": "ESS Bench lab",
            "location": "Bay 2, battery test cell",
            "sha256": "ab" * 32,
            "roles": roles,
        },
        dut_serial="MOD-0042",
        dut_json=dut,
        operator="A. Tester",
        limits_json=[
            {
                "id": "module-lfp",
                "version": "2.1",
                "chemistry": "LFP",
                "product": "EV module",
                "sha256": "cd" * 32,
                "path": "limits/module_lfp.toml",
            }
        ],
        code_version="0.1.0+gdeadbeef1234",
        site="ESS Bench lab",
        mode="development",
        simulated=1,
    )
    j.update_run(RUN_ID, started_wall="2026-01-05T10:15:00.000Z")
    j.add_attachment(RUN_ID, "module_lfp.toml", LIMITS_TOML, kind="limit-set")
    j.add_attachment(
        RUN_ID,
        "passport.json",
        json.dumps({"passport_id": "BP-DE-0042", "grade": "B", "repurposer": {"name": "ESS Lab"}}).encode(),
        kind="application/json",
    )
    s1, s2 = (
        "test_plans/intake/test_intake.py::test_ocv_and_insulation",
        "test_plans/intake/test_intake.py::test_capacity",
    )
    j.add_event(RUN_ID, "conditions", "ambient at start", data={"temperature": "23.4 °C", "humidity": "41 %RH"}, t=0.0)
    j.start_step(
        RUN_ID,
        s1,
        "test_ocv_and_insulation",
        ["UL 1974 S3 OCV & cell balance", "UL 1974 S4 insulation"],
        "module",
        0.0,
    )
    j.add_event(
        RUN_ID,
        "prompt",
        "Module free of swelling and leaks? -> yes",
        step=s1,
        t=1.0,
        data={
            "key": "visual.ok",
            "question": "Module free of swelling and leaks?",
            "answer": "yes",
            "choices": ["yes", "no"],
            "origin": "operator",
        },
    )
    j.add_measurement(
        RUN_ID,
        step=s1,
        name="module.ocv",
        value=52.81,
        unit="V",
        verdict="PASS",
        reason="within limits",
        clause="UL 1974 S3",
        instrument="psu",
        t=2.0,
        limit_json=_limit("module.ocv", 40.0, 58.4, "V", "UL 1974 S3"),
        instrument_json=roles["psu"],
    )
    j.add_measurement(
        RUN_ID,
        step=s1,
        name="insulation.resistance",
        value=512.0,
        unit="MΩ",
        verdict="INDETERMINATE",
        reason="calibration of irt expired 2025-06-30",
        clause="UL 1974 S4",
        instrument="irt",
        t=3.0,
        uncertainty=10.0,
        limit_json=_limit("insulation.resistance", 100.0, None, "MΩ", "UL 1974 S4"),
        instrument_json=roles["irt"],
    )
    j.add_measurement(
        RUN_ID,
        step=s1,
        name="chamber.temperature",
        value=25.1,
        unit="°C",
        verdict="PASS",
        reason="within limits",
        instrument="chamber",
        t=3.5,
        limit_json=_limit("chamber.temperature", 23.0, 27.0, "°C", "bench"),
    )
    j.end_step(RUN_ID, s1, "passed", "INDETERMINATE", "", 4.0)
    j.start_step(RUN_ID, s2, "test_capacity", ["UL 1974 S5 capacity"], "module", 4.0)
    t = 4.0 + np.arange(samples, dtype=float)
    current = 10.0 + 0.5 * np.sin(t / 300.0)
    if spike_at is not None:
        current[spike_at] = 95.0
    voltage = 50.0 + 4.0 * (t - t[0]) / max(t[-1] - t[0], 1.0)
    temp = 25.0 + 6.0 * (t - t[0]) / max(t[-1] - t[0], 1.0)
    for name, unit, values in (
        ("pack.current", "A", current),
        ("pack.voltage", "V", voltage),
        ("cell.max_temperature", "°C", temp),
    ):
        j.add_samples(RUN_ID, s2, name, unit, zip(t.tolist(), values.tolist(), strict=True))
    j.flush_series()
    j.add_measurement(
        RUN_ID,
        step=s2,
        name="charge.max_current",
        value=float(current.max()),
        unit="A",
        verdict="PASS" if current.max() <= 12 else "FAIL",
        reason="max of series",
        instrument="psu",
        t=float(t[-1]),
        series="pack.current",
        aggregate="max",
        limit_json=_limit("charge.max_current", None, 12.0, "A", "UL 1974 S5"),
    )
    j.add_measurement(
        RUN_ID,
        step=s2,
        name="cell.max_temperature",
        value=float(temp.max()),
        unit="°C",
        verdict="PASS",
        reason="within limits",
        t=float(t[-1]),
        series="cell.max_temperature",
        aggregate="max",
        limit_json=_limit("cell.max_temperature", None, 45.0, "°C", "UL 1974 S5"),
    )
    j.add_measurement(
        RUN_ID,
        step=s2,
        name="module.soh",
        value=81.2,
        unit="%",
        verdict="PASS",
        grade="B",
        reason="grade B (80-90 %)",
        t=float(t[-1]),
        limit_json=_limit(
            "module.soh",
            60.0,
            None,
            "%",
            "UL 1974 S9",
            grades=[
                {"grade": "A", "low": 90.0, "high": None, "description": ""},
                {"grade": "B", "low": 80.0, "high": 90.0, "description": ""},
            ],
        ),
    )
    j.add_event(RUN_ID, "deviation", "rest before capacity shortened from 60 min to 30 min", step=s2, t=5.0)
    if aborted:
        j.add_event(
            RUN_ID,
            "interlock",
            "cell over-temperature 61 °C > 60 °C",
            step=s2,
            t=float(t[-1]),
            data={"tripped": True},
        )
        j.add_event(RUN_ID, "safe_state", "psu: output off (read back 0.0 V)", step=s2, t=float(t[-1]))
        j.end_step(RUN_ID, s2, "failed", "FAIL", "interlock trip", float(t[-1]))
        j.end_run(RUN_ID, ABORTED, "ABORTED", "interlock: cell over-temperature")
    else:
        j.end_step(RUN_ID, s2, "passed", "PASS", "", float(t[-1]))
        j.end_run(RUN_ID, COMPLETED, "INDETERMINATE")
    return j


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = make_run(tmp_path / "journal.sqlite")
    yield j
    j.close()


@pytest.fixture
def run_id() -> str:
    return RUN_ID


@pytest.fixture
def build_run() -> Callable[..., Journal]:
    """make_run, for tests that need a variant (aborted, a spike, few samples)."""
    return make_run
