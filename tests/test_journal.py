import signal
import subprocess
import sys
import textwrap

from bench.journal import ABORTED, COMPLETED, Journal


def test_records_read_back_in_order(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.start_run("r1", plan="p", dut_serial="D1", limits_json=[{"id": "l"}])
    j.add_measurement("r1", step="s", name="a", value=1.0, unit="V", verdict="PASS", limit_json={"low": 0})
    j.add_event("r1", "note", "hello")
    j.add_samples("r1", "s", "v", "V", [(0.0, 1.0), (1.0, 2.0)])
    j.end_run("r1", COMPLETED, "PASS")
    run = j.run("r1")
    assert run["status"] == COMPLETED and run["limits"] == [{"id": "l"}]
    assert [m["name"] for m in j.measurements("r1")] == ["a"]
    assert j.series("r1", "v") == ([0.0, 1.0], [1.0, 2.0])


def test_a_run_killed_mid_plan_keeps_its_records_and_reads_back_aborted(tmp_path):
    db = tmp_path / "j.sqlite"
    script = textwrap.dedent(f"""
        import os, signal
        from bench.journal import Journal
        j = Journal({str(db)!r})
        j.start_run("killed", plan="p")
        for i in range(3):
            j.add_measurement("killed", step="s", name=f"m{{i}}", value=float(i), unit="V", verdict="PASS")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    j = Journal(db)
    run = j.run("killed")
    assert run["status"] == ABORTED and "process ended" in run["reason"]
    assert [m["name"] for m in j.measurements("killed")] == ["m0", "m1", "m2"]
    assert run["verdict"] == "ABORTED"
