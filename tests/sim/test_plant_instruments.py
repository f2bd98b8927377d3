"""Supply, load, chamber, gas and insulation-tester models of the plant."""

from __future__ import annotations

import pytest

from instruments.sim.plant import Plant, SimRangeError, get_preset
from instruments.sim.plant.gas import GasModel


def plant(preset: str = "lfp_module_16s1p", **over) -> Plant:
    return Plant.from_config(get_preset(preset, **over), seed=3)


def test_supply_ovp_latches_until_cleared() -> None:
    p = plant()
    s = p.supply
    s.set_ovp(50.0)
    s.set_voltage(55.0)
    s.set_output(True)
    p.step(1.0)
    assert "OV" in s.protection and not s.get_output()
    assert s.status_questionable() & 1 and s.status_questionable() & 2048
    assert s.status_operation() == 4
    p.step(5.0)
    assert p.bus.voltage_V < 0.01  # latched off, bus bleeds down
    s.set_output(True)
    p.step(1.0)
    assert not s.get_output()  # refused while latched
    s.set_ovp(60.0)
    s.clear_protection()
    p.step(1.0)
    assert s.get_output() and s.status_questionable() == 0
    assert s.measure_voltage_V() == pytest.approx(55.0, abs=0.01)
    assert s.status_operation() == 1


def test_supply_under_voltage_protection_after_delay() -> None:
    p = plant()
    s = p.supply
    s.set_voltage(48.0)
    s.set_current_limit_pos(10.0)
    s.set_uvp(45.0, delay_s=0.5, enabled=True)
    s.set_output(True)
    p.step(1.0)
    p.load.set_level("CC", 20.0)  # more than the supply can give: the bus collapses
    p.load.set_input(True)
    p.step(0.3)
    assert s.get_output() and s.mode == "CC"
    p.step(0.5)
    assert "UV" in s.protection and s.status_questionable2() & 64 and not s.get_output()


def test_supply_ocp_trips_when_current_limited() -> None:
    p = plant()
    p.bms.request_state("charge")
    p.step(1.0)
    s = p.supply
    s.set_voltage(58.0)
    s.set_current_limit_pos(20.0)
    s.set_ocp_enabled(True)
    s.set_output(True)
    p.step(1.0)
    assert "OC" in s.protection and s.status_questionable() & 2


def test_supply_current_priority_respects_voltage_limit() -> None:
    p = plant()
    s = p.supply
    s.set_priority("CURR")
    s.set_current(20.0)
    s.set_voltage_limit_pos(30.0)
    s.set_output(True)
    p.step(1.0)  # open bus: nothing can take 20 A, so the voltage limit holds
    assert p.bus.voltage_V == pytest.approx(30.0)
    assert s.mode == "CV" and s.status_questionable() & 128
    p.load.set_mode("CR", "H")
    p.load.set_level("CR", 1.0)
    p.load.set_input(True)
    p.step(1.0)
    assert s.mode == "CC" and s.current_A == pytest.approx(20.0)
    assert p.bus.voltage_V == pytest.approx(20.0, rel=1e-3)


@pytest.mark.parametrize("mode,level", [("CC", 100.0), ("CR", 0.5), ("CP", 3000.0)])
def test_load_modes_hold_setpoint_on_pack(mode: str, level: float) -> None:
    p = plant()
    p.bms.request_state("discharge")
    p.step(1.0)
    ld = p.load
    ld.set_mode(mode, "H")
    ld.set_level(mode, level)
    ld.set_input(True)
    for _ in range(60):
        p.step(1.0)
        v, i = ld.voltage_V, ld.current_A
        measured = {"CC": i, "CR": v / i, "CP": v * i}[mode]
        assert measured == pytest.approx(level, rel=2e-3)
    assert p.pack.current_A == pytest.approx(ld.current_A, abs=1e-3)
    assert ld.measure_power_W() == pytest.approx(v * i, rel=0.01)


def test_load_cv_mode_holds_bus_voltage() -> None:
    p = plant()
    s = p.supply
    s.set_priority("CURR")
    s.set_current(20.0)
    s.set_voltage_limit_pos(60.0)
    s.set_output(True)
    ld = p.load
    ld.set_mode("CV", "H")
    ld.set_level("CV", 50.0)
    ld.set_input(True)
    p.step(2.0)
    assert ld.voltage_V == pytest.approx(50.0) and ld.current_A == pytest.approx(20.0, abs=1e-3)
    ld.set_cv_current_limit(10.0)  # cannot sink it all: the supply hits its voltage limit
    p.step(2.0)
    assert ld.current_A == pytest.approx(10.0) and p.bus.voltage_V == pytest.approx(60.0)


