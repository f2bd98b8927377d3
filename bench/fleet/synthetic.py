"""Realistic station journals built quickly through the Journal API, for the fleet tests and benchmark.

A real module-intake run takes tens of seconds of wall time; the fleet's questions (scale,
concurrency, idempotence, statistics) need hundreds of runs. These journals hold what an intake
station journals (station JSON with instruments and calibration, limit sets as attachments,
steps, measurements with limits, verdicts and grades, a grade event, telemetry series, batch ids,
a few ABORTED runs and one dead RUNNING run), written through the same public Journal methods the
session uses, so the sync reads them exactly as it reads a real journal. Seeded: the same
arguments give the same content. Values carry a per-station bias and a slow drift on purpose, so
the fleet statistics have something true to find.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.journal import ABORTED, COMPLETED, Journal

PLAN = "module_intake"
LIMIT_SET = {"id": "module-intake-lfp", "version": "1.0.0"}
LIMIT_BYTES = b'[limit_set]\nid = "module-intake-lfp"\nversion = "1.0.0"\n# synthetic copy for fleet tests\n'
DEAD_PID = 4194304 + 17  # above Linux's largest pid: never a live process
# name, unit, low, high, mean, sd, grade bands (grade, low, high)
MEASURES: list[tuple[str, str, float | None, float | None, float, float, list[tuple[str, float, float]]]] = [
    ("ocv.module", "V", 32.0, 58.4, 52.8, 0.4, []),
    ("ocv.cell_spread", "mV", None, 100.0, 28.0, 12.0, [("A", 0, 50), ("B", 50, 100), ("recycle", 100, 5000)]),
    ("insulation.resistance_500V", "Mohm", 1.0, None, 450.0, 120.0, [("recycle", 0, 1), ("A", 1, 1e7)]),
    ("capacity.soh", "%", 60.0, None, 81.0, 8.0, [("recycle", 0, 60), ("C", 60, 70), ("B", 70, 80), ("A", 80, 200)]),
    ("dcir.resistance", "mohm", 0.0, 3.0, 1.20, 0.12, []),
    ("self_discharge.cell_rate", "mV/day", None, 3.0, 0.45, 0.2, []),
]
GRADE_ORDER = ["A", "B", "C", "quarantine", "recycle"]
ROUTES = {
    "A": "grid-scale or C&I energy storage",
    "B": "community / residential storage",
    "C": "telecom or UPS backup (low duty)",
    "recycle": "recycling",
    "quarantine": "hold: re-test",
}
STEPS = [
    "test_01_history",
    "test_03_ocv",
    "test_04_insulation",
    "test_05_capacity",
    "test_06_dcir",
    "test_07_self_discharge",
    "test_09_grade",
]


@dataclass(frozen=True)
class StationSpec:
    name: str
    index: int
    bias: float  # added to dcir.resistance (mohm): a station that reads high
    drift_per_day: float  # added to dcir.resistance per day since the first run


def station_json(spec: StationSpec, now: dt.date) -> dict[str, Any]:
    """What BenchSession journals as station_json: roles with instrument identity and calibration."""

    def cal(role: str, days: int) -> dict[str, Any]:
        return {
            "certificate": f"CAL-{spec.name}-{role}",
            "due": (now + dt.timedelta(days=days)).isoformat(),
            "lab": "accredited lab",
        }

    # station 0's DMM has expired, station 1's is due within a month, the rest are fine
    dmm_days = -10 if spec.index == 0 else 20 if spec.index == 1 else 200 + spec.index
    roles = {
        "psu": {
            "role": "psu",
            "make": "Keysight",
            "model": "RP7952A",
            "serial": f"MY{61230000 + spec.index}",
            "driver": "instruments.keysight_rp7900:KeysightRP7900",
            "resource": "TCPIP0::10.0.0.2::5025::SOCKET",
            "firmware": "B.01.07",
            "calibration": cal("psu", 300),
        },
        "dmm": {
            "role": "dmm",
            "make": "Keysight",
            "model": "34465A",
            "serial": f"MY{59000000 + spec.index}",
            "driver": "instruments.keysight_34465a:Keysight34465A",
            "resource": "TCPIP0::10.0.0.3::5025::SOCKET",
            "firmware": "A.03.02",
            "calibration": cal("dmm", dmm_days),
        },
        "bms_can": {
            "role": "bms_can",
            "make": "Fraunhofer IISB",
            "model": "foxBMS 2",
            "serial": "FB2-0001",
            "driver": "instruments.foxbms_can:FoxBmsCan",
            "resource": "can0",
            "firmware": "1.11.0",
            "calibration": None,
        },
    }
    return {
        "name": spec.name,
        "mode": "production",
        "site": "repurposing plant",
        "location": f"line {spec.index}",
        "files": [f"stations/{spec.name}.toml"],
        "sha256": f"{spec.index:064x}",
        "simulated": False,
        "roles": roles,
    }


def _limit(
    name: str, unit: str, low: float | None, high: float | None, grades: list[tuple[str, float, float]]
) -> dict[str, Any]:
    """As the recorder journals a limit (and record.schema.json requires it)."""
    return {
        "clause": "UL 1974 (derived)",
        "grades": [{"description": "", "grade": g, "high": float(hi), "low": float(lo)} for g, lo, hi in grades],
        "high": high,
        "limit_set": LIMIT_SET["id"],
        "limit_set_version": LIMIT_SET["version"],
        "low": low,
        "marginal": None,
        "name": name,
        "nominal": None,
        "rule": "simple",
        "source": "synthetic",
        "unit": unit,
    }


def _verdict(value: float, low: float | None, high: float | None) -> str:
    if (low is not None and value < low) or (high is not None and value > high):
        return "FAIL"
    return "PASS"


def _grade(value: float, bands: list[tuple[str, float, float]]) -> str | None:
    for g, lo, hi in bands:
        if lo <= value < hi:
            return g
    return None


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_journal(
    report_dir: Path,
    spec: StationSpec,
    runs: int,
    *,
    seed: int = 1,
    samples: int = 300,
    batch_size: int = 10,
    start: dt.datetime | None = None,
    aborted_every: int = 23,
    leave_dead_running: bool = True,
) -> list[str]:
    """Append `runs` intake runs to report_dir/journal.sqlite; returns their run ids."""
    rng = random.Random(seed * 1000 + spec.index)
    start = start or dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)
    journal = Journal(report_dir / "journal.sqlite", synchronous="OFF", series_flush=5000)
    sjson = station_json(spec, start.date() + dt.timedelta(days=60))
    ids: list[str] = []
    try:
        for n in range(runs):
            t0 = start + dt.timedelta(hours=6 * n + spec.index * 0.25)
            day = (t0 - start).total_seconds() / 86400
            serial = f"MOD-{spec.index:02d}-{n:04d}"
            run_id = f"{t0:%Y%m%dT%H%M%SZ}-{serial}-{spec.index:02x}{n % 256:02x}"
            batch = f"B{t0:%Y%m%d}-{spec.name}-{n // batch_size:03d}"
            journal.start_run(
                run_id,
                plan=PLAN,
                plan_version="2.0.0",
                station=spec.name,
                station_json=sjson,
                dut_serial=serial,
                dut_json={"serial": serial, "chemistry": "LFP", "oem": "CATL"},
                operator=f"op{spec.index % 3}",
                limits_json=[{**LIMIT_SET, "sha256": "0" * 64}],
                code_version="0.1.0+synthetic",
                site="repurposing plant",
                mode="production",
                simulated=0,
                batch_id=batch,
                started_wall=_iso(t0),
            )
            journal.add_attachment(run_id, "module_intake_lfp.toml", LIMIT_BYTES, kind="limit-set")
            aborted = aborted_every > 0 and n % aborted_every == aborted_every - 1
            grades: list[tuple[str, str, float]] = []
            t = 0.0
            for k, step in enumerate(STEPS):
                nodeid = f"test_plans/module_intake/test_intake.py::{step}"
                journal.start_step(run_id, nodeid, step, ["UL 1974 (derived)"], "module", t)
                if 1 <= k <= len(MEASURES):
                    name, unit, low, high, mean, sd, bands = MEASURES[k - 1]
                    value = rng.gauss(mean, sd)
                    if name == "dcir.resistance":
                        value += spec.bias + spec.drift_per_day * day
                    value = max(value, 0.0)
                    grade = _grade(value, bands)
                    if grade:
                        grades.append((grade, name, value))
                    journal.add_measurement(
                        run_id,
                        step=nodeid,
                        name=name,
                        value=round(value, 6),
                        unit=unit,
                        uncertainty=None,
                        limit_json=_limit(name, unit, low, high, bands),
                        verdict=_verdict(value, low, high),
                        reason="within limits",
                        grade=grade,
                        clause="UL 1974 (derived)",
                        instrument="dmm",
                        instrument_json=sjson["roles"]["dmm"],
                        t=t + 1.0,
                        wall=_iso(t0 + dt.timedelta(seconds=t + 1)),
                        required=0,
                        note=None,
                    )
                    journal.add_samples(
                        run_id,
                        nodeid,
                        f"{name}.trace",
                        unit,
                        [(t + i, round(value + rng.gauss(0, sd / 10), 6)) for i in range(samples // len(MEASURES))],
                    )
                journal.add_event(run_id, "step", f"{step} done", step=nodeid, data={"k": k}, t=t + 2)
                if aborted and k == 3:
                    journal.add_event(run_id, "abort", f"step {step} stopped: simulated trip", step=nodeid)
                    journal.end_step(run_id, nodeid, "failed", "FAIL", "interlock trip", t + 3)
                    break
                if step == "test_09_grade":
                    worst = max(grades, key=lambda g: GRADE_ORDER.index(g[0])) if grades else ("quarantine", "", 0.0)
                    journal.add_event(
                        run_id,
                        "grade",
                        f"grade {worst[0]}",
                        step=nodeid,
                        data={
                            "grade": worst[0],
                            "route": ROUTES[worst[0]],
                            "rule": f"R {worst[1]}",
                            "measurement": worst[1],
                            "value": f"{worst[2]:.4g}",
                            "reason": "synthetic",
                        },
                    )
                journal.end_step(run_id, nodeid, "passed", "PASS", "", t + 3)
                t += 3600.0
            if aborted:
                journal.end_run(run_id, ABORTED, "ABORTED", "interlock trip (synthetic)")
            else:
                journal.end_run(run_id, COMPLETED, "PASS")
            journal.update_run(run_id, ended_wall=_iso(t0 + dt.timedelta(seconds=t)))
            journal.add_attachment(
                run_id, "passport.json", json.dumps({"serial": serial}).encode(), kind="application/json"
            )
            ids.append(run_id)
        if leave_dead_running and runs:
            t0 = start + dt.timedelta(hours=6 * runs + spec.index * 0.25)
            run_id = f"{t0:%Y%m%dT%H%M%SZ}-MOD-{spec.index:02d}-DEAD-ffff"
            journal.start_run(
                run_id,
                plan=PLAN,
                plan_version="2.0.0",
                station=spec.name,
                station_json=sjson,
                dut_serial=f"MOD-{spec.index:02d}-DEAD",
                simulated=0,
                started_wall=_iso(t0),
            )
            journal.update_run(run_id, pid=DEAD_PID)  # its process is gone: reads back ABORTED
            ids.append(run_id)
    finally:
        journal.close()
    return ids
