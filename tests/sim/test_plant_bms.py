"""BMS protections, trip timing, contactor state machine, derating and estimation."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.sim.plant import Plant, get_preset
from instruments.sim.plant.bms import CHARGE, DISCHARGE, ERROR, STANDBY


def plant(preset: str = "lfp_module_16s1p", mode: str | None = "discharge", seed: int = 4, **over) -> Plant:
    p = Plant.from_config(get_preset(preset, **over), seed=seed)
    if mode:
        p.bms.request_state(mode)
        p.step(2.0)
        assert p.bms.contactor_closed
    return p


def run_until(p: Plant, cond, limit_s: float, dt: float = 1.0) -> float:
    t0 = p.t_s
    while p.t_s - t0 < limit_s:
        p.step(dt)
        if cond():
            return p.t_s
    raise AssertionError(f"condition not reached in {limit_s} s: {p.snapshot()}")


def assert_tripped(p: Plant, alarm: str, code: int) -> None:
    b = p.bms
    assert b.alarms[alarm], b.alarms
    assert code in b.fault_codes
    assert b.state == ERROR and not b.contactor_closed
    p.step(1.0)
    assert p.pack.current_A == 0.0
    assert b.max_charge_current_A == 0.0 and b.max_discharge_current_A == 0.0


def test_state_machine_precharge_close_open() -> None:
    p = plant(mode=None)
    b = p.bms
    assert b.state == STANDBY and not b.contactor_closed
    b.request_state(2)
    p.step(0.3)
    assert b.state_name == "PRECHARGE" and b.contactor_path == 1
    p.step(0.5)
    assert b.state == CHARGE and b.contactor_closed
    assert b.event_time("contactor close") == pytest.approx(0.52, abs=0.03)
    b.request_state("discharge")
    p.step(0.1)
    assert b.state == DISCHARGE and b.contactor_closed
    b.request_state("standby")
    p.step(1.0)
    assert b.state == STANDBY and not b.contactor_closed


def test_precharge_fails_when_bus_held_far_from_pack() -> None:
    p = plant(mode=None)
    p.supply.set_voltage(20.0)
    p.supply.set_current_limit_pos(50.0)
    p.supply.set_output(True)
    p.bms.request_state("discharge")
    p.step(2.0)
    assert p.bms.alarms["precharge"] and 56 in p.bms.fault_codes and not p.bms.contactor_closed


def test_overvoltage_trips_after_delay() -> None:
    p = plant(mode="charge", pack={"soc0": 0.97}, bms={"noise_voltage_V": 0.0})
    s = p.supply
    s.set_voltage(64.0)
    s.set_current_limit_pos(40.0)
    s.set_output(True)
    th = p.bms.th["ov_alarm_V"]
    t_over = run_until(p, lambda: p.pack.cell_voltages_V().max() > th, 3600.0, dt=0.1)
    run_until(p, lambda: not p.bms.contactor_closed, 5.0, dt=0.1)
    assert_tripped(p, "cell_ov", 17)
    t_open = p.bms.event_time("contactor open")
    assert 0.8 <= t_open - t_over <= 1.3  # default 1 s delay (§4.7)
    assert p.bms.alarm_values["cell_ov"] > th


def test_undervoltage_trips_and_recovers() -> None:
    p = plant(pack={"soc0": 0.03})
    p.load.set_level("CC", 100.0)
    p.load.set_input(True)
    run_until(p, lambda: p.bms.alarms["cell_uv"], 3600.0)
    assert_tripped(p, "cell_uv", 20)
    p.load.set_input(False)
    p.step(600.0)  # relaxes above the threshold
    p.bms.request_state("discharge")
    p.step(1.0)
    assert p.bms.state == ERROR  # no recovery without a standby request
    p.bms.request_state("standby")
    p.step(1.0)
    assert p.bms.state == STANDBY and p.bms.fault_codes == []


def test_overcurrent_trips_within_100_ms() -> None:
    p = plant()
    p.bms.set_thresholds(oc_discharge_alarm_A=80.0)  # the 6 kW load cannot reach 1.5 C at 52 V
    t_on = p.t_s
    p.load.set_level("CC", 100.0)
    p.load.set_input(True)
    p.step(1.0)
    assert_tripped(p, "oc_discharge", 48)
    dt_open = p.bms.event_time("contactor open") - t_on
    assert 0.1 <= dt_open <= 0.13


def test_charge_overcurrent() -> None:
    p = plant(mode="charge")
    p.supply.set_voltage(60.0)
    p.supply.set_current_limit_pos(90.0)  # above 0.75 C = 75 A
    p.supply.set_output(True)
    p.step(1.0)
    assert_tripped(p, "oc_charge", 47)


def test_overtemperature_trips() -> None:
    p = plant()
    p.bms.set_thresholds(ot_discharge_alarm_degC=40.0)
    c = p.chamber
    c.set_setpoint_degC(60.0)
    c.set_running(True)
    run_until(p, lambda: p.bms.alarms["cell_ot"], 4 * 3600.0, dt=5.0)
    assert p.bms.warnings["cell_ot"] is False or p.bms.T_max > p.bms.th["ot_warn_degC"]
    assert_tripped(p, "cell_ot", 26)
    assert p.bms.alarm_values["cell_ot"] > 40.0


def test_undertemperature_trips() -> None:
    p = plant(mode=None, chamber={"T0_degC": -35.0, "setpoint_degC": -35.0, "running": True})
    p.step(5.0)
    assert_tripped(p, "cell_ut", 32)


def test_derating_and_cold_charge_inhibit() -> None:
    warm = plant(mode=None)
    nominal = warm.bms.max_charge_current_A
    assert nominal == pytest.approx(50.0)
    cool = plant(mode=None, chamber={"T0_degC": 5.0, "setpoint_degC": 5.0, "running": True})
    cool.step(2.0)
    assert 0.0 < cool.bms.max_charge_current_A < 0.5 * nominal
    assert cool.bms.max_discharge_current_A > cool.bms.max_charge_current_A
    cold = plant(mode="charge", chamber={"T0_degC": -3.0, "setpoint_degC": -3.0, "running": True})
    assert cold.bms.max_charge_current_A == 0.0 and cold.bms.max_discharge_current_A > 0.0
    s = cold.supply
    s.set_voltage(58.0)
    s.set_current_limit_pos(20.0)
    s.set_output(True)
    cold.step(1.0)
    assert cold.bms.warnings["cold_charge"]
    cold.step(6.0)
    assert_tripped(cold, "charge_over_limit", 35)


def test_balancing_bleeds_high_cell() -> None:
    p = plant(mode=None, pack={"soc0": 0.995, "soc_spread": 0.0})
    p.pack.cells.soc[7, 0] += 0.01
    p.step(20.0)
    b = p.bms
    assert b.balancing[7] and b.balancing.sum() == 1
    assert p.pack.bleed_A[7] == pytest.approx(p.pack.block_V[7] / b.th["bleed_ohm"], rel=1e-3)
    gap0 = p.pack.soc()[7] - np.delete(p.pack.soc(), 7).mean()
    p.step(3600.0)
    gap1 = p.pack.soc()[7] - np.delete(p.pack.soc(), 7).mean()
    assert gap1 < gap0 - 0.0009  # ~0.11 A for an hour out of 100 Ah


def test_soc_estimate_tracks_truth() -> None:
    p = plant(preset="nmc_14s", pack={"soc0": 0.8})
    assert abs(p.bms.soc_mean - p.pack.soc().mean()) < 0.02
    p.load.set_level("CC", 30.0)
    p.load.set_input(True)
    p.step(3600.0)
    assert p.bms.soc_mean == pytest.approx(p.pack.soc().mean(), abs=0.02)
    assert p.bms.soc_min <= p.bms.soc_max
    assert 0.9 < p.bms.soh <= 1.0


def test_soh_estimated_between_rests_on_nmc() -> None:
    p = plant(preset="nmc_14s", pack={"soc0": 0.9}, faults=[{"type": "weak_cell", "cell": 3, "capacity_factor": 0.85}])
    p.bms.set_thresholds(rest_time_s=600.0)
    p.step(700.0)  # first rest point: anchor
    p.load.set_level("CC", 30.0)
    p.load.set_input(True)
    p.step(5400.0)
    p.load.set_input(False)
    p.step(700.0)  # second rest point: capacity estimate
    assert p.bms.event_time("capacity estimate") is not None
    est = p.bms.capacity_est_Ah
    assert est[3] < np.delete(est, 3).min()
    assert 0.85 < p.bms.soh < 0.95  # filtered: moves halfway to the new estimate per rest pair


def test_insulation_alarm_from_low_isolation() -> None:
    p = plant()
    assert p.bms.insulation_resistance_ohm == pytest.approx(50e6)
    p.inject({"type": "low_insulation", "isolation_ohm": 2e3})
    p.step(20.0)
    assert p.bms.insulation_resistance_ohm < 3e3
    assert_tripped(p, "insulation", 100)


def test_thresholds_are_configurable_from_config() -> None:
    p = plant(mode=None, bms={"ov_alarm_V": 3.9, "comms_timeout_s": 5.0})
    assert p.bms.th["ov_alarm_V"] == 3.9 and p.bms.th["comms_timeout_s"] == 5.0
    with pytest.raises(KeyError):
        p.bms.set_thresholds(no_such_key=1)


def test_heartbeat_and_reported_values() -> None:
    p = plant(mode=None)
    hb = p.bms.heartbeat
    p.step(1.0)
    assert p.bms.heartbeat == (hb + 10) & 0xFF
    v = p.bms.cell_voltages_reported_V()
    assert v.shape == (16,) and np.allclose(v, p.pack.cell_voltages_V(), atol=0.005)
    T = p.bms.cell_temperatures_reported_degC()
    assert np.allclose(T, 25.0, atol=0.5)


def test_hil_sensor_override_trips_ov_with_recorded_timing() -> None:
    p = plant()
    t0 = p.t_s
    p.inject({"type": "sensor_override", "kind": "voltage", "cell": 3, "value": 3.80})
    p.step(2.0)
    assert_tripped(p, "cell_ov", 17)
    assert p.bms.event_time("contactor open") - t0 == pytest.approx(1.0, abs=0.03)
    assert p.bms.alarm_values["cell_ov"] == pytest.approx(3.80)
    assert p.pack.cell_voltages_V().max() < 3.5  # the cells themselves are fine
    p.bms.set_sensor_override("voltage", 3, None)
    p.bms.request_state("standby")
    p.step(1.0)
    assert p.bms.state == ERROR  # alarms are held for alarm_hold_s before a recovery
    p.step(p.bms.th["alarm_hold_s"])
    assert p.bms.state == STANDBY and not p.bms.fault_codes


def test_hil_current_override_trips_oc() -> None:
    p = plant()
    p.bms.set_sensor_override("current", value=-200.0)
    p.step(0.5)
    assert_tripped(p, "oc_charge", 47)


@pytest.mark.parametrize(
    "kind,value,alarm,code,delay_key",
    [
        ("voltage", 2.0, "cell_uv", 20, "uv_delay_s"),
        ("temperature", 75.0, "cell_ot", 26, "ot_delay_s"),
        ("temperature", -40.0, "cell_ut", 32, "ut_delay_s"),
    ],
)
def test_protection_delays_via_hil_override(kind: str, value: float, alarm: str, code: int, delay_key: str) -> None:
    p = plant()
    p.bms.set_thresholds(**{delay_key: 2.5})
    t0 = p.t_s
    p.bms.set_sensor_override(kind, 9, value)
    p.step(2.4)
    assert p.bms.contactor_closed and not p.bms.alarms[alarm]
    p.step(0.2)
    assert_tripped(p, alarm, code)
    assert p.bms.event_time(f"alarm {alarm}") - t0 == pytest.approx(2.5, abs=0.03)
