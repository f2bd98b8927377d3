"""Test-suite settings shared by every test folder.

Plan runs the tests start in subprocesses render their reports without the PDF (WeasyPrint
layout is about half the CPU of a short simulated run); the PDF itself is tested where it is
the point (tests/report, tests/signing, `make demo`), which render it explicitly.
"""

from __future__ import annotations

import os

os.environ.setdefault("ESS_BENCH_NO_PDF", "1")

# The modules that each cost minutes of CPU (whole simulated plans, run in parallel inside the
# test) go first, so the parallel workers start them at once and end together instead of one
# worker finishing the longest alone; everything else keeps its order.
LONG_FIRST = (
    "tests/safety/test_safety_interruptions.py",
    "tests/safety/test_safety_chain_faults.py",
    "tests/intake/test_intake_sweep.py",
    "tests/site/test_site_plan.py",
    "tests/intake/test_intake_batch.py",
    "tests/intake/test_intake_quarantine.py",
    "tests/site/test_site_resume.py",
    "tests/plans/test_resume.py",
    "tests/fleet/test_fleet_run_end.py",
)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest hook
    rank = {path: i for i, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONG_FIRST)))
