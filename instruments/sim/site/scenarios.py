"""Seeded faults of the simulated site and the plan step meant to catch each.

Used by tests/site (each fault in its own test: the step meant for it fails, no other does) and
by benchmarks/site_acceptance.py (the table of fault, step, measurement, value). `run_plan`
runs test_plans/site_acceptance in a subprocess on a station that includes
stations/sim_site.toml plus the faults, the way a crew runs it (`bench run`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "sim_site.toml"
LIMITS = ROOT / "limits" / "site_acceptance_lfp_300kwh.toml"


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: list[dict[str, Any]]
    step: str  # the test function meant to catch it
    measurement: str  # the measurement that shows it
    verdict: str = "FAIL"  # FAIL, or INDETERMINATE for a point not implemented
    gate: bool = False  # a gating step: the run stops there (later steps do not run)
    role_timeout: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


SCENARIOS = [
    Scenario("pcs_slow", [{"kind": "pcs_slow", "extra_delay_s": 3.0}], "test_06_response_and_ramp", "response.delay"),
    Scenario(
        "ramp_limited",
        [{"kind": "ramp_limited", "ramp_pct_per_s": 5.0}],
        "test_06_response_and_ramp",
        "response.ramp_rate",
    ),
    Scenario(
        "block_derated",
        [{"kind": "block_derated", "block": 2, "capacity_factor": 0.6}],
        "test_04_reference_performance",
        "rpt.usable_energy",
    ),
    Scenario(
        "block_offline",
        [{"kind": "block_offline", "block": 3}],
        "test_01_communication_and_identity",
        "identity.blocks_unavailable",
        gate=True,
    ),
    Scenario("stuck_soc", [{"kind": "stuck_soc"}], "test_03_sign_conventions_and_metering", "sign.soc_rise_ratio"),
    Scenario(
        "ct_reversed",
        [{"kind": "ct_reversed"}],
        "test_03_sign_conventions_and_metering",
        "sign.power_agreement",
        gate=True,
    ),
    Scenario(
        "aux_overconsumption",
        [{"kind": "aux_overconsumption", "extra_W": 800.0}],
        "test_08_standby_loss",
        "standby.aux_energy",
    ),
    Scenario(
        "comms_drop",
        [{"kind": "comms_drop", "every_n": 10, "duration_s": 300.0}],
        "test_01_communication_and_identity",
        "comms.retried_requests",
        role_timeout="0.3 s",
    ),
    Scenario(
        "coolant_pressure_low",
        [{"kind": "coolant_pressure_low", "pressure_kPa": 120.0}],
        "test_01_communication_and_identity",
        "identity.active_alarms",
        gate=True,
    ),
    Scenario(
        "thermal_gradient",
        [{"kind": "thermal_gradient", "block": 2, "cell": 3, "delta_K": 12.0}],
        "test_01_communication_and_identity",
        "identity.active_alarms",
        gate=True,
    ),
    Scenario(
        "over_voltage",
        [{"kind": "over_voltage", "block": 1, "cell": 2, "voltage_V": 3.72}],
        "test_01_communication_and_identity",
        "identity.active_alarms",
        gate=True,
    ),
    Scenario(
        "protection_defect",
        [{"kind": "protection_defect", "function": "over_voltage", "extra_delay_s": 600.0}],
        "test_09_site_protective_functions",
        "protection.over_voltage.time_to_safe_state",
    ),
    Scenario(
        "config_differs",
        [{"kind": "setting", "point": "64901.AlmDly", "value": 2.0}],
        "test_02_configuration_as_approved",
        "config.points_differing",
    ),
    Scenario(
        "point_not_implemented",
        [{"kind": "not_implemented", "points": ["704.VarSet", "704.VarSetPct"]}],
        "test_03_sign_conventions_and_metering",
        "sign.reactive_power_error",
        verdict="INDETERMINATE",
    ),
]


def _toml_value(v: Any) -> str:
    return (
        json.dumps(v)
        if not isinstance(v, dict)
        else "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    )


def write_station(
    directory: Path, faults: list[dict[str, Any]], *, ledger: str | None = None, role_timeout: str | None = None
) -> Path:
    """A station file that includes the simulated site and adds faults (and a ledger file)."""
    lines = [
        "[station]",
        'name = "sim-site-scenario"',
        f"include = [{json.dumps(str(STATION))}]",
        "",
        "[simulation]",
        f"faults = [{', '.join(_toml_value(f) for f in faults)}]",
    ]
    if ledger:
        lines.append(f"ledger = {json.dumps(ledger)}")
    lines += [
        "",
        "[dut]",
        f"site_configuration = {json.dumps(str(STATION.parent / 'site_configs' / 'sim_site_approved.toml'))}",
    ]
    if role_timeout:
        lines += [
            "",
            "[roles.site]",
            f"timeout = {json.dumps(role_timeout)}",
            "",
            "[roles.meter]",
            f"timeout = {json.dumps(role_timeout)}",
        ]
    path = directory / "station.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_plan(
    report_dir: Path,
    station: Path,
    limits: Path = LIMITS,
    extra: list[str] | None = None,
    timeout_s: float = 900.0,
    *,
    runner: Callable[..., subprocess.CompletedProcess[str]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the site plan as `python -m pytest` in a process of its own; output captured.

    `runner(args, cwd=, env=, timeout=)` starts that process instead of `subprocess.run` (the test
    suite forks plan runs from a server with the bench already imported: tests/plan_fork.py)."""
    args = [
        str(ROOT / "test_plans" / "site_acceptance"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "-o",
        "addopts=",
        "--report-dir",
        str(report_dir),
        "--station",
        str(station),
        "--limits",
        str(limits),
        "--dut",
        "SITE-SIM-0001",
        *(extra or []),
    ]
    if runner is not None:
        return runner(args, cwd=ROOT, env=dict(os.environ), timeout=timeout_s)
    cmd = [sys.executable, "-m", "pytest", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)


def outcome(report_dir: Path) -> dict[str, Any]:
    """Steps and measurements of the (only) run in report_dir's journal."""
    from bench.journal import Journal

    j = Journal(report_dir / "journal.sqlite")
    try:
        run = j.runs(1)[0]
        steps = {s["name"]: s for s in j.steps(run["run_id"])}
        meas = j.measurements(run["run_id"])
    finally:
        j.close()
    step_of = {s["nodeid"]: s["name"] for s in steps.values()}
    bad = [(step_of.get(m["step"], m["step"]), m) for m in meas if m["verdict"] in ("FAIL", "INDETERMINATE")]
    return {"run": run, "steps": steps, "measurements": meas, "bad": bad}


def dispatch_schedule(directory: Path, days: int) -> Path:
    """`bench dispatch` for the simulated site (examples/dispatch/sim_site_battery.toml) on the first
    `days` of the example site load and tariff; returns the output folder (schedule.dutycycle.csv ...)."""
    from bench.cli import main

    examples = ROOT / "examples" / "dispatch"
    lines = (examples / "load.csv").read_text(encoding="utf-8").splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("time,"))
    load = directory / "load.csv"
    load.write_text("\n".join(lines[: head + 1 + days * 96]) + "\n", encoding="utf-8")
    out = directory / "dispatch"
    rc = main(
        [
            "dispatch",
            "--quiet",
            "--load",
            str(load),
            "--tariff",
            str(examples / "tariff.toml"),
            "--battery",
            str(examples / "sim_site_battery.toml"),
            "--out",
            str(out),
        ]
    )
    if rc != 0:
        raise RuntimeError(f"bench dispatch ended with {rc}")
    return out


