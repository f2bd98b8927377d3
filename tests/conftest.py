"""Test-suite settings shared by every test folder.

Plan runs the tests start in subprocesses render their reports without the PDF (WeasyPrint
layout is about half the CPU of a short simulated run); the PDF itself is tested where it is
the point (tests/report, tests/signing, `make demo`), which render it explicitly.
"""

from __future__ import annotations

import os

os.environ.setdefault("ESS_BENCH_NO_PDF", "1")
