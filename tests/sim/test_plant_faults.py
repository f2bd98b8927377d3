"""Every injectable fault produces its observable symptom; thermal behaviour of the pack."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.sim.plant import Plant, get_preset
from instruments.sim.plant.bms import ERROR


def plant(preset: str = "lfp_module_16s1p", mode: str | None = "discharge", **over) -> Plant:
    p = Plant.from_config(get_preset(preset, **over), seed=5)
    if mode:
        p.bms.request_state(mode)
        p.step(2.0)
        assert p.bms.contactor_closed
    return p


def discharge(p: Plant, amps: float) -> None:
    p.load.set_mode("CC", "H")
    p.load.set_level("CC", amps)
    p.load.set_input(True)


def test_temperatures_rise_under_load_and_relax_to_chamber_air() -> None:
    p = plant(pack={"soc0": 0.9})
    p.chamber.set_running(True)
    T0 = p.pack.cell_temperatures_degC().copy()
    discharge(p, 100.0)
    p.step(1800.0)
    T1 = p.pack.cell_temperatures_degC()
    assert np.all(T1 > T0 + 1.0)
    inner, outer = T1[1:-1].mean(), T1[[0, -1]].mean()
    assert inner > outer  # end cells lose heat to one neighbour fewer
    p.load.set_input(False)
    p.step(3 * 3600.0)
    T2 = p.pack.cell_temperatures_degC()
    assert np.all(np.abs(T2 - p.chamber.air_temperature_degC) < 0.2)


def test_weak_cell_has_less_capacity() -> None:
    p = plant(faults=[{"type": "weak_cell", "cell": 9, "capacity_factor": 0.6}])
    cap = p.pack.block_capacity_Ah()
    assert cap[9] == pytest.approx(0.6 * np.delete(cap, 9).mean(), rel=0.03)


def test_high_resistance_cell_shows_larger_ir_drop() -> None:
    p = plant(faults=[{"type": "high_resistance_cell", "cell": 4, "resistance_factor": 3.0}])
    ocv = p.pack.ocv_V()
    discharge(p, 100.0)
    p.step(0.5)
    drop = ocv - p.pack.cell_voltages_V()
    others = np.delete(drop, 4)
    assert drop[4] > 2.5 * others.mean() and int(np.argmax(drop)) == 4


def test_soft_short_drifts_ocv_faster_at_rest() -> None:
    p = plant(mode=None, pack={"soc0": 0.2}, faults=[{"type": "soft_short", "cell": 11, "leak_ohm": 10.0}])
    ocv0 = p.pack.ocv_V()
    soc0 = p.pack.soc()
    p.step(24 * 3600.0)
    dsoc = soc0 - p.pack.soc()
    assert dsoc[11] > 20 * np.delete(dsoc, 11).max()
    assert dsoc[11] == pytest.approx(3.2 / 10.0 * 24 / 100.0, rel=0.15)
    docv = ocv0 - p.pack.ocv_V()
    assert docv[11] > 5 * np.delete(docv, 11).max()
    heat_rise = p.pack.cell_temperatures_degC()[11] - np.delete(p.pack.cell_temperatures_degC(), 11).mean()
    assert heat_rise > 0.05


def test_thermal_runaway_precursor_heats_gasses_and_alarms() -> None:
    p = plant(
        faults=[
            {
                "type": "thermal_runaway_precursor",
                "cell": 6,
                "heat_rate_degC_per_min": 6.0,
                "vent_temp_degC": 90.0,
                "at_s": 60.0,
            }
        ]
    )
    T0 = p.pack.cell_temperatures_degC()[6]
    p.step(600.0)
    T = p.pack.cell_temperatures_degC()
    assert T[6] > T0 + 25.0 and int(np.argmax(T)) == 6
    b = p.bms
    assert b.alarms["temp_rise_rate"] and b.state == ERROR and not b.contactor_closed
    t_ror = b.event_time("alarm temp_rise_rate")
    assert 60.0 < t_ror < 300.0
    while p.gas.ppm["H2"] == 0.0 and p.t_s < 3600.0:
        p.step(10.0)
    p.step(120.0)
    assert p.gas.ppm["H2"] > 100.0 and b.gas_ppm["VOC"] > 100.0
    assert b.gas_stage >= 1 and b.alarms["pressure"]
    assert b.enclosure_pressure_Pa > 100.0
    assert any("vented" in e for _, e in p.log_events)


def test_stuck_sensor_reports_constant_temperature() -> None:
    p = plant(mode=None, faults=[{"type": "stuck_temp_sensor", "cell": 2}])
    stuck = p.bms.cell_temperatures_reported_degC()[2]
    p.chamber.set_setpoint_degC(45.0)
    p.chamber.set_running(True)
    p.step(3600.0)
    rep = p.bms.cell_temperatures_reported_degC()
    true = p.pack.cell_temperatures_degC()
    assert rep[2] == stuck and true[2] > stuck + 10.0
    assert np.allclose(np.delete(rep, 2), np.delete(true, 2), atol=0.5)


def test_comms_loss_opens_contactor_after_timeout() -> None:
    p = plant(faults=[{"type": "comms_loss", "at_s": 20.0}])
    discharge(p, 20.0)
    p.step(19.5 - p.t_s)
    assert p.bms.comms_ok and p.bms.contactor_closed
    p.step(5.0)
    assert p.comms_lost and not p.bms.comms_ok
    assert not p.bms.contactor_closed and p.bms.alarms["comms_loss"] and 5 in p.bms.fault_codes
    assert p.bms.event_time("contactor open") == pytest.approx(20.0 + p.bms.th["comms_timeout_s"], abs=0.05)
    p.bms.comms_ok = True  # a server cannot override the injected loss
    p.step(1.0)
    assert not p.bms.comms_ok


def test_server_reported_comms_loss_and_recovery() -> None:
    p = plant()
    p.bms.comms_ok = False
    p.step(1.0)
    assert p.bms.contactor_closed
    p.bms.comms_ok = True
    p.step(5.0)
    assert p.bms.contactor_closed and not p.bms.alarms["comms_loss"]


def test_welded_contactor_stays_closed_after_trip() -> None:
    p = plant(faults=[{"type": "welded_contactor"}])
    discharge(p, 20.0)
    p.step(1.0)
    p.bms.set_thresholds(ov_alarm_V=3.0)  # force a trip
    p.step(2.0)
    b = p.bms
    assert b.alarms["cell_ov"] and b.state == ERROR and b.contactor_commanded == 0
    assert b.contactor_closed and p.pack.current_A == pytest.approx(20.0, abs=0.01)
    assert b.alarms["contactor_welded"] and 55 in b.fault_codes


def test_failed_balancer_never_bleeds() -> None:
    results = {}
    for failed in (False, True):
        faults = [{"type": "failed_balancer"}] if failed else []
        p = plant(mode=None, pack={"soc0": 0.995, "soc_spread": 0.0}, faults=faults)
        p.pack.cells.soc[7, 0] += 0.01
        soc0 = p.pack.soc()[7]
        p.step(3600.0)
        assert p.bms.balancing[7]  # the BMS believes it balances either way
        results[failed] = soc0 - p.pack.soc()[7]
        if failed:
            assert np.all(p.pack.bleed_A == 0.0)
    assert results[False] > results[True] + 0.0009


def test_instrument_error_queue() -> None:
    p = plant(mode=None)
    p.inject({"type": "instrument_error", "name": "psu", "count": 2, "code": -222, "message": "Data out of range"})
    assert len(p.instrument_faults["psu"]) == 2
    assert p.take_instrument_fault("psu") == {"code": -222, "message": "Data out of range"}
    assert p.take_instrument_fault("psu")["code"] == -222
    assert p.take_instrument_fault("psu") is None and p.take_instrument_fault("load") is None


def test_fault_validation_and_snapshot() -> None:
    p = plant(mode=None)
    with pytest.raises(ValueError):
        p.inject({"type": "no_such_fault"})
    with pytest.raises(ValueError):
        p.inject({"type": "weak_cell", "cell": 99})
    f = p.inject({"type": "high_resistance_cell", "cell": 1, "at_s": 100.0})
    assert not f.active
    p.step(100.0)
    assert f.active and p.pack.cells.resistance_factor[1, 0] == 3.0
    snap = p.snapshot()
    assert snap["faults"][0]["type"] == "high_resistance_cell" and snap["faults"][0]["active"]
    assert snap["bms"]["state"] == "STANDBY"
