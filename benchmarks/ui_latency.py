"""Latency from a measurement's journal commit to its row appearing in the operator page.

A writer (its own journal connection, as the plan process has) commits measurements to a running
run at irregular intervals; `bench ui` serves the journal; the system Chromium (Playwright,
headless) shows the live run page, where a MutationObserver stamps each measurement row as it is
inserted. Latency = browser time of insertion - wall time right after the commit (same machine
clock). Target: <= 1 s. Prints the median, 90th percentile and maximum.

    .venv/bin/python benchmarks/ui_latency.py [--n 60]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.journal import Journal  # noqa: E402
from bench.ui.server import serve_in_background  # noqa: E402

OBSERVER = """
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes)
    if (n.dataset && n.dataset.id) window.benchSeen(Number(n.dataset.id), Date.now());
}).observe(document.querySelector('#measurements tbody'), { childList: true });
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="measurements to time (default 60)")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not on PATH (make chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="ui-latency-"))
    writer = Journal(tmp / "journal.sqlite")
    run_id = "latency-run"
    writer.start_run(run_id, plan="latency", station="bench", dut_serial="LAT-1", operator="bench")
    writer.start_step(run_id, "bench::test_latency", "test_latency", ["bench"], "module", 0.0)
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    rng = random.Random(args.seed)
    with (
        serve_in_background(tmp / "journal.sqlite", port=0, report_dir=tmp, linger_s=0) as srv,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        page = browser.new_page(bypass_csp=True)
        lock = threading.Lock()

        def on_seen(mid: int, ms: float) -> None:
            with lock:
                seen.setdefault(int(mid), ms / 1000.0)

        page.expose_function("benchSeen", on_seen)
        page.goto(f"{srv.url}runs/{run_id}")
        page.wait_for_selector("#status.s-RUNNING")
        page.evaluate(OBSERVER)
        time.sleep(1.0)  # the stream is open and idle
        for i in range(args.n):
            mid = writer.add_measurement(
                run_id,
                step="bench::test_latency",
                name=f"latency.m{i:03d}",
                value=float(i),
                unit="V",
                verdict="PASS",
                reason="benchmark",
                t=float(i),
            )
            committed[mid] = time.time()
            deadline = time.monotonic() + rng.uniform(0.05, 0.6)
            while time.monotonic() < deadline:  # keep the page's callbacks flowing while we wait
                page.wait_for_timeout(20)
        end = time.monotonic() + 5
        while len(seen) < len(committed) and time.monotonic() < end:
            page.wait_for_timeout(50)
        browser.close()
    writer.end_run(run_id, "COMPLETED", "PASS")
    writer.close()
    lat = sorted(seen[m] - committed[m] for m in committed if m in seen)
    missing = len(committed) - len(lat)
    if not lat:
        print("no measurement reached the page")
        return 1
    p90 = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
    print(f"journal commit -> row in the page, {len(lat)} measurements ({missing} missing):")
    print(
        f"  median {statistics.median(lat) * 1000:.0f} ms   p90 {p90 * 1000:.0f} ms   max {max(lat) * 1000:.0f} ms"
        f"   min {min(lat) * 1000:.0f} ms   (target <= 1000 ms; stream poll {200} ms)"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if missing == 0 and max(lat) <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
