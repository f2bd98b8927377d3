"""Running the safety-chain plan in a process of its own per case and reading back what it journalled.

A case is a station file that includes one of the shipped safety stations and adds a fault or a
changed BMS setting; the plan runs as `bench run` would run it (pytest with the plugin, no PDF:
the tests judge the journal), in a process forked from the suite's plan server (tests/plan_fork.py),
and the outcome is read through the Journal's public methods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plan_fork

from bench.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
PLAN = "test_plans/safety_chain"
STEP = "test_plans/safety_chain/test_safety_chain.py::"
BASES = {"lfp": "sim_safety.toml", "nmc": "sim_safety_nmc.toml", "operator": "sim_safety_operator.toml"}
LIMITS = {"lfp": "safety_chain_lfp.toml", "nmc": "safety_chain_nmc.toml", "operator": "safety_chain_lfp.toml"}


@dataclass(frozen=True)
class Case:
    """One run: what the station adds, and where the plan must catch it.

    `step`: the first step that must fail, None for none; `also`: later steps that must fail too
    (no others may). `status`: the run status. `failed`: measurements that must FAIL (all in those
    steps). `interlock`: a bench trip expected.
    """

    extra: str = ""
    step: str | None = None
    status: str = "COMPLETED"
    failed: tuple[str, ...] = ()
    interlock: str | None = None
    base: str = "lfp"
    also: tuple[str, ...] = ()

    def failing_steps(self) -> list[str]:
        return [STEP + s for s in ((self.step,) if self.step else ()) + self.also]


def station_file(tmp: Path, name: str, case: Case) -> Path:
    base = (ROOT / "stations" / BASES[case.base]).as_posix()
    body = f'[station]\nname = "sim-safety-{name.replace("_", "-")}"\ninclude = ["{base}"]\n\n[simulation]\n'
    if case.extra.startswith("faults"):
        body += case.extra + "\n"
    elif case.extra:
        body += "\n" + case.extra + "\n"
    path = tmp / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def run_case(name: str, case: Case, tmp: Path) -> dict[str, Any]:
    """Run the plan for one case; return its journalled outcome."""
    work = tmp / name
    work.mkdir()
    station = station_file(work, name, case)
    args = [
        "-q",
        PLAN,
        "--station",
        str(station),
        "--report-dir",
        str(work),
        "--limits",
        str(ROOT / "limits" / LIMITS[case.base]),
        "--no-pdf",
        "-p",
        "no:randomly",
    ]
    proc = plan_fork.run(args, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=900)
    out = proc.stdout + proc.stderr
    journal = Journal(work / "journal.sqlite")
    try:
        run = journal.runs(limit=1)[0]
        run_id = run["run_id"]
        steps = {s["nodeid"]: (s["outcome"], s["verdict"]) for s in journal.steps(run_id)}
        measurements = journal.measurements(run_id)
        events = journal.events(run_id)
    finally:
        journal.close()
    trips = [e for e in events if e["kind"] == "interlock" and e["data"].get("tripped")]
    return {
        "name": name,
        "status": run["status"],
        "verdict": run["verdict"],
        "reason": run["reason"],
        "steps": steps,
        "measurements": [(m["name"], m["step"], m["verdict"], m["value"], m["note"]) for m in measurements],
        "failed": {m["name"]: m["step"] for m in measurements if m["verdict"] == "FAIL"},
        "trips": trips,
        "events": [(e["kind"], e["message"], e["data"]) for e in events],
        "safe": [e["message"] for e in events if e["kind"] in ("safe_state", "safe_state_failed")],
        "internal_error": "INTERNALERROR" in out,
        "summary": "ESS Bench" in proc.stdout,
        "out": out[-3000:],
    }
