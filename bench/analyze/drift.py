"""Clock drift of a BMS without time sync, found from the daily pattern and corrected.

A PV-charged battery starts charging, and has its charge centroid, at about the same solar time
every day; a clock that gains or loses seconds moves that event linearly across the days. We fit
event-time-of-day = a + b * day (+ annual harmonics on logs spanning two years or more, because
sunrise and the equation of time move with the seasons), robustly, and take b as the drift rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pint
import polars as pl

from bench.analyze.groups import DAY_US, Days
from bench.units import Q_

__all__ = ["DAY_US", "Days", "DriftResult", "correct", "estimate", "to_local"]


@dataclass
class DriftResult:
    """Estimated drift and the evidence behind it; `applied` says whether timestamps were corrected."""

    event: str
    rate: pint.Quantity  # s/day the BMS clock gains (positive) or loses
    rate_stderr: pint.Quantity
    total: pint.Quantity  # over the whole log
    n_days: int
    n_used: int
    model: str
    residual_std: pint.Quantity
    significant: bool
    applied: bool
    anchor_us: int
    reason: str
    evidence: pl.DataFrame = field(default_factory=pl.DataFrame)  # day, event_s, fitted_s, used


def to_local(t_us: np.ndarray, timezone: str | None) -> np.ndarray:
    """Wall-clock µs in `timezone` for cutting days; naive logs are already wall clock."""
    if not timezone:
        return t_us
    s = pl.from_epoch(pl.Series(t_us), time_unit="us").dt.replace_time_zone("UTC")
    return s.dt.convert_time_zone(timezone).dt.replace_time_zone(None).dt.epoch("us").to_numpy()


def daily_events(
    local_us: np.ndarray,
    current: np.ndarray,
    w_s: np.ndarray,
    rest_a: float,
    min_ah: float,
    event: str,
    days: Days | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day numbers, event time of day in s, charge Ah that day) for days with enough charging."""
    days = Days(local_us) if days is None else days
    chg = current > rest_a
    w = np.multiply(current, w_s)
    w[~chg] = 0.0
    n = days.n
    sw = days.sum(w)
    ah = sw / 3600.0
    if event == "charge_start":
        idx = np.flatnonzero(chg & (w_s > 0))
        ev = np.full(n, np.nan)
        if idx.size:
            di = days.day_of(idx)
            first = np.concatenate([[0], np.flatnonzero(np.diff(di)) + 1])
            if np.any(np.diff(di) < 0):
                _, first = np.unique(di, return_index=True)
            ev[di[first]] = days.time_of_day_s(idx[first])
    else:
        # sum(w * time of day) per day, from time since the first midnight minus each day's start
        rel = local_us - days.d0 * DAY_US
        w *= rel
        del rel
        swt = (days.sum(w) - np.arange(n) * float(DAY_US) * sw) / 1e6
        with np.errstate(invalid="ignore", divide="ignore"):
            ev = swt / sw
    ok = (ah >= min_ah) & np.isfinite(ev)
    sel = np.flatnonzero(ok)
    return sel + days.d0, ev[ok], ah[ok]


def _design(x: np.ndarray, harmonics: int) -> np.ndarray:
    cols = [np.ones_like(x), x]
    for k in range(1, harmonics + 1):
        w = 2 * np.pi * k * x / 365.2422
        cols += [np.sin(w), np.cos(w)]
    return np.column_stack(cols)


