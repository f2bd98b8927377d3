"""Issue 11 items 5, 14, 16, 17: start-up problems are reported once, before any step, with file and
key; identifiers have a length and character policy; `bench run` leaves no cache in the working
folder; a failed requirement reads STOPPED / FAIL, not ABORTED."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import plan_fork

from bench.journal import STOPPED, Journal

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGS`, forked from the suite's server (tests/plan_fork.py). The cache check still
    holds: the forked `bench run` writes .pytest_cache like a fresh one unless it passes -p no:cacheprovider."""
    return plan_fork.run_bench(list(args), cwd=cwd, env=dict(os.environ) if env is None else env, timeout=300)


def test_station_error_is_reported_once_before_any_step_and_exits_non_zero(tmp_path):
    station = tmp_path / "bad.toml"
    station.write_text(
        f'[station]\nname = "bad"\ninclude = ["{ROOT / "stations" / "sim_safety.toml"}"]\n'
        '[safety]\nsafe_state_action_timeout = "abc"\n'
    )
    proc = _bench(
        "run",
        str(ROOT / "test_plans" / "safety_chain"),
        "--station",
        str(station),
        "--report-dir",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert out.count("safety.safe_state_action_timeout") == 1, out
    assert "configuration error, nothing was run" in out and "Traceback" not in out
    assert not (tmp_path / "r" / "journal.sqlite").exists() or not Journal(tmp_path / "r" / "journal.sqlite").runs()


def test_overlong_dut_serial_is_refused_at_start_with_a_clear_error(tmp_path):
    proc = _bench(
        "run",
        str(ROOT / "test_plans" / "smoke"),
        "--dut",
        "X" * 50_000,
        "--report-dir",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out[-2000:]
    assert "--dut" in out and "50000 characters" in out and "not a usable identifier" in out


def test_bench_run_leaves_no_pytest_cache_in_the_working_folder(tmp_path):
    limits = tmp_path / "short.toml"
    limits.write_text(
        (ROOT / "limits" / "smoke_lfp.toml")
        .read_text()
        .replace('value = "30 min"', 'value = "1 min"')
        .replace('value = "1 h"', 'value = "2 min"')
    )
    proc = _bench(
        "run",
        str(ROOT / "test_plans" / "smoke"),
        "--limits",
        str(limits),
        "--report-dir",
        str(tmp_path / "r"),
        "--dut",
        "CACHE-1",
        cwd=tmp_path,
    )
    assert (tmp_path / "r" / "journal.sqlite").exists(), proc.stdout[-2000:]
    assert not (tmp_path / ".pytest_cache").exists()


def test_failed_requirement_stops_the_run_as_fail_not_aborted(tmp_path):
    limits = tmp_path / "tight.toml"
    text = (ROOT / "limits" / "smoke_lfp.toml").read_text()
    # the BMS current agreement is a require(): a bound no real sensor meets stops the run early
    limits.write_text(
        text.replace(
            '[limits."discharge.bms_current_agreement"]\nmax = "2 percent"',
            '[limits."discharge.bms_current_agreement"]\nmax = "0.000001 percent"',
        )
    )
    proc = _bench(
        "run",
        str(ROOT / "test_plans" / "smoke"),
        "--limits",
        str(limits),
        "--report-dir",
        str(tmp_path / "r"),
        "--dut",
        "STOP-1",
        cwd=ROOT,
    )
    j = Journal(tmp_path / "r" / "journal.sqlite")
    run = j.runs(1)[0]
    assert run["status"] == STOPPED and run["verdict"] == "FAIL", (run, proc.stdout[-2000:])
    assert "discharge.bms_current_agreement" in run["reason"]
    kinds = [e["kind"] for e in j.events(run["run_id"])]
    assert "stop" in kinds and "abort" not in kinds
    assert "verdict: FAIL  status: STOPPED" in proc.stdout


def test_a_step_that_skips_itself_does_not_abort_the_run_and_no_pdf_is_honoured(tmp_path):
    plan = tmp_path / "plan_skip"
    plan.mkdir()
    (plan / "plan.toml").write_text(
        f'[plan]\nname = "skipper"\nversion = "1"\nstation = "{ROOT / "stations" / "sim.toml"}"\n'
        f'limits = ["{ROOT / "limits" / "smoke_lfp.toml"}"]\n'
    )
    (plan / "test_skipper.py").write_text(
        "import pytest\nfrom bench.units import Q_\n\n"
        "def test_gate(measure):\n    pytest.skip('module rejected at the gate')\n\n"
        "def test_after(measure, bms):\n    measure('bms.contactor_closed', Q_(1, ''), instrument=bms)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ESS_BENCH_NO_PDF"}  # the option alone must do it
    proc = _bench(
        "run", str(plan), "--report-dir", str(tmp_path / "r"), "--dut", "SKIP-1", "--", "--no-pdf", cwd=ROOT, env=env
    )
    j = Journal(tmp_path / "r" / "journal.sqlite")
    run = j.runs(1)[0]
    assert run["status"] == "COMPLETED" and run["verdict"] == "PASS", (run, proc.stdout[-2000:])
    outcomes = {s["name"]: s["outcome"] for s in j.steps(run["run_id"])}
    assert outcomes == {"test_gate": "skipped", "test_after": "passed"}
    folder = tmp_path / "r" / run["run_id"]
    assert (folder / "report.html").exists() and not (folder / "report.pdf").exists()
