"""Per-day operation patterns: each day's 24-hour current profile, clustered into a few kinds.

A repurposer or auditor wants to know how the battery was used day to day (PV cycling, idle
weeks, backup events), not just totals; k-means on hourly mean C-rate profiles says that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from bench.analyze.groups import DAY_US, Days


@dataclass
class Patterns:
    """Per-day summary with its cluster, and each cluster's mean 24-hour C-rate profile."""

    days: pl.DataFrame
    centroids: np.ndarray  # (k, 24) mean C-rate per hour of day, charge positive
    labels: list[str]
    counts: list[int]


def _kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Plain k-means with k-means++ seeding from a fixed seed, so results are repeatable."""
    rng = np.random.default_rng(seed)
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min([((x - c) ** 2).sum(axis=1) for c in centers], axis=0)
        if d2.sum() <= 0:
            break
        centers.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    c = np.array(centers)
    lab = np.zeros(len(x), np.int64)
    for _ in range(iters):
        lab = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)
        new = np.array([x[lab == j].mean(axis=0) if (lab == j).any() else c[j] for j in range(len(c))])
        if np.allclose(new, c):
            break
        c = new
    return c, lab


def _label(profile: np.ndarray) -> str:
    ch = np.clip(profile, 0, None).sum()  # C * h = fraction of capacity
    dis = np.clip(-profile, 0, None).sum()
    if ch + dis < 0.05:
        return "idle"
    parts = []
    if ch >= 0.02:
        parts.append(f"charge {ch:.2f} C·h peaking {int(np.argmax(profile)):02d}h")
    if dis >= 0.02:
        parts.append(f"discharge {dis:.2f} C·h peaking {int(np.argmin(profile)):02d}h")
    return ", ".join(parts)


def compute(
    local_us: np.ndarray,
    current: np.ndarray,
    w_s: np.ndarray,
    nominal_ah: float,
    rest_a: float,
    clusters: int,
    days: Days | None = None,
) -> Patterns:
    """Hourly mean C-rate per day (time-weighted), day summaries, and k-means clusters."""
    days = Days(local_us) if days is None else days
    d0, nd = days.d0, days.n
    hours = days.hours()
    sec = hours.sum(w_s).reshape(nd, 24)
    q = hours.sum(current * w_s).reshape(nd, 24)
    del hours
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = np.where(sec > 0, q / sec / nominal_ah, 0.0)
    present = sec.sum(axis=1) > 0
    pos = w_s > 0
    chg = (current > rest_a) & pos
    dis = (current < -rest_a) & pos
    del pos
    h_chg = days.sum(np.where(chg, w_s, 0.0)) / 3600
    h_dis = days.sum(np.where(dis, w_s, 0.0)) / 3600
    del dis
    first = np.full(nd, np.nan)
    last = np.full(nd, np.nan)
    idx = np.flatnonzero(chg)
    del chg
    if idx.size:
        tod = days.time_of_day_s(idx) / 3600.0
        di = days.day_of(idx)
        step = np.diff(di)
        if step.size and step.min() < 0:
            u, f = np.unique(di, return_index=True)
            u2, f2 = np.unique(di[::-1], return_index=True)
            first[u] = tod[f]
            last[u2] = tod[::-1][f2]
        else:
            brk = np.flatnonzero(step) + 1
            f = np.concatenate([[0], brk])
            f2 = np.concatenate([brk - 1, [len(di) - 1]])
            first[di[f]] = tod[f]
            last[di[f2]] = tod[f2]
    x = prof[present]
    k = max(1, min(clusters, len(x)))
    centers, lab = _kmeans(x, k)
    order = np.argsort(-np.bincount(lab, minlength=len(centers)))  # cluster 0 = most common
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    lab = remap[lab]
    centers = centers[order]
    cluster = np.full(nd, -1)
    cluster[present] = lab
    dates = pl.Series("date", (np.arange(nd) + d0) * DAY_US, dtype=pl.Int64).cast(pl.Datetime("us")).cast(pl.Date)
    days = pl.DataFrame(
        {
            "date": dates,
            "cluster": cluster,
            "charging_h": h_chg,
            "discharging_h": h_dis,
            "rest_h": sec.sum(axis=1) / 3600 - h_chg - h_dis,
            "first_charge_h": first,
            "last_charge_h": last,
            "peak_charge_C": prof.max(axis=1),
            "peak_discharge_C": -prof.min(axis=1),
        }
    ).filter(pl.Series(present))
    counts = np.bincount(lab, minlength=len(centers)).tolist()
    return Patterns(days=days, centroids=centers, labels=[_label(c) for c in centers], counts=counts)
