"""The simulated site's physics and control: energy accounting, PCS dynamics, sharing, protections."""

from __future__ import annotations

import pytest

from instruments.sim.site.plant import SitePlant
from instruments.sim.site.stimulus_target import SiteStimulusTarget


def _running(overrides=None, seed=1) -> SitePlant:
    p = SitePlant(overrides, seed=seed)
    for i in (1, 2, 3):
        p.block_setop(i, 1)
    p.step(2.0)
    p.set_setting("704.WSetEna", 1)
    return p


def test_poi_energy_is_the_integral_of_the_pcs_power_through_ramps_and_delays():
    p = _running()
    p.set_setting("704.WSet", 100e3)
    p.step(3600.0)
    # 0.3 s command delay, then a 20 %/s ramp to 100 kW (3.33 s): the rest of the hour at 100 kW
    ramp_s = 100e3 / (0.20 * 150e3)
    expected = 100e3 * (3600.0 - 0.3 - ramp_s) / 3600.0 + 0.5 * 100e3 * ramp_s / 3600.0
    assert p.poi_export_Wh == pytest.approx(expected, rel=2e-4)


def test_dc_side_pays_the_pcs_efficiency_in_both_directions():
    p = _running()
    p.set_setting("704.WSet", 75e3)
    p.step(600.0)
    dc = sum(b.power_W for b in p.blocks)
    assert dc == pytest.approx(75e3 / p.pcs.efficiency(75e3), rel=1e-3)
    p.set_setting("704.WSet", -75e3)
    p.step(600.0)
    dc = sum(b.power_W for b in p.blocks)
    assert dc == pytest.approx(-75e3 * p.pcs.efficiency(75e3), rel=1e-3)


def test_discharge_stops_at_the_soc_window_and_blocks_stay_together():
    p = _running({"blocks": {"soc0": 0.3}})
    p.set_setting("704.WSet", 150e3)
    for _ in range(200):  # bounded: until the controller stops the discharge
        p.step(60.0)
        if abs(p.pcs.p_W) < 1.0:
            break
    assert abs(p.pcs.p_W) < 1.0 and p.t_s < 3 * 3600
    socs = [b.soc for b in p.blocks]  # the BMS estimates the controller stopped on
    assert min(socs) >= 0.045 and max(socs) <= 0.055
    assert max(socs) - min(socs) < 0.005


def test_a_derated_block_gets_a_smaller_share_and_keeps_pace_in_soc():
    p = _running({"faults": [{"kind": "block_derated", "block": 2, "capacity_factor": 0.6}]})
    p.set_setting("704.WSet", 120e3)
    p.step(1800.0)
    powers = [b.power_W for b in p.blocks]
    assert powers[1] < 0.7 * powers[0]
    assert abs(p.blocks[1].soc - p.blocks[0].soc) < 0.01


def test_each_protective_condition_stops_the_site_within_the_alarm_delay():
    for channel, value in (
        ("block[0].cell_voltage[2]", 3.72),
        ("block[1].cell_temperature[4]", 37.0),
        ("coolant_pressure", 100e3),
    ):
        p = _running()
        p.set_setting("704.WSet", 75e3)
        p.step(30.0)
        t0 = p.t_s
        p.stimulus_target().sensor_override(channel, value)
        p.step(1.5)
        assert p.state_name() == "SAFE_STOP", channel
        assert p.pcs.p_W == 0.0
        stop = [t for t, e in p.events if e.startswith("SAFE_STOP")][0]
        assert stop - t0 == pytest.approx(1.0, abs=0.06), channel
        p.step(1.0)
        assert not any(b.connected for b in p.blocks)


def test_a_cut_bms_link_stops_the_site_after_the_heartbeat_timeout():
    p = _running()
    p.set_setting("704.WSet", 75e3)
    p.step(30.0)
    t0 = p.t_s
    SiteStimulusTarget(p).cut_link("block[2].bms", True)
    p.step(10.0)
    assert p.alarms["COMMS_LOSS"]
    stop = [t for t, e in p.events if e.startswith("SAFE_STOP")][0]
    assert stop - t0 == pytest.approx(3.0 + 1.0, abs=0.1)  # CommsTmout + AlmDly


def test_alarms_stay_latched_until_reset_with_the_condition_gone():
    p = _running()
    target = p.stimulus_target()
    target.sensor_override("coolant_pressure", 100e3)
    p.step(3.0)
    p.alarm_reset()
    assert p.state_name() == "SAFE_STOP"  # condition still there
    target.sensor_override("coolant_pressure", None)
    p.step(1.0)
    p.alarm_reset()
    assert p.state_name() == "STANDBY" and not any(p.alarms.values())


def test_protection_defect_delays_only_its_function():
    p = _running({"faults": [{"kind": "protection_defect", "function": "coolant_pressure", "extra_delay_s": 100.0}]})
    p.stimulus_target().sensor_override("coolant_pressure", 100e3)
    p.step(50.0)
    assert p.state_name() != "SAFE_STOP"
    p.stimulus_target().sensor_override("block[0].cell_voltage[1]", 3.72)
    p.step(2.0)
    assert p.state_name() == "SAFE_STOP"


def test_reversed_ct_swaps_sign_and_registers_of_the_site_meter():
    p = _running({"faults": [{"kind": "ct_reversed"}]})
    p.set_setting("704.WSet", 50e3)
    p.step(60.0)
    w, _, exported, imported = p.meter_poi()
    assert w == pytest.approx(-50e3, rel=1e-3) and exported < 1.0 and imported > 0.5e3  # Wh


def test_bad_site_configuration_and_faults_are_refused_naming_the_key():
    with pytest.raises(ValueError, match="pcs.rated_power_W: expected a positive number"):
        SitePlant({"pcs": {"rated_power_W": -1}})
    with pytest.raises(ValueError, match="blocks.colour: unknown key"):
        SitePlant({"blocks": {"colour": "red"}})
    with pytest.raises(ValueError, match=r"faults\[0\].block: 7 outside 1..3"):
        SitePlant({"faults": [{"kind": "block_offline", "block": 7}]})
    with pytest.raises(ValueError, match="unknown site fault 'meteor'"):
        SitePlant({"faults": [{"kind": "meteor"}]})
    with pytest.raises(ValueError, match="tracked_cells: 7 must divide cells_series 240"):
        SitePlant({"blocks": {"tracked_cells": 7}})


def test_stimulus_target_names_unknown_channels_and_refuses_gas():
    t = SitePlant().stimulus_target()
    with pytest.raises(ValueError, match="unknown site sensor channel 'block\\[0\\].humidity'"):
        t.sensor_override("block[0].humidity", 1.0)
    with pytest.raises(ValueError, match="block index 5 outside 0..2"):
        t.cut_link("block[5].bms", True)
    with pytest.raises(NotImplementedError, match="no off-gas model"):
        t.gas_release("vent", {"H2": 1.0})
