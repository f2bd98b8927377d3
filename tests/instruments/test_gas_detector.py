"""House-map gas/pressure detector against its simulator (plant enclosure gas model)."""

from __future__ import annotations

import pytest
from modbus_fixtures import SimBench, bench, role  # noqa: F401

from bench.units import Q_
from instruments.gas_detector import HouseGasDetector
from instruments.sim.modbus_gas import serve
from instruments.transports.modbus import ModbusExceptionError


def _open(b: SimBench) -> tuple[HouseGasDetector, object]:
    server = b.serve(serve, role("gas", "instruments.gas_detector:HouseGasDetector"))
    return HouseGasDetector(server.resource, name="gas", timeout=Q_(1, "s")), server


def test_identity_clean_air_and_thresholds(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    assert d.identity() == "house-map gas detector,GD,SIM-GD-0001,1.20"
    r = d.read()
    assert r.stage == 0 and r.alarms["healthy"] and not r.alarms["sensor_fault"]
    assert all(q.to("ppm").magnitude == 0 for q in r.ppm.values())
    assert r.pressure.to("Pa").magnitude == 0
    th = d.thresholds()
    assert th["stage1.H2"].to("ppm").magnitude == 50 and th["stage2.CO"].to("ppm").magnitude == 300
    assert th["stage1.HF"].to("ppm").magnitude == pytest.approx(5.0)
    assert "answering" in d.safe_state() and d.safe_state_order == 70
    d.close()


def test_reading_follows_gas_release_to_stage_2(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    bench.plant.inject(
        {
            "type": "thermal_runaway_precursor",
            "cell": 5,
            "heat_rate_degC_per_min": 6.0,
            "vent_temp_degC": 27.0,
            "gas_ppm_per_s": {"H2": 5.0, "CO": 2.0, "VOC": 2.0, "HF": 0.05},
        }
    )
    stages = []
    for _ in range(60):  # bounded: 60 x 5 s of virtual time
        bench.advance(5)
        r = d.read()
        stages.append(r.stage)
        gas = bench.plant.gas
        for g in ("H2", "CO", "VOC"):
            assert r.ppm[g].to("ppm").magnitude == pytest.approx(gas.ppm[g], abs=0.51)
        assert r.ppm["HF"].to("ppm").magnitude == pytest.approx(gas.ppm["HF"], abs=0.051)
        assert r.pressure.to("Pa").magnitude == pytest.approx(gas.pressure_Pa, abs=0.051)
        if r.stage == 2:
            break
    assert 1 in stages and stages[-1] == 2
    assert stages == sorted(stages)  # 0 -> 1 -> 2, never back while venting
    r = d.read()
    assert r.alarms["stage1"] and r.alarms["stage2"] and r.pressure.to("Pa").magnitude > 0
    assert d.lfl().to("percent").magnitude > 0
    d.close()


def test_sensor_fault_bits_and_read_fault(bench: SimBench) -> None:  # noqa: F811
    d, server = _open(bench)
    server.sim.sensor_faults.add("CO")
    r = d.read()
    assert r.alarms["sensor_fault_CO"] and r.alarms["sensor_fault"] and not r.alarms["healthy"]
    server.sim.regmap.faults.append({"on": "read", "code": 6})
    with pytest.raises(ModbusExceptionError) as exc:
        d.read()
    assert exc.value.code == 6 and "busy" in str(exc.value) and "register 100" in str(exc.value)
    with pytest.raises(ModbusExceptionError) as ro:  # read-only instrument
        d.bus.write_register(100, 1)
    assert ro.value.code == 2
    d.close()