def test_load_ranges_and_protections() -> None:
    p = plant()
    ld = p.load
    ld.set_mode("CC", "L")
    with pytest.raises(SimRangeError):
        ld.set_level("CC", 5.0)
    ld.set_mode("CC", "H")
    with pytest.raises(SimRangeError):
        ld.set_level("CC", 300.0)
    p.bms.request_state("discharge")
    p.step(1.0)
    ld.set_opp(2000.0)
    ld.set_mode("CP", "H")
    ld.set_level("CP", 2500.0)
    ld.set_input(True)
    p.step(1.0)
    assert ld.protection_status() & 8 and not ld.get_input()
    assert ld.current_A == 0.0
    ld.clear_protection()
    ld.set_level("CP", 1500.0)
    ld.set_input(True)
    p.step(1.0)
    assert ld.protection_status() == 0 and ld.current_A > 0
    ld.set_ocp(20.0)
    ld.set_short(True)
    p.step(1.0)
    assert ld.protection_status() & 4


def test_load_draws_nothing_on_dead_bus() -> None:
    p = plant()
    p.load.set_level("CC", 50.0)
    p.load.set_input(True)
    p.step(1.0)
    assert p.bus.voltage_V == 0.0 and p.load.current_A == 0.0


def test_chamber_ramps_at_its_rate() -> None:
    p = plant()
    c = p.chamber
    with pytest.raises(SimRangeError):
        c.set_setpoint_degC(200.0)
    c.set_setpoint_degC(45.0)
    c.set_ramp_rate_degC_per_min(1.0)
    c.set_running(True)
    p.step(600.0)
    assert c.working_setpoint_degC == pytest.approx(35.0, abs=0.01)
    assert 32.0 < c.air_temperature_degC < 35.0
    p.step(600.0)
    rate = (c.air_temperature_degC - 33.5) / 10.0
    assert rate == pytest.approx(1.0, abs=0.2)
    p.step(1800.0)
    assert c.air_temperature_degC == pytest.approx(45.0, abs=0.2)
    c.set_running(False)
    p.step(3600.0)
    assert 25.0 < c.air_temperature_degC < 40.0  # drifts back towards the room


def test_chamber_heater_limits_a_step() -> None:
    p = plant()
    c = p.chamber
    c.set_setpoint_degC(-30.0)
    c.set_running(True)
    p.step(60.0)
    assert c.air_temperature_degC == pytest.approx(25.0 - 3.0, abs=0.05)  # cooler limit 3 °C/min


def test_gas_release_and_ventilation() -> None:
    g = GasModel({"enclosure_volume_m3": 1.0, "air_changes_per_h": 6.0, "pressure_leak_tau_s": 10.0})
    g.set_source("vent", {"H2": 10.0, "CO": 2.0})
    for _ in range(60):
        g.step(1.0)
    assert 500.0 < g.ppm["H2"] < 600.0 and g.ppm["CO"] == pytest.approx(g.ppm["H2"] / 5.0)
    assert g.pressure_Pa == pytest.approx(101325 * 12e-6 * 10.0, rel=0.01)
    peak = g.ppm["H2"]
    g.set_source("vent", None)
    for _ in range(600):
        g.step(1.0)
    assert g.ppm["H2"] == pytest.approx(peak * 0.3679, rel=0.02)  # one air-change time constant
    assert g.pressure_Pa < 0.01


def test_insulation_tester_pass_and_fail() -> None:
    p = plant()
    irt = p.irt
    irt.set_test_voltage(250.0)
    irt.set_dwell(60.0)
    irt.set_lower_limit(0.5e6)
    irt.start()
    p.step(1.0)
    early = irt.result()[1]
    p.step(60.0)
    v, r, t, judgement = irt.result()
    assert judgement == "PASS" and t == pytest.approx(60.0)
    assert 400e6 < r < 600e6 and early < r
    p.inject({"type": "low_insulation", "isolation_ohm": 50e3})
    irt.start()
    p.step(30.0)
    assert irt.voltage_V < 250.0 * 0.25  # compliance limit pulls the voltage down
    p.step(31.0)
    assert irt.result()[3] == "LFAIL" and irt.result()[1] == pytest.approx(50e3, rel=0.05)
    with pytest.raises(SimRangeError):
        irt.set_test_voltage(5000.0)
    p.inject({"type": "low_insulation", "isolation_ohm": 500e6})
    irt.set_range(20e6)  # fixed range too small: over-range, reading clamped to full scale
    irt.start()
    p.step(61.0)
    assert irt.over_range and irt.result()[1] == 20e6 and irt.result()[3] == "PASS"
