"""Benchmark: bench.plotting drawing large traces (the report's series plots, the captured cell bands).

Target: a 1,000,000-sample line in < 0.5 s and < 100 kB of SVG (min/max-decimated to <= 2,000 points).
Prints per figure kind: samples in, points drawn, SVG bytes, best of 3 wall seconds.
Usage: `.venv/bin/python benchmarks/plotting.py [--samples N]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.plotting import Axis, Figure, Histogram, Level, Marker, Trace, render  # noqa: E402

TARGET_S = 0.5
TARGET_BYTES = 100_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=1_000_000)
    n = ap.parse_args().samples
    rng = np.random.default_rng(1)
    t = np.arange(n) * 0.1
    v = 3.3 + rng.normal(0, 0.01, n)
    v[rng.integers(0, n, 50)] = np.nan  # gaps
    x = np.arange(0.0, n / 10, 1.0)  # 1 s summaries for the band
    lo, hi = 3.25 + rng.normal(0, 0.01, x.size), 3.35 + rng.normal(0, 0.01, x.size)
    figures = {
        "line": Figure(
            "line",
            Axis("run time", "s", readable_time=True),
            Axis("v", "V"),
            [Trace(t, v)],
            levels=[Level(3.4, "max ≤ 3.4 V")],
        ),
        "line in mV on a V axis": Figure(
            "mV", Axis("run time", "s", readable_time=True), Axis("v", "V"), [Trace(t, v * 1000, y_unit="mV")]
        ),
        "band + mean + envelope": Figure(
            "cells",
            Axis("run time", "s", readable_time=True),
            Axis("cell", "V"),
            [Trace(x, lo, hi, kind="band"), Trace(x, (lo + hi) / 2), Trace(x, lo - 0.01, hi + 0.01, kind="envelope")],
            markers=[Marker(float(x[x.size // 2]), "flag")],
        ),
        "step": Figure("cmd", Axis("time", "s"), Axis("p", "kW"), [Trace(t[::100], v[::100], kind="step")]),
        "histogram 10,000 bins": Histogram(
            "h", np.linspace(0, 1, 10_001), rng.random(10_000), Axis("x"), Axis("fraction")
        ),
    }
    ok = True
    print(f"{'figure':<26} {'samples':>10} {'points':>7} {'SVG bytes':>10} {'best of 3 s':>12}")
    for name, fig in figures.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            r = render(fig)
            best = min(best, time.perf_counter() - start)
        samples = sum(np.asarray(tr.x).size for tr in getattr(fig, "traces", [])) or np.asarray(fig.values).size
        print(f"{name:<26} {samples:>10,} {r.points:>7,} {len(r.svg):>10,} {best:>12.3f}")
        if name == "line":
            ok = best < TARGET_S and len(r.svg) < TARGET_BYTES
    print(f"target: a {n:,}-sample line in < {TARGET_S} s and < {TARGET_BYTES:,} bytes: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
