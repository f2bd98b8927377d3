"""Smoke plan: proves the bench end to end on every instrument class.

BMS link up and contactor closed, open-circuit voltage by DMM and supply, a one-hour CC-CV
charge, and a discharge at controlled chamber temperature with the BMS watching the cells.
"""

import pytest

from bench.units import Q_
from instruments.capabilities import SupplyPriority

pytestmark = [pytest.mark.plan_level("module")]


@pytest.mark.clause("bench: pre-test check")
def test_bms_link_and_contactor(bms, measure, require, clock, limits):
    bms.request_state("charge")  # closes the contactor (confirmed by the BMS state)
    status = bms.status()
    require("bms.contactor_closed", Q_(int(status.contactor_closed), "dimensionless"), instrument=bms)
    measure("bms.cell_voltage_spread", (status.cell_voltage_max - status.cell_voltage_min).to("mV"), instrument=bms)


@pytest.mark.clause("bench: pre-test check")
def test_open_circuit_voltage(psu, dmm, measure, clock, limits):
    psu.set_output(False)
    clock.sleep(limits.param("ocv.rest"))  # rest with no current so the reading is an open-circuit voltage
    ocv = measure("pack.ocv", dmm.measure_dc_voltage(), instrument=dmm)
    measure("pack.voltage_agreement", abs(psu.measure_voltage() - ocv.value).to("mV"), instrument=psu)


@pytest.mark.clause("bench: charge")
def test_one_hour_cc_cv_charge(psu, bms, measure, require, clock, limits, telemetry):
    v_set = limits.param("charge.voltage")
    i_lim = limits.param("charge.current_limit")
    psu.set_output(False)
    if isinstance(psu, SupplyPriority):  # a bidirectional supply: regulate voltage, limit current
        psu.set_priority("VOLT")
    psu.set_ovp(v_set + limits.param("charge.ovp_margin"))
    psu.set_current_limit(i_lim, Q_(0, "A"))
    psu.set_voltage(v_set)
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
    measure("charge.throughput", telemetry.integral("pack.current").to("A*h"), instrument=psu)


@pytest.mark.clause("bench: discharge at temperature")
def test_discharge_at_controlled_temperature(chamber, load, bms, measure, require, clock, limits, telemetry):
    t_set = limits.param("discharge.chamber_temperature")
    chamber.set_setpoint(t_set)
    chamber.set_running(True)
    band = limits.param("discharge.temperature_band")
    settle = clock.wait_until(
        lambda: abs(chamber.temperature() - t_set) <= band,
        timeout=limits.param("discharge.settle_timeout"),
        poll=Q_(30, "s"),
        what=f"chamber within {band:~P} of {t_set:~P}",
    )
    measure("discharge.chamber_settle_time", settle.to("min"), instrument=chamber)
    bms.request_state("discharge")
    load.set_mode("CC")
    load.set_level(limits.param("discharge.current"))
    load.set_input(True)
    channels = {
        "discharge.current": load.measure_current,
        "discharge.bms_current": lambda: bms.status().pack_current,
        "cell.temperature.max": lambda: bms.status().cell_temperature_max,
    }
    with telemetry.sampling(channels, every=limits.param("sample.interval")):
        clock.sleep(limits.param("discharge.duration"))
    load.set_input(False)
    telemetry.check("discharge.max_cell_temperature", "cell.temperature.max", "max", instrument=bms)
    delivered = telemetry.integral("discharge.current").to("A*h")
    reported = telemetry.integral("discharge.bms_current").to("A*h")
    measure("discharge.throughput", delivered, instrument=load)
    require("discharge.bms_current_agreement", (abs(reported - delivered) / delivered).to("percent"), instrument=bms)
