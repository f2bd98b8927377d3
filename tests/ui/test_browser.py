"""The operator page in real headless Chromium (Playwright driving the system Chromium, offline):
a prompt answered in the page lets the plan run on to COMPLETED and the report link appears; an
abort pressed in the page takes the safe-state path and the run ends ABORTED — in a `bench ui`
process other than the one running the plan."""

from __future__ import annotations

import re
from pathlib import Path

from ui_helpers import URL, Proc, bench_run, shot_dir, wait_run

from bench.journal import ABORTED, COMPLETED, Journal

TIMEOUT_MS = 120_000


def test_prompt_answered_in_the_page_lets_the_run_complete_and_links_the_report(
    tmp_path: Path, procs: list[Proc], browser
) -> None:
    plan = Proc(bench_run(tmp_path, "--ui", "--ui-port", "0", "--prompt-wait", "300 s", dut="UI-PROMPT"))
    procs.append(plan)
    url = plan.wait_for(URL).group(1)
    run_id = wait_run(tmp_path / "journal.sqlite")
    shots = shot_dir(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.locator(f'#runs tr[data-run="{run_id}"] a').first.click()
    page.wait_for_selector('#steps tr[data-nodeid$="test_open_circuit_voltage"]', timeout=TIMEOUT_MS)
    form = page.wait_for_selector('#prompts form.prompt[data-key="visual.intact"]', timeout=TIMEOUT_MS)
    assert "free of damage" in form.inner_text()
    assert "Step 2 of 3" in page.inner_text("#current-step")
    page.screenshot(path=str(shots / "ui-prompt.png"), full_page=True)
    # no name: refused in the page, nothing sent
    page.select_option('#prompts form.prompt[data-key="visual.intact"] select.answer', "yes")
    page.click('#prompts form.prompt[data-key="visual.intact"] button.submit')
    assert "enter your name" in page.inner_text('#prompts form.prompt[data-key="visual.intact"] .err')
    page.fill("#who", "Tess Tester")
    page.click('#prompts form.prompt[data-key="visual.intact"] button.submit')
    page.wait_for_selector('#steps tr[data-nodeid$="test_charge"]', timeout=TIMEOUT_MS)
    page.wait_for_selector("#status.s-COMPLETED", timeout=TIMEOUT_MS)
    link = page.wait_for_selector("#report", timeout=TIMEOUT_MS)
    assert link.get_attribute("href") == f"/reports/{run_id}/report.html"
    report = page.request.get(url.rstrip("/") + link.get_attribute("href"))  # served while bench run lingers
    assert report.ok and "END OF REPORT" in report.text()
    page.wait_for_selector('#plots figure[data-series="pack.voltage"] svg polyline', timeout=TIMEOUT_MS)
    page.screenshot(path=str(shots / "ui-completed.png"), full_page=True)
    assert page.locator('#measurements tr[data-name="visual.ok"] .verdict').inner_text() == "PASS"
    assert not errors, errors
    assert plan.wait() == 0, plan.output[-3000:]
    j = Journal(tmp_path / "journal.sqlite")
    assert j.run(run_id)["status"] == COMPLETED
    answers = [e for e in j.events(run_id) if e["kind"] == "prompt"]
    assert len(answers) == 1, "the answer is journalled once"
    data = answers[0]["data"]
    assert (data["key"], data["answer"], data["answered_by"]) == ("visual.intact", "yes", "Tess Tester")
    assert data["origin"] == "bench ui (127.0.0.1)"
    # the plain lines of the same run (stdout is a pipe): the prompt and its answer, no control characters
    assert "PROMPT visual.intact: Is the module free of damage" in plan.output
    assert "ANSWER visual.intact: yes by Tess Tester (bench ui (127.0.0.1))" in plan.output


def test_abort_pressed_in_the_page_drives_the_safe_state_and_ends_aborted(
    tmp_path: Path, procs: list[Proc], browser
) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text('"visual.intact" = "yes"\n')
    plan = Proc(bench_run(tmp_path, "--answers", str(answers), dut="UI-ABORT", limits="limits_long.toml"))
    procs.append(plan)
    run_id = wait_run(tmp_path / "journal.sqlite")
    ui = Proc([*bench_run(tmp_path)[:3], "ui", "--report-dir", str(tmp_path), "--port", "0"])
    procs.append(ui)
    url = ui.wait_for(URL).group(1)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{url}runs/{run_id}")
    page.wait_for_selector('#steps tr.state-running[data-nodeid$="test_charge"]', timeout=TIMEOUT_MS)
    page.wait_for_selector("#interlocks tbody tr td:has-text('cell_voltage max')", timeout=TIMEOUT_MS)
    page.wait_for_selector('#plots figure[data-series="pack.voltage"] svg polyline', timeout=TIMEOUT_MS)
    assert "time left" in page.inner_text("#times")
    page.screenshot(path=str(shots_of(tmp_path) / "ui-running.png"), full_page=True)
    page.fill("#who", "Ada Abort")
    page.fill("#abort-reason", "smoke seen near the rack")
    page.on("dialog", lambda d: d.accept())
    page.click("#abort")
    page.wait_for_selector("#status.s-ABORTED", timeout=TIMEOUT_MS)
    page.wait_for_selector("#report", timeout=TIMEOUT_MS)
    banner = page.inner_text("#banner")
    assert banner.startswith("ABORTED") and "Ada Abort" in banner
    safe = page.locator("#safe-state li").all_inner_texts()
    assert any("psu: output off" in s for s in safe), safe
    page.screenshot(path=str(shots_of(tmp_path) / "ui-aborted.png"), full_page=True)
    assert plan.wait() != 0  # interrupted, as after Ctrl-C
    j = Journal(tmp_path / "journal.sqlite")
    run = j.run(run_id)
    assert run["status"] == ABORTED and "abort requested by Ada Abort" in run["reason"]
    kinds = [e["kind"] for e in j.events(run_id)]
    assert kinds.index("abort_request") < kinds.index("safe_state")
    request = next(e for e in j.events(run_id) if e["kind"] == "abort_request")["data"]["request"]
    assert request["requested_by"] == "Ada Abort" and request["reason"] == "smoke seen near the rack"
    assert j.last_t(run_id) < 86400, "the day-long charge was cut short"
    assert "cut short" in page.locator('#steps tr[data-nodeid$="test_charge"] .state').inner_text()
    assert (tmp_path / run_id / "report.html").exists()
    out = plan.output
    assert "step 3/3 start: test_charge (bench: charge)" in out
    assert "ABORT REQUEST: abort requested by Ada Abort (bench ui (127.0.0.1)): smoke seen near the rack" in out
    assert re.search(rf"run {run_id} ABORTED, verdict ABORTED", out)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out), "control characters in the plain output"


def shots_of(tmp_path: Path) -> Path:
    return shot_dir(tmp_path)
