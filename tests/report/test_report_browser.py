"""The HTML report opened in the system Chromium (headless): key sections in the DOM, no console errors.

Skipped when `chromium` is not on PATH (`make chromium` installs it where apt is available).
Chromium runs with networking features off and its own throw-away profile, so the test is offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.journal import Journal
from bench.report.render import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH (run `make chromium` to install it)")
SECTION_IDS = (
    "identity",
    "dut",
    "passport",
    "instruments",
    "limits",
    "conditions",
    "compliance",
    "measurements",
    "plots",
    "prompts",
    "deviations",
    "events",
    "signatures",
    "end",
)
CONSOLE_ERROR = re.compile(r"Uncaught|ERROR:CONSOLE|CONSOLE\(\d+\)|Refused to|Failed to load resource", re.IGNORECASE)


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_chromium_with_all_sections_and_no_console_errors(
    run_id: str, journal: Journal, tmp_path: Path
) -> None:
    result = render_report(journal, run_id, tmp_path / "run", pdf=False)
    url = result.html.resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in SECTION_IDS:
        assert f'id="{section}"' in dom.stdout, f"section #{section} missing from the DOM"
    assert f"END OF REPORT {result.report_id}" in dom.stdout
    assert dom.stdout.count("<svg") == 3 and "<polyline" in dom.stdout
    assert "EXPIRED" in dom.stdout and "BP-DE-0042" in dom.stdout
    errors = [line for line in dom.stderr.splitlines() if CONSOLE_ERROR.search(line)]
    assert not errors, "Chromium console errors:\n" + "\n".join(errors)

    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars", url)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000  # not a blank page
    errors = [line for line in run.stderr.splitlines() if CONSOLE_ERROR.search(line)]
    assert not errors, "Chromium console errors:\n" + "\n".join(errors)
    if os.environ.get("ESSB_SCREENSHOT"):  # for a human look: ESSB_SCREENSHOT=/tmp/shot.png pytest ...
        shutil.copyfile(shot, os.environ["ESSB_SCREENSHOT"])
