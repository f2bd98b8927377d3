"""Two steps with high-rate capture on: checks computed from the columnar store over each step."""

import pytest

pytestmark = [pytest.mark.plan_level("module")]


@pytest.mark.clause("bench: capture")
def test_discharge_pulse(bms, load, clock, limits, telemetry):
    bms.request_state("discharge")
    load.set_mode("CC")
    load.set_level(limits.param("pulse.current"))
    load.set_input(True)
    clock.sleep(limits.param("pulse.duration"))
    load.set_input(False)
    telemetry.check("pulse.max_cell_voltage", "bms_can.CellVoltage_003", "max", instrument=bms)
    telemetry.check("pulse.mean_current", "bms_can.Current", "mean", instrument=bms)
    telemetry.check("pulse.load_current_max", "load.current", "max", instrument=load)


@pytest.mark.clause("bench: capture")
def test_rest(bms, clock, limits, telemetry):
    clock.sleep(limits.param("rest.duration"))
    telemetry.check("rest.cell_temperature_span", "bms_can.CellTemperature_000", "span", instrument=bms)
