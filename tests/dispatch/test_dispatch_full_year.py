"""A full year at 15 min (35,040 intervals) with PV, export, two demand charges and a binding throughput cap:
every constraint holds on the numbers written, and the replay prediction agrees with the economics."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_helpers import EXAMPLES

from bench.dispatch.battery import read_battery
from bench.dispatch.economics import evaluate
from bench.dispatch.load import read_load
from bench.dispatch.optimiser import Optimiser
from bench.dispatch.output import duty_cycle
from bench.dispatch.predict import predict_replay
from bench.dispatch.tariff import read_tariff
from bench.dutycycle import format_duty_cycle, parse_duty_cycle
from bench.units import Q_


@pytest.fixture(scope="module")
def year():
    tariff = read_tariff(EXAMPLES / "tariff.toml")
    b = read_battery(EXAMPLES / "site_battery.toml")
    b.throughput_limit = Q_(60, "MWh/year")  # about half of what the schedule would use: the cap binds
    load = read_load(EXAMPLES / "load.csv", timezone=tariff.timezone)
    schedule = Optimiser(load, tariff, b).run()
    return load, tariff, b, schedule


@pytest.mark.slow
def test_every_constraint_holds_over_the_year(year) -> None:
    load, tariff, b, s = year
    assert load.n == 35_040
    checks = s.check()
    assert checks["soc_balance_kwh"] <= 1e-6  # energy balance of every interval
    assert checks["site_balance_kw"] <= 1e-6
    assert s.soc_kwh.min() >= 0.1 * 400 - 1e-6 and s.soc_kwh.max() <= 0.9 * 400 + 1e-6
    assert s.charge_kw.max() <= 200 + 1e-6 and s.discharge_kw.max() <= 200 + 1e-6
    assert s.charge_kw.min() >= 0 and s.discharge_kw.min() >= 0
    assert s.soc_kwh[-1] == pytest.approx(200, abs=1e-6)
    assert s.throughput_kwh() == pytest.approx(60_000, rel=1e-9)  # the cap binds and is met exactly
    assert s.throughput_price > 0
    assert s.simultaneous()["intervals"] == 0  # prices are positive
    assert all(v <= 1e-6 for v in checks.values()), checks


@pytest.mark.slow
def test_the_written_duty_cycle_and_its_prediction_agree_with_the_economics(year) -> None:
    load, tariff, b, s = year
    cycle = parse_duty_cycle(format_duty_cycle(duty_cycle(s, "year")), source="year")
    dis, chg = cycle.energy()
    dt = load.step_h
    assert dis.to("kWh").magnitude == pytest.approx(s.discharge_kw.sum() * dt, abs=0.05)
    assert chg.to("kWh").magnitude == pytest.approx(s.charge_kw.sum() * dt, abs=0.05)
    econ = evaluate(s, tariff)
    pred = predict_replay(cycle, load=load, energy=b.energy)
    after = econ.after.peak_import_kw
    assert [pred.peaks[m].magnitude for m in econ.month_labels] == pytest.approx(after.tolist(), abs=1e-3)
    assert np.all(econ.after.peak_import_kw <= econ.before.peak_import_kw + 1e-6)
    v = econ.valuation
    assert v.annual_savings > 0 and v.annual_demand_savings > 0
    assert v.annual_throughput_kwh == pytest.approx(60_000, rel=1e-6)