def limits_replaying(directory: Path, cycle: Path) -> Path:
    """The plan's limit set with `duty.cycles` naming `cycle` (and its own id), as a crew writes it."""
    text = LIMITS.read_text(encoding="utf-8")
    start = text.index('[parameters."duty.cycles"]\nvalue = ')
    end = text.index("\n", start + len('[parameters."duty.cycles"]\n'))
    text = text[:start] + f'[parameters."duty.cycles"]\nvalue = [{json.dumps(str(cycle))}]' + text[end:]
    text = text.replace('id = "site-acceptance-lfp-300kwh"', 'id = "site-replay-dispatch"')
    path = directory / "replay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def plant_energies(ledger: dict[str, Any], t0: float, t1: float) -> tuple[float, float, float]:
    """The plant's own POI export, import and auxiliary energy (kWh) between two run times."""
    import numpy as np

    rows = np.asarray(ledger["rows"], dtype=float)
    t = rows[:, 0]
    e = [(float(np.interp(t1, t, rows[:, c])) - float(np.interp(t0, t, rows[:, c]))) / 1000.0 for c in (1, 2, 3)]
    return e[0], e[1], e[2]


def compare_with_ledger(measurements: list[dict[str, Any]], ledger: dict[str, Any]) -> tuple[list, list]:
    """(plan value, plant value) in kWh for each capacity cycle's discharge and charge energy,
    over the windows the plan recorded in its notes."""
    dis, ch = [], []
    for m in measurements:
        if m["name"] not in ("rpt.discharge_energy", "rpt.charge_energy"):
            continue
        w = re.search(r"discharge ([0-9.]+)-([0-9.]+) s, charge ([0-9.]+)-([0-9.]+) s", m["note"])
        if w is None:
            raise ValueError(f"no window in the note of {m['name']}: {m['note']!r}")
        t = [float(x) for x in w.groups()]
        if m["name"] == "rpt.discharge_energy":
            dis.append((m["value"], plant_energies(ledger, t[0], t[1])[0]))
        else:
            ch.append((m["value"], plant_energies(ledger, t[2], t[3])[1]))
    return dis, ch
