"""Synthetic BMS logs with known ground truth (seeded numpy RNG), written the way BMSs write them."""

from __future__ import annotations

import pytest

from bench.analyze.synthetic import SyntheticSpec, generate, write_csv, write_daily


@pytest.fixture(scope="session")
def clean_log(tmp_path_factory):
    """60 days at 60 s, no defects: a single CSV and its truth."""
    log = generate(SyntheticSpec(days=60, interval_s=60.0, seed=3))
    path = tmp_path_factory.mktemp("clean") / "log.csv"
    write_csv(log.frame, path)
    return log, path


@pytest.fixture(scope="session")
def drifted_log(tmp_path_factory):
    """120 days, BMS clock gaining 11 s/day, as daily files."""
    log = generate(SyntheticSpec(days=120, interval_s=60.0, seed=5, clock_drift_s_per_day=11.0))
    folder = tmp_path_factory.mktemp("drifted")
    write_daily(log.frame, folder)
    return log, folder


@pytest.fixture(scope="session")
def cell_and_heat_log(tmp_path_factory):
    """50 days: cell 7 (Cell07) drifts up 9 mV/day out of the LFP window; T3 runs 6 K hot on days 10-20."""
    log = generate(
        SyntheticSpec(
            days=50, interval_s=60.0, seed=7, drifting_cell=6, cell_drift_v_per_day=0.009, hot_sensor_days=(10, 20)
        )
    )
    path = tmp_path_factory.mktemp("cell") / "log.parquet"
    log.frame.write_parquet(path)
    return log, path


@pytest.fixture
def small_log():
    """5 days at 60 s, for defect injection."""
    return generate(SyntheticSpec(days=5, interval_s=60.0, seed=11))
