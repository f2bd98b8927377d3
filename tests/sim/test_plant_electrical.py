"""Electrical core of the plant: OCV tables, coulomb counting, CC-CV taper, weak cell, stability."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.sim.plant import Plant, SimRangeError, get_preset
from instruments.sim.plant.chemistry import CHEMISTRIES


def closed(preset: str, seed: int = 0, mode: str = "discharge", **over) -> Plant:
    p = Plant.from_config(get_preset(preset, **over), seed=seed)
    p.bms.request_state(mode)
    p.step(2.0)
    assert p.bms.contactor_closed
    return p


@pytest.mark.parametrize("name", sorted(CHEMISTRIES))
def test_ocv_curves_strictly_monotonic(name: str) -> None:
    chem = CHEMISTRIES[name]
    soc = np.linspace(0.0, 1.0, 2001)
    ocv = chem.ocv(soc)
    assert np.all(np.diff(ocv) > 0)
    assert chem.v_min_V - 0.01 <= ocv[0] < ocv[-1] <= chem.v_max_V
    assert np.allclose(chem.soc_from_ocv(ocv), soc, atol=1e-9)


def test_lfp_plateau_flatter_than_nmc() -> None:
    lfp, nmc = CHEMISTRIES["LFP"], CHEMISTRIES["NMC"]
    assert lfp.ocv(0.8) - lfp.ocv(0.3) < 0.1 < nmc.ocv(0.8) - nmc.ocv(0.3)


def test_coulomb_counting_closes() -> None:
    p = closed("lfp_module_16s1p", pack={"soc0": 0.8})
    p.chamber.set_running(True)
    soc0 = p.pack.cells.soc.copy()
    ah0 = p.pack.charge_out_Ah
    p.load.set_mode("CC", "H")
    p.load.set_level("CC", 50.0)
    p.load.set_input(True)
    for _ in range(3600):
        p.step(1.0)
    ah = p.pack.charge_out_Ah - ah0
    assert ah == pytest.approx(50.0, rel=0.002)
    cells = p.pack.cells
    dsoc_ah = (soc0 - cells.soc) * cells.capacity_Ah * cells.capacity_factor
    assert np.all(np.abs(dsoc_ah[:, 0] - ah) / ah < 0.005), dsoc_ah.ravel() / ah


def test_cc_cv_charge_ends_on_taper() -> None:
    p = closed("lfp_16s5p", mode="charge", pack={"soc0": 0.85})
    s = p.supply
    v_set = 3.65 * 16
    s.set_voltage(v_set)
    s.set_current_limit_pos(100.0)
    s.set_output(True)
    p.step(10.0)
    assert s.mode == "CC" and s.current_A == pytest.approx(100.0)
    c20 = p.pack.nominal_capacity_Ah / 20.0
    seen_cv = False
    for _ in range(4 * 3600):
        p.step(1.0)
        seen_cv = seen_cv or s.mode == "CV"
        if s.mode == "CV" and s.current_A < c20:
            break
    assert seen_cv
    assert s.current_A < c20
    assert p.bus.voltage_V == pytest.approx(v_set, abs=0.01)
    assert abs(s.measure_voltage_V() - v_set) < 0.01
    assert p.pack.current_A == pytest.approx(-s.current_A, abs=1e-3)  # bus bleeder takes µA
    assert p.pack.soc().min() > 0.97
    assert p.bms.contactor_closed and not any(p.bms.alarms.values())


@pytest.mark.parametrize("dt", [1.0, 10.0, 60.0])
def test_stable_for_long_steps(dt: float) -> None:
    p = closed("nmc_14s", mode="charge", pack={"soc0": 0.9})
    s = p.supply
    s.set_voltage(4.15 * 14)
    s.set_current_limit_pos(30.0)
    s.set_output(True)
    currents = []
    for _ in range(int(7200 / dt)):
        p.step(dt)
        currents.append(s.current_A)
        assert p.bus.voltage_V <= 4.15 * 14 + 1e-9
    tail = np.array(currents[len(currents) // 2 :])
    # decays without oscillating; balancing bleeds switching on/off move it by ~0.01 A only
    assert np.all(np.diff(tail) <= 0.05), "CV taper must decay, not oscillate"
    assert tail[-1] < 0.5
    assert np.all(np.isfinite(p.pack.cells.soc)) and p.pack.soc().max() < 1.05


def test_weak_cell_hits_cutoff_first() -> None:
    p = closed("nmc_14s", faults=[{"type": "weak_cell", "cell": 5, "capacity_factor": 0.8}])
    p.load.set_mode("CC", "H")
    p.load.set_level("CC", 60.0)
    p.load.set_input(True)
    for _ in range(2 * 3600):
        p.step(1.0)
        v = p.pack.cell_voltages_V()
        if v.min() < 2.6:
            break
    assert v.min() < 2.6
    assert int(np.argmin(v)) == 5
    assert int(np.argmin(p.bms.cell_voltages_reported_V())) == 5


def test_parallel_cells_share_voltage_and_split_current() -> None:
    p = closed("lfp_16s5p", faults=[{"type": "high_resistance_cell", "cell": 2, "par": 1, "resistance_factor": 4}])
    p.load.set_level("CC", 100.0)
    p.load.set_input(True)
    p.step(5.0)
    v = p.pack.cell_voltages_all_V()
    assert np.allclose(v, v[:, :1], atol=1e-9)
    i = p.pack.cells.i_A
    assert np.allclose(i.sum(axis=1), 100.0 + p.pack.bleed_A, rtol=1e-6)
    assert i[2, 1] < 0.6 * np.delete(i[2], 1).mean()


def test_open_contactor_bus_follows_supply() -> None:
    p = Plant.from_config("lfp_16s5p")
    assert not p.bms.contactor_closed
    p.step(1.0)
    assert p.bus.voltage_V == 0.0 and p.pack.current_A == 0.0
    p.supply.set_voltage(30.0)
    p.supply.set_output(True)
    p.step(1.0)
    assert p.bus.voltage_V == pytest.approx(30.0)
    assert p.supply.current_A == pytest.approx(0.0, abs=1e-3)
    assert p.pack.current_A == 0.0
    assert p.pack.voltage_V == pytest.approx(p.pack.ocv_total_V(), abs=0.01)


def test_sign_conventions_in_sink_mode() -> None:
    p = closed("lfp_module_16s1p")
    s = p.supply
    s.set_voltage(40.0)  # below the pack: the supply sinks at its negative limit
    s.set_current_limit_neg(-30.0)
    s.set_output(True)
    p.step(5.0)
    assert s.current_A == pytest.approx(-30.0)
    assert p.pack.current_A == pytest.approx(30.0, abs=1e-3)
    assert s.status_operation() == 2 and s.status_questionable() & 256
    assert s.measure_power_W() < 0


def test_supply_rated_limits_raise() -> None:
    s = Plant.from_config("lfp_16s5p").supply
    for call, value in [
        (s.set_voltage, 81.0),
        (s.set_current_limit_pos, 201.0),
        (s.set_current_limit_neg, 5.0),
        (s.set_power_limit, 13_000.0),
        (s.set_ovp, 100.0),
        (s.set_current, -250.0),
    ]:
        with pytest.raises(SimRangeError):
            call(value)
    s.set_voltage(48.0)
    assert s.get_voltage() == 48.0


def test_power_limit_clamps_charge_current() -> None:
    p = closed("lfp_16s5p", mode="charge")
    s = p.supply
    s.set_voltage(58.0)
    s.set_current_limit_pos(100.0)
    s.set_power_limit(1000.0)
    s.set_output(True)
    p.step(2.0)
    assert s.voltage_V * s.current_A == pytest.approx(1000.0, rel=1e-4)
    assert s.status_questionable() & 8


def test_config_typos_are_rejected() -> None:
    for bad in ({"pakc": {}}, {"pack": {"n_seris": 16}}, {"bms": {"ov_alarm": 3.7}}, {"sim": {"max_step": 1}}):
        cfg = get_preset("lfp_module_16s1p")
        for k, v in bad.items():
            cfg[k] = v
        with pytest.raises(ValueError, match=next(iter(v)) if v else "pakc"):
            Plant.from_config(cfg)
    with pytest.raises(ValueError):
        get_preset("no_such_preset")


def test_cold_cuts_accessible_capacity_and_gives_it_back() -> None:
    delivered = {}
    for T in (25.0, -10.0):
        p = closed("lfp_module_16s1p", pack={"soc0": 0.4}, chamber={"T0_degC": T, "setpoint_degC": T, "running": True})
        p.load.set_level("CC", 40.0)
        p.load.set_input(True)
        while p.pack.cell_voltages_V().min() > 2.6 and p.t_s < 5 * 3600:
            p.step(5.0)
        p.load.set_input(False)
        delivered[T] = p.pack.charge_out_Ah
        if T < 0:
            ocv_cold = p.pack.ocv_V().min()
            p.chamber.set_setpoint_degC(25.0)
            p.step(3 * 3600.0)
            assert p.pack.ocv_V().min() > ocv_cold + 0.3  # the charge left inside shows up warm
    assert delivered[-10.0] < 0.93 * delivered[25.0]


def test_long_clock_steps_at_rest_match_one_second_steps() -> None:
    end = {}
    for dt in (1.0, 600.0):
        p = Plant.from_config(get_preset("lfp_module_16s1p", pack={"soc0": 0.15}), seed=7)
        p.chamber.set_setpoint_degC(35.0)
        p.chamber.set_running(True)
        for _ in range(int(7200 / dt)):
            p.step(dt)
        end[dt] = (p.pack.soc(), p.pack.cell_temperatures_degC(), p.pack.ocv_V())
    for a, b in zip(end[1.0], end[600.0], strict=True):
        assert np.allclose(a, b, rtol=1e-4, atol=2e-3)
