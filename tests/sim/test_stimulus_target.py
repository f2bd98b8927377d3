"""The battery plant's stimulus target: each stimulus changes the physics or sensing it models,
release restores it, and every bad name or value is refused naming what is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instruments.sim.plant import Plant, SimRangeError
from instruments.sim.plant.errors import StimulusConflict
from instruments.sim.plant.stimulus_target import STIMULI


def plant(preset: str = "lfp_16s5p", seed: int = 5) -> Plant:
    return Plant.from_config(preset, seed=seed)


def discharge(p: Plant, amps: float) -> None:
    p.bms.request_state("discharge")
    p.step(2.0)
    p.load.set_mode("CC", "H")
    p.load.set_level("CC", amps)
    p.load.set_input(True)
    p.step(1.0)
    assert p.bms.contactor_closed and p.pack.current_A == pytest.approx(amps, rel=0.05)


def test_one_target_per_plant_offering_every_stimulus() -> None:
    p = plant()
    t = p.stimulus_target()
    assert t is p.stimulus_target()
    assert t.available() == set(STIMULI)
    assert t.applied() == {}


def test_gas_release_raises_concentration_and_pressure_and_stop_lets_it_decay() -> None:
    p = plant()
    t = p.stimulus_target()
    t.gas_release("bump", {"H2": 40.0, "CO": 15.0})
    p.step(60.0)
    h2, co = p.gas.ppm["H2"], p.gas.ppm["CO"]
    # well-mixed enclosure at 2 air changes per hour: C = S/k (1 - exp(-k t))
    k = p.gas.ach_per_h / 3600.0
    assert h2 == pytest.approx(40.0 / k * (1 - math.exp(-k * 60.0)), rel=1e-6)
    assert co == pytest.approx(15.0 / k * (1 - math.exp(-k * 60.0)), rel=1e-6)
    assert p.gas.pressure_Pa > 0 and p.gas.ppm["VOC"] == 0.0
    assert t.applied() == {"gas_release": {"bump": {"H2": 40.0, "CO": 15.0}}}
    t.gas_release("bump", None)
    p.step(600.0)
    assert p.gas.ppm["H2"] == pytest.approx(h2 * math.exp(-k * 600.0), rel=1e-6)
    assert t.applied() == {}


def test_stimulus_sources_do_not_touch_a_fault_vent_of_the_same_name() -> None:
    p = plant()
    p.gas.set_source("bump", {"CO": 1.0})  # e.g. a fault's own source
    t = p.stimulus_target()
    t.gas_release("bump", {"H2": 5.0})
    t.release_all()
    assert p.gas.sources == {"bump": {"CO": 1.0}}


def test_exhaust_sets_air_changes_from_the_enclosure_volume() -> None:
    p = plant()
    t = p.stimulus_target()
    natural = p.gas.air_changes_per_h
    t.ventilation(30.0)  # 30 m3/h through 1.5 m3 = 20 air changes per hour
    assert p.gas.air_changes_per_h == pytest.approx(30.0 / p.gas.volume_m3)
    t.ventilation(0.5)  # slower than the natural leakage: natural wins
    assert p.gas.air_changes_per_h == natural
    t.gas_release("vent", {"H2": 10.0})
    t.ventilation(30.0)
    p.step(3600.0)
    assert p.gas.ppm["H2"] == pytest.approx(10.0 / (20.0 / 3600.0), rel=1e-3)  # steady state S/k
    t.ventilation(None)
    assert p.gas.air_changes_per_h == natural and "ventilation" not in t.applied()


@pytest.mark.parametrize(
    ("channel", "value", "reported"),
    [
        ("cell_temperature[3]", 71.5, lambda p: p.bms.cell_temperatures_reported_degC()[3]),
        ("cell_voltage[5]", 3.95, lambda p: p.bms.cell_voltages_reported_V()[5]),
        ("pack_current", -12.0, lambda p: p.bms.current_reported_A),
    ],
)
def test_sensor_override_forces_what_the_bms_reads_and_release_restores(channel, value, reported) -> None:
    p = plant()
    t = p.stimulus_target()
    p.step(1.0)
    before = reported(p)
    t.sensor_override(channel, value)
    p.step(0.5)
    assert reported(p) == value
    assert t.applied()["sensor_override"] == {channel: value}
    t.sensor_override(channel, None)
    p.step(0.5)
    assert reported(p) == pytest.approx(before, abs=0.2)
    assert t.applied() == {}


def test_temperature_override_trips_the_bms_like_a_hot_cell() -> None:
    p = plant()
    discharge(p, 20.0)
    t = p.stimulus_target()
    trip = p.bms.th["ot_discharge_alarm_degC"]
    t.sensor_override("cell_temperature[0]", trip + 5.0)
    p.step(5.0)
    assert p.bms.alarms["cell_ot"] and not p.bms.contactor_closed
    assert float(p.pack.cell_temperatures_degC().max()) < trip  # the pack itself never got hot


def test_cell_voltage_step_shows_in_the_cell_voltages_and_conflicts_with_an_override() -> None:
    p = plant()
    t = p.stimulus_target()
    t.cell_voltage_step(3, 3.7)
    p.step(0.5)
    assert p.bms.cell_voltages_reported_V()[3] == 3.7
    with pytest.raises(StimulusConflict, match="cell_voltage\\[3\\]"):
        t.sensor_override("cell_voltage[3]", 3.2)
    t.cell_voltage_step(3, None)
    t.sensor_override("cell_voltage[3]", 3.2)
    with pytest.raises(StimulusConflict, match="cell 3"):
        t.cell_voltage_step(3, 3.7)
    t.cell_voltage_step("4", 3.3)  # the wire gives cells as text
    assert t.applied()["cell_voltage_step"] == {"4": 3.3}


def test_heater_on_one_cell_warms_that_cell_most() -> None:
    p = plant()
    t = p.stimulus_target()
    t.heat("cell[6,2]", 40.0)
    p.step(900.0)
    T = p.pack.cells.T_degC
    assert T[6, 2] > 25.0 + 5.0
    assert T[6, 2] == T.max() and T[6, 2] > T[6, 0] > T[0, 0]
    assert p.bms.cell_temperatures_reported_degC()[6] == pytest.approx(T[6].max(), abs=0.5)
    t.heat("cell[6,2]", None)
    p.step(7200.0)
    assert p.pack.cells.T_degC[6, 2] < T[6, 2] - 3.0
    assert t.applied() == {}


def test_heat_on_the_pack_spreads_the_power_over_every_cell() -> None:
    p = plant("lfp_module_16s1p")
    t = p.stimulus_target()
    t.heat("pack", 160.0)
    assert np.allclose(p.pack.cells.heater_W, 10.0)
    t.heat("cell[2]", 5.0)
    assert p.pack.cells.heater_W[2, 0] == pytest.approx(15.0)


def test_cut_link_silences_the_bms_and_restore_brings_it_back() -> None:
    p = plant()
    discharge(p, 10.0)
    t = p.stimulus_target()
    t.cut_link("bms", True)
    assert p.comms_lost and not p.bms.comms_ok
    p.step(p.bms.th["comms_timeout_s"] + 0.5)
    assert p.bms.alarms["comms_loss"] and not p.bms.contactor_closed
    assert t.link_cut("bms") and t.applied() == {"cut_link": {"bms": True}}
    t.cut_link("bms", False)
    p.step(0.5)
    assert not p.comms_lost and p.bms.comms_ok and not t.link_cut("bms")
    assert all(f.kind != "comms_loss" for f in p.faults)
    assert any("comms_loss removed" in text for _, text in p.log_events)


def test_restoring_a_cut_link_leaves_an_injected_comms_fault_in_place() -> None:
    p = plant()
    p.inject({"type": "comms_loss"})
    t = p.stimulus_target()
    t.cut_link("bms", True)
    t.release_all()
    assert p.comms_lost and not p.bms.comms_ok  # the cable is back; the BMS comms fault is not


def test_station_roles_name_the_link_of_their_capability() -> None:
    p = plant()
    t = p.stimulus_target()
    assert t.bind_role("bms_can", "bms") and t.bind_role("bms_modbus", "bms")
    assert not t.bind_role("psu", "psu")
    assert t.targets("cut_link") == ["bms", "bms_can", "bms_modbus"]
    t.cut_link("bms_can", True)
    assert p.comms_lost and t.link_cut("bms_modbus")  # one BMS, one communication state
    t.cut_link("bms_modbus", False)
    assert not p.comms_lost and t.applied() == {}
    with pytest.raises(ValueError, match="unknown link 'psu'; known: bms, bms_can, bms_modbus"):
        t.cut_link("psu", True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda t: t.sensor_override("cell_temp[0]", 30.0),
            r"unknown sensor channel 'cell_temp\[0\]'; known: cell_voltage\[0..15\], cell_temperature\[0..15\], pack_current",
        ),
        (lambda t: t.sensor_override("cell_voltage[16]", 3.0), r"unknown sensor channel 'cell_voltage\[16\]'"),
        (lambda t: t.gas_release("bump", {"CH4": 1.0}), "unknown gas species 'CH4'; known: H2, CO, VOC, HF"),
        (lambda t: t.gas_release("bump", {}), "no species given"),
        (lambda t: t.gas_release("bump", {"H2": 0.0}), "every rate is zero"),
        (lambda t: t.gas_release("bad name!", {"H2": 1.0}), "gas source name"),
        (
            lambda t: t.heat("cell[16]", 10.0),
            r"unknown heat zone 'cell\[16\]'; known: cell\[0..15\], cell\[0..15,0..4\], pack",
        ),
        (lambda t: t.heat("enclosure", 10.0), "unknown heat zone 'enclosure'"),
        (lambda t: t.cell_voltage_step(16, 3.0), r"unknown cell 16; known: 0..15"),
        (lambda t: t.cell_voltage_step(True, 3.0), "unknown cell True"),
        (lambda t: t.targets("freeze"), "unknown stimulus 'freeze'; known: gas_release"),
    ],
)
def test_unknown_names_are_refused_naming_the_known_ones(call, message) -> None:
    t = plant().stimulus_target()
    with pytest.raises(ValueError, match=message):
        call(t)
    assert t.applied() == {}


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.sensor_override("cell_voltage[0]", 5.5),
        lambda t: t.sensor_override("cell_temperature[0]", -45.0),
        lambda t: t.sensor_override("pack_current", float("nan")),
        lambda t: t.gas_release("bump", {"H2": -1.0}),
        lambda t: t.ventilation(-1.0),
        lambda t: t.heat("pack", 5001.0),
        lambda t: t.cell_voltage_step(0, float("inf")),
    ],
)
def test_values_outside_the_channel_span_are_out_of_range(call) -> None:
    t = plant().stimulus_target()
    with pytest.raises(SimRangeError):
        call(t)
    assert t.applied() == {}


def test_release_all_undoes_everything_applied() -> None:
    p = plant()
    t = p.stimulus_target()
    t.gas_release("a", {"H2": 1.0})
    t.sensor_override("cell_temperature[1]", 40.0)
    t.ventilation(60.0)
    t.heat("cell[2]", 10.0)
    t.cut_link("bms", True)
    t.cell_voltage_step(4, 3.6)
    assert set(t.applied()) == set(STIMULI)
    t.release_all()
    p.step(1.0)
    assert t.applied() == {}
    assert not p.gas.sources and p.gas.exhaust_flow_m3_per_h is None
    assert not p.pack.cells.heaters() and not p.comms_lost
    assert p.bms.cell_temperatures_reported_degC()[1] < 30.0 and p.bms.cell_voltages_reported_V()[4] != 3.6
