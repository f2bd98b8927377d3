"""Test-suite settings shared by every test folder.

Plan runs the tests start in subprocesses render their reports without the PDF (WeasyPrint
layout is about half the CPU of a short simulated run); the PDF itself is tested where it is
the point (tests/report, tests/signing, `make demo`), which render it explicitly.
"""

from __future__ import annotations

import os

os.environ.setdefault("ESS_BENCH_NO_PDF", "1")

# The modules that each cost most (whole simulated plans, several run in parallel inside the test),
# longest first, so the parallel workers start them at once and end together instead of one worker
# finishing the longest alone; everything else keeps its order. `make test` passes
# --no-loadscope-reorder, or pytest-xdist would hand modules out by their number of tests instead
# (it started the one-test interruption sweep last).
LONG_FIRST = (
    "tests/safety/test_safety_interruptions.py",
    "tests/safety/test_safety_chain_faults.py",
    "tests/site/test_site_plan.py",
    "tests/intake/test_intake_sweep.py",
    "tests/intake/test_intake_batch.py",
    "tests/intake/test_intake_quarantine.py",
    "tests/ui/test_browser.py",
    "tests/plans/test_resume.py",
    "tests/test_loader_fuzz.py",
    "tests/site/test_site_resume.py",
    "tests/fleet/test_fleet_run_end.py",
    "tests/plans/test_run_startup_errors.py",
    "tests/telemetry/test_detectors.py",
    "tests/analyze/test_ground_truth.py",
    "tests/signing/test_signing_pdf.py",
)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest hook
    rank = {path: i for i, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONG_FIRST)))