def fit_drift(days: np.ndarray, event_s: np.ndarray, *, harmonics: int | None = None) -> dict:
    """Robust least squares (iterated 4-sigma clipping on the MAD); slope in s/day with its std error."""
    x = (days - days[0]).astype(float)
    span = float(x[-1]) if x.size else 0.0
    if harmonics is None:
        harmonics = 2 if span >= 730 else 0
    a = _design(x, harmonics)
    used = np.ones(len(x), bool)
    coef = np.zeros(a.shape[1])
    for _ in range(6):
        coef, *_ = np.linalg.lstsq(a[used], event_s[used], rcond=None)
        r = event_s - a @ coef
        sigma = 1.4826 * np.median(np.abs(r[used] - np.median(r[used])))
        new = np.abs(r) <= max(4 * sigma, 1.0)
        if np.array_equal(new, used) or new.sum() < a.shape[1] + 2:
            break
        used = new
    r = event_s - a @ coef
    dof = max(int(used.sum()) - a.shape[1], 1)
    s2 = float((r[used] ** 2).sum() / dof)
    cov = s2 * np.linalg.pinv(a[used].T @ a[used])
    return {
        "slope": float(coef[1]),
        "stderr": float(np.sqrt(max(cov[1, 1], 0.0))),
        "fitted": a @ coef,
        "used": used,
        "residual_std": float(np.sqrt(s2)),
        "harmonics": harmonics,
        "span_days": span,
    }


def estimate(
    t_us: np.ndarray,
    local_us: np.ndarray,
    current: np.ndarray,
    w_s: np.ndarray,
    *,
    nominal_ah: float,
    rest_a: float,
    event: str = "charge_centroid",
    mode: str = "auto",
    min_days: int = 10,
    min_total_s: float = 60.0,
    days_index: Days | None = None,
) -> DriftResult:
    """Estimate the drift; decide (per `mode`) whether to correct; never raises on odd data."""
    days, ev, _ = daily_events(local_us, current, w_s, rest_a, 0.05 * nominal_ah, event, days_index)
    zero = Q_(0.0, "s/day")
    anchor = int(t_us[0]) if len(t_us) else 0
    if len(days) < min_days:
        evidence = pl.DataFrame(
            {
                "day": _dates(days),
                "event_s": ev,
                "fitted_s": np.full(len(days), np.nan),
                "used": np.zeros(len(days), bool),
            }
        )
        return DriftResult(
            event,
            zero,
            zero,
            Q_(0.0, "s"),
            len(days),
            0,
            "none",
            Q_(0.0, "s"),
            False,
            False,
            anchor,
            f"not estimated: only {len(days)} day(s) with charging >= 5 % of nominal capacity; need {min_days}",
            evidence,
        )
    f = fit_drift(days, ev)
    span_days = (t_us[-1] - t_us[0]) / DAY_US
    total = f["slope"] * span_days
    significant = abs(f["slope"]) > 3 * f["stderr"] and abs(total) >= min_total_s
    applied = mode == "always" or (mode == "auto" and significant)
    model = "linear" + (f" + {f['harmonics']} annual harmonic(s)" if f["harmonics"] else "")
    if mode == "never":
        reason = "correction disabled (drift_correction = never)"
    elif applied:
        reason = "corrected" if significant else "corrected (forced; drift not significant)"
    else:
        reason = (
            f"not corrected: drift {total:,.0f} s is within noise "
            f"(|slope| <= 3 std errors or total < {min_total_s:g} s)"
        )
    evidence = pl.DataFrame({"day": _dates(days), "event_s": ev, "fitted_s": f["fitted"], "used": f["used"]})
    return DriftResult(
        event=event,
        rate=Q_(f["slope"], "s/day"),
        rate_stderr=Q_(f["stderr"], "s/day"),
        total=Q_(total, "s"),
        n_days=len(days),
        n_used=int(f["used"].sum()),
        model=model,
        residual_std=Q_(f["residual_std"], "s"),
        significant=bool(significant),
        applied=bool(applied),
        anchor_us=anchor,
        reason=reason,
        evidence=evidence,
    )


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, np.int64) * DAY_US, dtype=pl.Int64).cast(pl.Datetime("us")).cast(pl.Date)


def correct(t_us: np.ndarray, drift: DriftResult) -> np.ndarray:
    """True time from the BMS clock: remove rate * elapsed since the anchor (the clock was set there)."""
    if not drift.applied:
        return t_us
    rate = float(drift.rate.to("s/day").magnitude) / 86400.0
    elapsed = (t_us - drift.anchor_us).astype(np.float64)
    return drift.anchor_us + np.round(elapsed / (1.0 + rate)).astype(np.int64)
