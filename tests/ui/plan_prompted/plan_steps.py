"""Operator view check: what a viewer must see (steps, a prompt, measurements, telemetry, safe state).

Not collected by the suite (no test_ prefix): tests/ui runs it as a plan, in its own process.
"""

import pytest

from bench.units import Q_

pytestmark = [pytest.mark.plan_level("module")]


@pytest.mark.clause("bench: pre-test check")
def test_open_circuit_voltage(psu, dmm, measure, clock, limits):
    psu.set_output(False)
    clock.sleep(limits.param("ocv.rest"))
    measure("pack.ocv", dmm.measure_dc_voltage(), instrument=dmm)


@pytest.mark.clause("UL 1974:2018 §5 (visual inspection)")
def test_visual_check(prompt, measure):
    answer = prompt("visual.intact", "Is the module free of damage, swelling and leaks?", choices=["yes", "no"])
    measure("visual.ok", Q_(int(answer == "yes"), "dimensionless"))


@pytest.mark.clause("bench: charge")
def test_charge(psu, bms, measure, require, clock, limits, telemetry):
    psu.set_output(False)
    psu.set_priority("VOLT")
    psu.set_current_limit(limits.param("charge.current_limit"), Q_(0, "A"))
    psu.set_voltage(limits.param("charge.voltage"))
    psu.set_output(True)
    channels = {
        "pack.voltage": psu.measure_voltage,
        "pack.current": psu.measure_current,
        "cell.temperature.max": lambda: bms.status().cell_temperature_max,
    }
    with telemetry.sampling(channels, every=limits.param("sample.interval")):
        clock.sleep(limits.param("charge.duration"))
    psu.set_output(False)
    require("charge.end_voltage", telemetry.aggregate("pack.voltage", "last"), instrument=psu)
    telemetry.check("charge.max_current", "pack.current", "max", instrument=psu)
