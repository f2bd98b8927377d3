"""Smoke plan: read the pack's open-circuit voltage, charge CC-CV for an hour, check the result."""

import pytest

from bench.units import Q_

pytestmark = [pytest.mark.plan_level("module")]


@pytest.mark.clause("bench: pre-test check")
def test_open_circuit_voltage(psu, measure, clock, limits):
    psu.set_output(False)
    clock.sleep(limits.param("ocv.rest"))  # rest with no current so the reading is an open-circuit voltage
    measure("pack.ocv", psu.measure_voltage(), instrument=psu)


@pytest.mark.clause("bench: charge")
def test_one_hour_cc_cv_charge(psu, measure, require, clock, limits, telemetry):
    v_set = limits.param("charge.voltage")
    i_lim = limits.param("charge.current_limit")
    psu.set_output(False)
    psu.set_priority("VOLT")
    psu.set_ovp(v_set + Q_(2, "V"))
    psu.set_current_limit(i_lim, Q_(0, "A"))
    psu.set_voltage(v_set)
    psu.set_output(True)
    channels = {"pack.voltage": psu.measure_voltage, "pack.current": psu.measure_current}
    with telemetry.sampling(channels, every=limits.param("sample.interval")):
        clock.sleep(limits.param("charge.duration"))
    psu.set_output(False)
    require("charge.end_voltage", telemetry.aggregate("pack.voltage", "last"), instrument=psu)
    telemetry.check("charge.max_current", "pack.current", "max", instrument=psu)
    measure("charge.throughput", telemetry.integral("pack.current").to("A*h"), instrument=psu)
