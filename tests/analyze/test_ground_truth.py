"""The analysis recovers known ground truth from synthetic logs, within stated tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analyze import analyze_bms_log


def _by_day(result, n_days):
    d = result.metrics.daily
    return {k: d[k].to_numpy()[:n_days] for k in ("charge_Ah", "discharge_Ah", "charge_Wh", "discharge_Wh")}


def test_ah_and_wh_throughput_per_day_and_total(clean_log):
    log, path = clean_log
    r = analyze_bms_log([path])
    truth = log.truth
    got = _by_day(r, 60)
    # charge: smooth half-sine, trapezoid at 60 s -> 0.1 % per day
    assert got["charge_Ah"] == pytest.approx(truth["charge_ah_per_day"], rel=1e-3)
    # discharge: 13 h * 10 A per calendar day, except day 0 whose evening starts the log (same ramps)
    assert got["discharge_Ah"] == pytest.approx(truth["discharge_ah_per_day"], rel=2e-3)
    assert got["charge_Wh"] == pytest.approx(truth["charge_wh_per_day"], rel=2e-3)
    assert got["discharge_Wh"] == pytest.approx(truth["discharge_wh_per_day"], rel=2e-3)
    totals = r.metrics.totals
    assert totals["charge"].to("A*h").magnitude == pytest.approx(truth["charge_ah_per_day"].sum(), rel=5e-4)
    assert totals["equivalent_full_cycles"].magnitude == pytest.approx(
        truth["discharge_ah_per_day"].sum() / 250, rel=2e-3
    )
    total_row = r.metrics.annual.row(-1, named=True)
    assert total_row["year"] == "total"
    assert total_row["charge_kWh"] == pytest.approx(truth["charge_wh_per_day"].sum() / 1000, rel=2e-3)
    loss = 100 * (1 - truth["discharge_ah_per_day"].sum() / truth["charge_ah_per_day"].sum())
    assert total_row["capacity_loss_pct"] == pytest.approx(loss, abs=0.2)
    assert r.drift.applied is False  # no drift injected: nothing corrected


def test_injected_linear_clock_drift_is_recovered_and_corrected(drifted_log):
    log, folder = drifted_log
    r = analyze_bms_log([folder])
    assert r.drift.significant and r.drift.applied
    assert r.drift.rate.to("s/day").magnitude == pytest.approx(11.0, abs=1.0)  # tolerance 1 s/day
    assert r.drift.total.to("s").magnitude == pytest.approx(11.0 * 120, rel=0.1)
    # after correction the days are cut at true midnight: daily charge matches the truth
    got = r.metrics.daily["charge_Ah"].to_numpy()[:120]
    assert got == pytest.approx(log.truth["charge_ah_per_day"], rel=3e-3)


def test_no_drift_is_reported_as_none(clean_log):
    _, path = clean_log
    r = analyze_bms_log([path])
    rate, se = r.drift.rate.to("s/day").magnitude, r.drift.rate_stderr.to("s/day").magnitude
    assert abs(rate) < 3 * se and se < 1.5
    assert not r.drift.applied and not r.drift.significant


def test_cell_drifting_out_of_window_is_found_with_when_and_how_long(cell_and_heat_log):
    log, path = cell_and_heat_log
    r = analyze_bms_log([path])
    exc = r.metrics.excursions
    assert set(exc["cell"].to_list()) == {"Cell07"}
    assert set(exc["side"].to_list()) == {"above"}
    first = np.datetime64(exc["start"].min())
    true_first = np.datetime64("2021-01-01") + np.timedelta64(int(log.truth["cell_over_first_s"]), "s")
    assert abs((first - true_first) / np.timedelta64(1, "s")) <= 120  # within two samples
    total = exc["duration_s"].sum()
    assert total == pytest.approx(log.truth["cell_over_total_s"], rel=0.03)
    assert (exc["extreme_V"] > 3.65).all()


def test_temperature_spread_and_fraction_under_5k(cell_and_heat_log):
    log, path = cell_and_heat_log
    r = analyze_bms_log([path])
    ts = r.metrics.temperature_summary
    assert ts["fraction_spread_under_limit"].magnitude == pytest.approx(log.truth["dt_under_5k_fraction"], abs=0.005)
    assert ts["spread_max"].to("K").magnitude == pytest.approx(log.truth["dt_max_k"], abs=0.15)
    assert r.metrics.daily["dT_max_K"].to_numpy()[12] == pytest.approx(8.0, abs=0.15)
    assert r.metrics.daily["dT_max_K"].to_numpy()[30] == pytest.approx(3.0, abs=0.15)


def test_c_rate_distribution_against_nominal_capacity(clean_log):
    log, path = clean_log
    r = analyze_bms_log([path])
    # night load 10 A on 250 Ah = 0.04 C: the discharge histogram's mode is the 0.04-0.06 C bin
    h = r.metrics.crate["discharge"]
    assert h.edges[int(np.argmax(h.seconds))] == pytest.approx(0.04, abs=1e-9)
    assert r.metrics.crate_summary["charge_max"].magnitude <= 60 / 250 + 0.01
    # time charging ~ 8 h/day (above the 2.5 A rest threshold, slightly less)
    hours = r.metrics.time_in_state["charging"].to("h").magnitude / 60
    assert 7.0 < hours < 8.0


def test_patterns_cluster_every_day(clean_log):
    _, path = clean_log
    r = analyze_bms_log([path])
    assert sum(r.patterns.counts) == 60
    assert r.patterns.days["first_charge_h"].mean() == pytest.approx(12.5 - 4.0, abs=0.3)
