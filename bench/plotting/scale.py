"""Linear and log scales: data range, padding, round ticks and their labels."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

MAX_TICKS = 50


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, k = [], 0
    while first + k * step <= hi + step * 1e-9 and k < MAX_TICKS:
        ticks.append(round(first + k * step, 12) + 0.0)
        k += 1
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades inside [lo, hi] (lo > 0); with fewer than two decades, 1-2-5 steps too."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mults in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        ticks = [m * 10.0**e for e in range(a, b + 1) for m in mults]
        ticks = [float(f"{t:.12g}") for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= 3 or mults[-1] == 7.0:
            return ticks[:MAX_TICKS]
    return []  # pragma: no cover - the loop returns


def tick_label(value: float, ticks: list[float], log: bool = False) -> str:
    """Tick text with just the decimals the tick step needs; a typographic minus."""
    if log:
        text = f"{value:g}"
    else:
        step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
        if step >= 1e5 or step < 1e-4:
            text = f"{value:.3g}"
        else:
            digits = f"{step:.10f}".rstrip("0").rstrip(".")
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text.replace("-", "−")


def data_range(arrays: Iterable[np.ndarray], log: bool) -> tuple[float, float] | None:
    """(min, max) of the finite values (positive ones on a log scale); None when there are none."""
    lo, hi = math.inf, -math.inf
    for a in arrays:
        a = np.asarray(a, dtype=float)
        ok = np.isfinite(a) & (a > 0) if log else np.isfinite(a)
        if ok.any():
            lo, hi = min(lo, float(a[ok].min())), max(hi, float(a[ok].max()))
    return (lo, hi) if lo <= hi else None


class Scale:
    """Data to pixels along one axis (`px0` at `lo`, `px1` at `hi`; y axes run upwards)."""

    def __init__(self, lo: float, hi: float, px0: float, px1: float, log: bool = False) -> None:
        self.lo, self.hi, self.px0, self.px1, self.log = lo, hi, px0, px1, log
        self._a, self._b = (math.log10(lo), math.log10(hi)) if log else (lo, hi)

    @classmethod
    def padded(cls, lo: float, hi: float, px0: float, px1: float, log: bool = False, pad: float = 0.06) -> Scale:
        """A scale over [lo, hi] with a margin; a flat range opens around its value."""
        if log:
            a, b = math.log10(lo), math.log10(hi)
            if b - a < 1e-9:
                a, b = a - 0.5, b + 0.5
            m = (b - a) * pad
            return cls(10 ** (a - m), 10 ** (b + m), px0, px1, log=True)
        if hi - lo <= abs(hi) * 1e-12:
            half = max(abs(hi) * 0.05, 0.5)
            lo, hi = lo - half, hi + half
        m = (hi - lo) * pad
        return cls(lo - m, hi + m, px0, px1)

    def __call__(self, v: np.ndarray | float) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
        return self.px0 + (v - self._a) / (self._b - self._a) * (self.px1 - self.px0)

    def contains(self, v: float) -> bool:
        return self.lo <= v <= self.hi and (v > 0 or not self.log)

    def ticks(self, divisor: float = 1.0) -> list[float]:
        """Tick values in display units (data / divisor)."""
        lo, hi = self.lo / divisor, self.hi / divisor
        ticks = log_ticks(lo, hi) if self.log else nice_ticks(lo, hi)
        return [t for t in ticks if lo <= t <= hi]
