"""A seeded synthetic site load (and rooftop PV) for examples, tests and the benchmark.

Why synthetic: real meter data of a site cannot ship with the repository, and a generator makes a
year at 15 min reproducible from a seed instead of a multi-megabyte file. The shape is that of a
small commercial site (workshop and offices) in central Europe:

- base load `base_kw` around the clock, plus a working-day profile (07:00-18:00 ramped, a lunch dip)
  of `day_kw`, lower on Saturdays and nothing on Sundays;
- seasonal heating (winter) and cooling (summer afternoons) terms, `season_kw` at their peak;
- AR(1) noise (`noise_kw`, correlation 0.9 per 15 min) and, on `spikes_per_month` random working
  days, a 30-60 min machine start of `spike_kw` (what demand charges punish);
- PV: a clear-sky half-sine between sunrise and sunset of the day of year (latitude 50°N), scaled
  to `pv_kwp` and by a per-day cloud factor; zero when `pv_kwp` is 0.

Timestamps are written as the local wall clock of `timezone` (naive, as meters export them): the
hour repeated when DST ends appears twice, the hour skipped when it starts is absent.
Run `python -m bench.dispatch.synthetic --out load.csv` to write one.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl


@dataclass
class SiteSpec:
    year: int = 2025
    step_min: int = 15
    seed: int = 2025
    base_kw: float = 60.0
    day_kw: float = 140.0
    season_kw: float = 45.0
    noise_kw: float = 8.0
    spike_kw: float = 120.0
    spikes_per_month: int = 3
    pv_kwp: float = 150.0
    timezone: str = "Europe/Berlin"


def generate(spec: SiteSpec = SiteSpec()) -> pl.DataFrame:
    """Columns: time (local wall clock text), load_kw, pv_kw; one row per interval of the year (UTC-regular)."""
    rng = np.random.default_rng(spec.seed)
    start = pl.datetime(spec.year, 1, 1, time_zone=spec.timezone)
    end = pl.datetime(spec.year + 1, 1, 1, time_zone=spec.timezone)
    frame = pl.select(
        pl.datetime_range(start, end, f"{spec.step_min}m", closed="left", time_zone=spec.timezone).alias("t")
    )
    t = frame["t"]
    hour = (t.dt.hour() + t.dt.minute() / 60).to_numpy().astype(float)
    wd = t.dt.weekday().to_numpy() - 1  # 0 = Monday
    doy = t.dt.ordinal_day().to_numpy().astype(float)
    month = t.dt.month().to_numpy()
    day_index = (t.dt.date().cast(pl.Int32) - t.dt.date().cast(pl.Int32).min()).to_numpy()
    n = len(t)
    # working-day profile: ramps 06:30-08:00 and 17:00-18:30, lunch dip
    ramp_up = np.clip((hour - 6.5) / 1.5, 0, 1)
    ramp_down = np.clip((18.5 - hour) / 1.5, 0, 1)
    lunch = 1 - 0.25 * np.exp(-(((hour - 12.5) / 0.6) ** 2))
    work = ramp_up * ramp_down * lunch
    work *= np.where(wd < 5, 1.0, np.where(wd == 5, 0.35, 0.0))
    # seasons: heating in winter mornings, cooling on summer afternoons
    winter = np.clip(np.cos(2 * np.pi * (doy - 15) / 365), 0, 1)
    summer = np.clip(-np.cos(2 * np.pi * (doy - 15) / 365), 0, 1)
    heat = winter * np.exp(-(((hour - 8) / 3) ** 2))
    cool = summer * np.exp(-(((hour - 15) / 2.5) ** 2))
    load = spec.base_kw + spec.day_kw * work + spec.season_kw * (heat + cool)
    noise = np.empty(n)
    eps = rng.normal(0, spec.noise_kw * np.sqrt(1 - 0.9**2), n)
    acc = 0.0
    for i in range(n):  # AR(1); a year is 35,040 steps, fine for a generator
        acc = 0.9 * acc + eps[i]
        noise[i] = acc
    load = load + noise
    per_step = 60 // spec.step_min
    for m in range(1, 13):
        days = np.unique(day_index[(month == m) & (wd < 5)])
        for d in rng.choice(days, size=min(spec.spikes_per_month, len(days)), replace=False):
            first = np.flatnonzero((day_index == d) & (hour >= 8 + rng.integers(0, 8)))[0]
            length = int(rng.integers(2, 5)) * per_step // 2
            load[first : first + length] += spec.spike_kw * rng.uniform(0.8, 1.2)
    load = np.maximum(load, 5.0)
    # PV: half-sine between sunrise and sunset at 50°N (solar noon 13:00 CEST / 12:00 CET approximated by 12:30)
    decl = np.radians(23.44) * np.sin(2 * np.pi * (doy - 81) / 365)
    lat = np.radians(50.0)
    half_day = np.degrees(np.arccos(np.clip(-np.tan(lat) * np.tan(decl), -1, 1))) / 15.0
    noon = 12.5 + 0.5 * (t.dt.dst_offset().dt.total_minutes().to_numpy() > 0)
    x = (hour - (noon - half_day)) / (2 * half_day)
    clear = np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
    elevation = 0.55 + 0.45 * np.cos(2 * np.pi * (doy - 172) / 365)  # lower sun in winter
    cloud = rng.uniform(0.25, 1.0, int(day_index.max()) + 1)[day_index]
    pv = spec.pv_kwp * clear * elevation * cloud
    wall = t.dt.replace_time_zone(None).dt.strftime("%Y-%m-%d %H:%M")
    return pl.DataFrame({"time": wall, "load_kw": np.round(load, 2), "pv_kw": np.round(pv, 2)})


def write_csv(path: str | Path, spec: SiteSpec = SiteSpec()) -> Path:
    """The load file format `bench dispatch --load` reads, with a comment saying how it was made."""
    df = generate(spec)
    p = Path(path)
    with p.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(
            f"# synthetic site load: python -m bench.dispatch.synthetic --seed {spec.seed} --year {spec.year} "
            f"--pv-kwp {spec.pv_kwp:g}\n"
        )
        fh.write(f"# local wall clock {spec.timezone} (interval start); DST: the repeated hour appears twice\n")
        fh.write("time,load[kW],pv[kW]\n")
        df.write_csv(fh, include_header=False)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=SiteSpec.seed)
    ap.add_argument("--year", type=int, default=SiteSpec.year)
    ap.add_argument("--step-min", type=int, default=SiteSpec.step_min, choices=[5, 10, 15, 30, 60])
    ap.add_argument("--pv-kwp", type=float, default=SiteSpec.pv_kwp)
    ap.add_argument("--timezone", default=SiteSpec.timezone)
    a = ap.parse_args(argv)
    p = write_csv(a.out, SiteSpec(year=a.year, step_min=a.step_min, seed=a.seed, pv_kwp=a.pv_kwp, timezone=a.timezone))
    print(f"written {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
