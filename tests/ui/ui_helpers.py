"""Helpers for the operator-view tests (fixtures re-exported by conftest.py): run the check plan in its own process, start `bench ui`,
open the system Chromium through Playwright (no browser download; skipped when either is missing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
PLAN = Path(__file__).with_name("plan_prompted")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
URL = re.compile(r"bench ui: (http://\S+)")
SHOTS = os.environ.get("BENCH_UI_SHOTS")  # folder to keep the screenshots in (they go to tmp_path otherwise)


class Proc:
    """A child process whose output is collected by a thread (so a full pipe never blocks it)."""

    def __init__(self, args: list[str], **kw: Any) -> None:
        env = {**os.environ, "ESS_BENCH_NO_PDF": "1"}  # the report's HTML is what the page links; no PDF CPU
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            **kw,
        )
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # bounded
            for line in list(self.lines):
                m = pattern.search(line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._t.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern.pattern!r}; output:\n{self.output[-3000:]}")

    def wait(self, timeout: float = 300) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._t.join(timeout=5)
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def bench_run(report_dir: Path, *extra: str, dut: str = "UI-1", limits: str = "limits.toml") -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench",
        "run",
        str(PLAN / "plan_steps.py"),
        "--report-dir",
        str(report_dir),
        "--dut",
        dut,
        "--operator",
        "Op Erator",
        "--limits",
        str(PLAN / limits),
        *extra,
    ]


def wait_run(journal_path: Path, timeout: float = 120) -> str:
    """The run id once the plan process has opened its run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded
        if journal_path.exists():
            runs = Journal(journal_path).runs(1)
            if runs:
                return str(runs[0]["run_id"])
        time.sleep(0.1)
    raise AssertionError(f"no run opened in {journal_path}")


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Every child process a test starts; all stopped at the end, whatever happened."""
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium not on PATH (run `make chromium` to install it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        try:
            yield b
        finally:
            b.close()


def shot_dir(tmp_path: Path) -> Path:
    d = Path(SHOTS) if SHOTS else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    return d
