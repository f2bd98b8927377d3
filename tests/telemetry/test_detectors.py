"""Anomaly detectors: on each seeded simulator fault they flag the faulty cell before the BMS alarms,
on a healthy pack they stay quiet; they judge only captured frames."""

from __future__ import annotations

import numpy as np
import pytest

from bench.telemetry.config import DetectorSettings
from bench.telemetry.detectors import Anomaly, Detectors

from . import scenarios as S


@pytest.mark.parametrize("scenario", S.short_scenarios(), ids=lambda s: s.name)
def test_each_seeded_fault_is_flagged_on_its_cell_before_the_bms_alarm(scenario: S.Scenario, tmp_path) -> None:
    r = S.run(scenario, tmp_path)
    assert r.bms_alarm_t is not None, f"the BMS never alarmed in {scenario.name}: {r.bms_alarms}"
    flag = r.first_flag(scenario.cell)
    assert flag is not None, f"{scenario.name}: no flag on cell {scenario.cell}; flags: {r.anomalies}"
    assert flag["t"] < r.bms_alarm_t, (flag, r.bms_alarm_t)
    assert {a["cell"] for a in r.anomalies if a["t"] <= r.bms_alarm_t} == {scenario.cell}  # no other cell blamed
    print(
        f"{scenario.name}: {flag['detector']} flag at {flag['t']:.1f} s, BMS error frame at {r.bms_alarm_t:.1f} s, "
        f"lead {r.lead_s:.1f} s"
    )


def test_a_healthy_pack_raises_no_flag(tmp_path) -> None:
    r = S.run(S.healthy_short(), tmp_path)
    assert r.frames > 10_000 and r.anomalies == [] and r.bms_alarm_t is None


def feed(det: Detectors, rows: list[tuple[float, np.ndarray]], family: str = "cell_voltage") -> None:
    for t, v in rows:
        det.push(family, t, list(range(v.size)), v.tolist())


def test_deviation_needs_its_persist_time_fires_once_and_rearms() -> None:
    got: list[Anomaly] = []
    det = Detectors(DetectorSettings(persist_s=5.0, rearm_s=20.0), got.append)
    rng = np.random.default_rng(1)
    rows = []
    for k in range(600):  # 60 s at 10 Hz; cell 7 is 40 mV low from 10 s to 13 s, then from 20 s to 50 s
        v = 3.3 + rng.normal(0, 0.001, 16)
        if 100 <= k < 130 or 200 <= k < 500:
            v[7] -= 0.040
        rows.append((k / 10, v))
    feed(det, rows)
    det.process()
    assert [(a.cell, a.detector, round(a.t_onset, 1), round(a.t, 1)) for a in got] == [(7, "deviation", 20.0, 25.0)]
    feed(det, [(60 + k / 10, 3.3 + rng.normal(0, 0.001, 16) - np.eye(16)[7] * 0.04) for k in range(100)])
    det.process()  # clear for 10 s only (50..60 s): not re-armed yet
    assert len(got) == 1
    feed(det, [(70 + k / 10, 3.3 + rng.normal(0, 0.001, 16)) for k in range(250)])
    feed(det, [(95 + k / 10, 3.3 + rng.normal(0, 0.001, 16) - np.eye(16)[7] * 0.04) for k in range(100)])
    det.process()  # clear for 25 s, then low again: a second flag
    assert len(got) == 2 and got[1].t_onset == pytest.approx(95.0)


def test_results_do_not_depend_on_how_the_samples_were_batched() -> None:
    rng = np.random.default_rng(2)
    rows = []
    for k in range(900):
        T = 25.0 + rng.normal(0, 0.1, 8)
        T[2] += max(0.0, (k / 10 - 30) * 5 / 60)  # cell 2 heats at 5 K/min from 30 s
        rows.append((k / 10, np.round(T)))
    results = []
    for batch in (1, 7, 900):
        got: list[Anomaly] = []
        det = Detectors(DetectorSettings(), got.append)
        for i in range(0, len(rows), batch):
            feed(det, rows[i : i + batch], "cell_temperature")
            det.process()
        results.append([(a.detector, a.cell, a.t) for a in got])
    assert results[0] == results[1] == results[2] and results[0][0][:2] == ("rate", 2)


def test_relaxation_compares_a_cell_with_its_neighbours_after_a_current_step() -> None:
    got: list[Anomaly] = []
    det = Detectors(DetectorSettings(k=1000, voltage_floor_V=1.0, voltage_rate_floor_V_per_s=10.0), got.append)
    r = np.full(12, 0.0005)
    r[4] = 0.0012  # cell 4: 2.4 x the resistance of its neighbours
    for k in range(300):
        t = k / 10
        current = 0.0 if t < 10 else 80.0
        det.push("pack_current", t, None, current)
        det.push("cell_voltage", t, list(range(12)), (3.3 - r * current).tolist())
        det.process()
    assert [(a.detector, a.cell) for a in got] == [("relaxation", 4)]
    assert got[0].t_onset == pytest.approx(10.0) and got[0].value == pytest.approx(-0.0012, rel=1e-6)
