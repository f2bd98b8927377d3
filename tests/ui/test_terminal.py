"""The terminal view: a live panel under a pseudo-terminal (step names, the time-left estimate, a
prompt answered by typing at the terminal), plain lines without control characters otherwise.

The plan is the operator-view check plan (tests/ui/plan_prompted: OCV, a visual-check prompt, a
5-minute charge), not the module intake: the intake's simulated days take minutes of wall time,
too long for the suite. Both run the same plugin code.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from ui_helpers import ROOT, Proc, bench_run

from bench.journal import COMPLETED, Journal

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def _run_in_pty(args: list[str], answer_when: bytes, answer: bytes, timeout: float = 300) -> tuple[int, str]:
    """Run `args` on a 140x40 pseudo-terminal; type `answer` once `answer_when` shows up."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40", "ESS_BENCH_NO_PDF": "1"}
    proc = subprocess.Popen(args, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:  # bounded
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not answered and answer_when in out:
                os.write(master, answer)
                answered = True
            if proc.poll() is not None and not ready:
                break
        else:
            proc.kill()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
    return rc, out.decode("utf-8", "replace")


def test_live_panel_on_a_terminal_shows_steps_time_left_and_takes_the_typed_answer(tmp_path: Path) -> None:
    rc, raw = _run_in_pty(
        bench_run(tmp_path, "--prompt-wait", "120 s", dut="TTY-1"), b">>> Is the module free of damage", b"maybe\ryes\r"
    )
    text = ANSI.sub("", raw)
    assert rc == 0, text[-3000:]
    assert "\x1b[" in raw, "a terminal gets the rich panel (ANSI), not plain lines"
    # step 1 (a 10 s rest) can be over before the first redraw; the prompt step is drawn before it asks
    assert "Step 2 of 3: test_visual_check" in text and "test_open_circuit_voltage" in text
    assert "Step 3 of 3: test_charge" in text
    assert re.search(r"time left ≈ \d", text), "the time-left estimate is shown"
    assert "[bench: charge]" in text  # the clause
    assert "answer 'maybe' is not one of ['yes', 'no']" in text  # validated at the terminal too
    assert "END OF RUN" in text and "COMPLETED" in text
    j = Journal(tmp_path / "journal.sqlite")
    run = j.runs(1)[0]
    assert run["status"] == COMPLETED
    prompt = next(e for e in j.events(run["run_id"]) if e["kind"] == "prompt")["data"]
    assert (prompt["answer"], prompt["origin"], prompt["answered_by"]) == ("yes", "terminal", "Op Erator")


def test_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text('"visual.intact" = "no"\n')
    plan = Proc(bench_run(tmp_path, "--answers", str(answers), dut="LOG-1"))
    rc = plan.wait()
    out = plan.output
    assert rc == 1, out[-3000:]  # the operator found damage: visual.ok FAILs, the run completes with FAIL
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out), "control characters in the plain output"
    lines = out.splitlines()
    starts = [ln for ln in lines if " start: " in ln]
    assert [re.sub(r"^\[.*?\] ", "", ln) for ln in starts] == [
        "step 1/3 start: test_open_circuit_voltage (bench: pre-test check)",
        "step 2/3 start: test_visual_check (UL 1974:2018 §5 (visual inspection))",
        "step 3/3 start: test_charge (bench: charge)",
    ]
    assert any(re.search(r"\] pack\.ocv = 5\d\.\d+ V  PASS  limit 40 … 57\.6 V$", ln) for ln in lines), lines
    assert any(re.search(r"\] visual\.ok = 0  FAIL  limit 1 … 1", ln) for ln in lines), lines
    assert any(re.search(r"\] step 2/3 end: test_visual_check failed, verdict FAIL", ln) for ln in lines), lines
    assert any(ln.startswith("run ") and "COMPLETED, verdict FAIL" in ln for ln in lines), lines
    # each line once, in journal order: the OCV result comes after its step started and before it ended
    i_start = next(i for i, ln in enumerate(lines) if "step 1/3 start" in ln)
    i_ocv = next(i for i, ln in enumerate(lines) if "pack.ocv =" in ln)
    i_end = next(i for i, ln in enumerate(lines) if "step 1/3 end" in ln)
    assert i_start < i_ocv < i_end
    assert sum("pack.ocv =" in ln for ln in lines) == 1
