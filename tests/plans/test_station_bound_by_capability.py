"""Roles are bound to plan fixtures by capability: a station with two supplies under other names and
its BMS on Modbus only (no CAN) runs the unchanged smoke plan (issue 13 item 2)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import plan_fork

from bench.journal import COMPLETED, Journal

ROOT = Path(__file__).resolve().parents[2]


def _role(base: str, name: str) -> str:
    body = re.search(rf"\[roles\.{name}\]\n(.*?)(?=\n\[|\Z)", base, re.S)
    assert body, name
    return re.sub(r'resource = ".*"', 'resource = "sim"', body.group(1)).strip()


def _station(tmp_path: Path) -> Path:
    base = (ROOT / "stations" / "lab_base.toml").read_text()
    text = (
        '[station]\nname = "two-supplies"\nsite = "ESS Bench lab"\n\n'
        '[simulation]\npreset = "lfp_16s5p"\nseed = 7\nmax_step = "1 s"\n\n'
        '[simulation.prompts]\n"visual.ok" = "yes"\n'
    )
    roles = [("supply_main", "psu"), ("supply_aux", "psu"), ("load", "load"), ("dmm", "dmm"), ("chamber", "chamber")]
    for new, old in [*roles, ("bms_gateway", "bms_modbus")]:
        body = _role(base, old)
        if new == "supply_aux":
            body = body.replace('serial = "MY61230017"', 'serial = "MY61230018"')
        text += f"\n[roles.{new}]\n{body}\n"
    path = tmp_path / "two_supplies.toml"
    path.write_text(text)
    return path


def test_two_supplies_and_a_modbus_only_bms_run_the_smoke_plan_unchanged(tmp_path: Path) -> None:
    station = _station(tmp_path)
    args = [str(ROOT / "test_plans" / "smoke"), "-q", "-p", "no:cacheprovider",
            "--rootdir", str(ROOT), "-o", "addopts=", "--report-dir", str(tmp_path), "--dut", "T-2",
            "--station", str(station)]  # fmt: skip
    proc = plan_fork.run(args, cwd=ROOT, env=dict(os.environ), timeout=300)  # python -m pytest ARGS
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    j = Journal(tmp_path / "journal.sqlite")
    run = j.runs(1)[0]
    assert run["status"] == COMPLETED and run["verdict"] == "PASS"
    bound = [e for e in j.events(run["run_id"]) if e["kind"] == "bindings"][0]["data"]["fixtures"]
    j.close()
    assert bound["psu"] == ["supply_main", "supply_aux"] and bound["bms"] == ["bms_gateway"]
