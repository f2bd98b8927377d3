"""Synthetic BMS logs with known ground truth, for tests and the benchmark.

The signals are explicit functions of true time, so the truth (Ah, Wh, drift, excursions,
temperature spread) is computed independently of the analysis: analytically or on a fine grid.
The layout is that of the shipped study profile (study_lfp_16s5p.toml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

CELL_COLUMNS = [f"Cell{i:02d}" for i in range(1, 17)]
TEMP_COLUMNS = [f"T{i}" for i in range(1, 5)]
COLUMNS = ["Timestamp", "PackVoltage", *CELL_COLUMNS, "Current", *TEMP_COLUMNS]


@dataclass
class SyntheticSpec:
    """What to generate; defaults give a clean 30-day log at 60 s."""

    days: int = 30
    interval_s: float = 60.0
    start: datetime = datetime(2021, 1, 1)
    seed: int = 1
    peak_charge_a: float = 60.0  # PV half-sine peak (before per-day cloud factor)
    charge_hours: float = 8.0  # width of the half-sine
    noon_h: float = 12.5
    noon_jitter_min: float = 2.0  # day-to-day scatter of the charge centroid
    load_a: float = 10.0  # night load 18:00 -> 07:00 with 10-min ramps: 13 * load_a Ah per day
    clock_drift_s_per_day: float = 0.0  # recorded = true + rate * (true - start)
    drifting_cell: int | None = None  # 0-based index of a cell whose offset grows
    cell_drift_v_per_day: float = 0.004
    hot_sensor_days: tuple[int, int] | None = None  # sensor T3 runs +6 K on these days -> dT = 8 K
    jitter_s: float = 0.0  # uniform jitter on sample instants
    quantize: bool = True  # 1 mV cells, 10 mV pack, 0.01 A current, 0.1 K temperatures
    extra: dict = field(default_factory=dict)


@dataclass
class SyntheticLog:
    frame: pl.DataFrame  # study layout, sorted, clean
    true_s: np.ndarray  # true sample instants, seconds since start
    spec: SyntheticSpec
    truth: dict


def _load_current(h: np.ndarray, load_a: float) -> np.ndarray:
    """Night load, linear ramps 18:00-18:10 up and 07:00-07:10 down (hour-of-day input)."""
    up = np.clip((h - 18.0) * 6.0, 0.0, 1.0)
    down = np.clip(1.0 - (h - 7.0) * 6.0, 0.0, 1.0)
    return load_a * np.where(h >= 12.0, up, down)


def _signals(t: np.ndarray, spec: SyntheticSpec, peaks: np.ndarray, noons: np.ndarray) -> dict[str, np.ndarray]:
    day = np.floor(t / 86400.0).astype(np.int64)
    day = np.clip(day, 0, len(peaks) - 1)
    h = (t - day * 86400.0) / 3600.0
    half = spec.charge_hours / 2.0
    x = (h - (noons[day] - half)) / spec.charge_hours
    charge = np.where((x > 0) & (x < 1), peaks[day] * np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
    current = charge - _load_current(h, spec.load_a)  # charge positive
    g = 0.5 - 0.5 * np.cos(2 * np.pi * (h - 6.0) / 24.0)
    cell = 3.22 + 0.08 * g + 0.0012 * current
    doy = (t / 86400.0) % 365.25
    temp = 18.0 + 6.0 * np.sin(2 * np.pi * (h - 9.0) / 24.0) + 8.0 * np.sin(2 * np.pi * doy / 365.25)
    temp = temp + 3.0 * np.abs(current) / max(spec.peak_charge_a, 1.0)
    return {"day": day, "current": current, "cell": cell, "temp": temp}


def generate(spec: SyntheticSpec, *, truth: bool = True) -> SyntheticLog:
    """Build the log; with `truth`, integrate the true signals on a fine grid (1 s)."""
    rng = np.random.default_rng(spec.seed)
    peaks = spec.peak_charge_a * rng.uniform(0.6, 1.0, spec.days)
    noons = spec.noon_h + rng.normal(0.0, spec.noon_jitter_min / 60.0, spec.days)
    n = int(round(spec.days * 86400.0 / spec.interval_s))
    t = np.arange(n, dtype=np.float64) * spec.interval_s
    if spec.jitter_s:
        t = t + rng.uniform(-spec.jitter_s, spec.jitter_s, n)
        t = np.clip(t, 0.0, None)
    s = _signals(t, spec, peaks, noons)
    offsets = rng.uniform(-0.004, 0.004, 16)
    cells = np.empty((n, 16), dtype=np.float64)
    cells[:] = s["cell"][:, None] + offsets[None, :]
    if spec.drifting_cell is not None:
        cells[:, spec.drifting_cell] += spec.cell_drift_v_per_day * t / 86400.0
    temps = s["temp"][:, None] + np.array([0.0, 1.0, 2.0, 3.0])[None, :]
    if spec.hot_sensor_days is not None:
        a, b = spec.hot_sensor_days
        hot = (s["day"] >= a) & (s["day"] < b)
        temps[hot, 2] += 6.0
    current = s["current"] + rng.normal(0.0, 0.03, n)  # sensor noise: a real current channel never freezes
    if spec.quantize:
        cells = np.round(cells, 3)
        current = np.round(current, 2)
        temps = np.round(temps, 1)
    pack = cells.sum(axis=1)
    if spec.quantize:
        pack = np.round(pack, 2)
    recorded = t + spec.clock_drift_s_per_day / 86400.0 * t
    start_us = (
        int(spec.start.timestamp() * 1e6)
        if spec.start.tzinfo
        else int((spec.start - datetime(1970, 1, 1)).total_seconds() * 1e6)
    )
    ts = pl.Series("Timestamp", start_us + np.round(recorded * 1e6).astype(np.int64)).cast(pl.Datetime("us"))
    data: dict[str, object] = {"Timestamp": ts, "PackVoltage": pack}
    for i, c in enumerate(CELL_COLUMNS):
        data[c] = cells[:, i]
    data["Current"] = current
    for i, c in enumerate(TEMP_COLUMNS):
        data[c] = temps[:, i]
    frame = pl.DataFrame(data)
    out = SyntheticLog(frame=frame, true_s=t, spec=spec, truth={})
    if truth:
        out.truth = _truth(spec, peaks, noons, offsets)
    return out


def _truth(spec: SyntheticSpec, peaks: np.ndarray, noons: np.ndarray, offsets: np.ndarray) -> dict:
    """Ground truth per true calendar day, from the analytic current and a 1 s grid for energy."""
    days = spec.days
    charge_ah = peaks * spec.charge_hours * 2.0 / np.pi
    discharge_ah = np.full(days, 13.0 * spec.load_a)
    # first day: no load carried over from the previous evening is missing (load is by hour of day)
    fine = np.arange(0.0, days * 86400.0 + 0.5, 1.0)
    s = _signals(fine, spec, peaks, noons)
    cells = s["cell"][:, None] + offsets[None, :]
    if spec.drifting_cell is not None:
        cells[:, spec.drifting_cell] += spec.cell_drift_v_per_day * fine / 86400.0
    power = cells.sum(axis=1) * s["current"]
    day = np.minimum((fine // 86400).astype(np.int64), days - 1)
    wh_in = np.zeros(days)
    wh_out = np.zeros(days)
    pp = np.clip(power, 0, None)
    pn = np.clip(-power, 0, None)
    seg_in = 0.5 * (pp[1:] + pp[:-1]) / 3600.0
    seg_out = 0.5 * (pn[1:] + pn[:-1]) / 3600.0
    np.add.at(wh_in, day[:-1], seg_in)
    np.add.at(wh_out, day[:-1], seg_out)
    truth: dict = {
        "charge_ah_per_day": charge_ah,
        "discharge_ah_per_day": discharge_ah,
        "charge_wh_per_day": wh_in,
        "discharge_wh_per_day": wh_out,
        "noon_h": noons,
        "drift_s_per_day": spec.clock_drift_s_per_day,
    }
    if spec.drifting_cell is not None:
        col = cells[:, spec.drifting_cell]
        over = (np.round(col, 3) if spec.quantize else col) > 3.65  # as the BMS resolves it (1 mV)
        idx = np.flatnonzero(over)
        truth["cell_over_first_s"] = float(fine[idx[0]]) if idx.size else None
        truth["cell_over_total_s"] = float(over.sum())
    if spec.hot_sensor_days is not None:
        a, b = spec.hot_sensor_days
        truth["dt_under_5k_fraction"] = 1.0 - (b - a) / days
        truth["dt_max_k"] = 8.0
    else:
        truth["dt_under_5k_fraction"] = 1.0
        truth["dt_max_k"] = 3.0
    return truth


def write_csv(frame: pl.DataFrame, path, *, fmt: str = "%Y-%m-%d %H:%M:%S") -> None:
    """Write the log the way the study's BMS does (plain decimal CSV, naive timestamps)."""
    frame.write_csv(path, datetime_format=fmt, float_precision=None)


def write_daily(frame: pl.DataFrame, folder, *, fmt: str = "%Y-%m-%d %H:%M:%S") -> list:
    """One CSV per BMS-clock day, named by date, as the study's logger does."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    dated = frame.with_columns(pl.col("Timestamp").dt.date().alias("_d"))
    for (d,), part in dated.group_by("_d", maintain_order=True):
        p = folder / f"bms_{d:%Y%m%d}.csv"
        part.drop("_d").write_csv(p, datetime_format=fmt)
        paths.append(p)
    return paths


def day_start(spec: SyntheticSpec, day: int) -> datetime:
    return spec.start + timedelta(days=day)
