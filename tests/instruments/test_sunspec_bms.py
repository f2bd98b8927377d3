"""SunSpec BMS driver against the simulated SunSpec server (plant BMS) over Modbus TCP."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from modbus_fixtures import SimBench, bench, role  # noqa: F401

from bench.units import Q_
from instruments.capabilities import BmsHistory, FaultReset
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentTimeout
from instruments.sim import modbus_gas
from instruments.sim.modbus_sunspec import serve
from instruments.sunspec_bms import MODELS, SunSpecBms


def _open(b: SimBench) -> tuple[SunSpecBms, object]:
    server = b.serve(serve, role("bms_modbus", "instruments.sunspec_bms:SunSpecBms"))
    return SunSpecBms(server.resource, name="bms_modbus", timeout=Q_(1, "s")), server


def test_point_tables_match_pysunspec2_models() -> None:
    sunspec2 = pytest.importorskip("sunspec2")
    base = Path(sunspec2.__file__).parent / "models" / "json"
    for mid, (fixed, flen, rep, rlen) in MODELS.items():
        group = json.loads((base / f"model_{mid}.json").read_text())["group"]
        names = [p["name"] for p in group["points"]][2:]  # without ID and L
        assert [p.name for p in fixed] == names, mid
        assert flen == sum(p["size"] for p in group["points"][2:]), mid
        if rep:
            sub = group["groups"][0]["points"]
            assert [p.name for p in rep] == [p["name"] for p in sub], mid
            assert rlen == sum(p["size"] for p in sub), mid
        for p, spec in zip(fixed, group["points"][2:], strict=True):
            assert p.sf == spec.get("sf"), (mid, p.name)


def test_discovery_and_identity(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    assert d.base == 40000
    assert d.models[1] == [(40002, 66)] and d.models[802] == [(40070, 62)] and d.models[803] == [(40134, 58)]
    assert len(d.models[805]) == 2  # 16 cells as 2 modules of 8
    assert d.identity() == "ESS Bench,SIM-BMS-SUNSPEC,SIM-BMS-0001,1.0.0"
    p = d.read_model(802)
    assert p["DoD"] is None and p["WarrDt"] is None and p["ReqW"] is None  # unimplemented markers
    assert p["Typ"] == 4
    d.close()


def test_no_sunspec_marker_is_a_clear_error(bench: SimBench) -> None:  # noqa: F811
    server = bench.serve(modbus_gas.serve, role("gas", "instruments.gas_detector:HouseGasDetector"))
    with pytest.raises(InstrumentError, match="no SunSpec marker") as exc:
        SunSpecBms(server.resource, timeout=Q_(0.5, "s"))
    assert "40000: exception 2" in str(exc.value) and "50000" in str(exc.value)


def test_status_matches_plant(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    bench.advance(5)
    st = d.status()
    bms = bench.plant.bms
    v = bms.cell_voltages_reported_V()
    t = bms.cell_temperatures_reported_degC()
    assert st.soc.to("percent").magnitude == pytest.approx(100 * bms.soc_mean, abs=0.05)
    assert st.pack_voltage.to("V").magnitude == pytest.approx(v.sum(), abs=0.05)
    assert st.pack_current.to("A").magnitude == pytest.approx(bms.current_reported_A, abs=0.05)
    assert st.cell_voltage_max.to("V").magnitude == pytest.approx(v.max(), abs=5e-4)
    assert st.cell_voltage_min.to("V").magnitude == pytest.approx(v.min(), abs=5e-4)
    assert st.cell_temperature_max.to("degC").magnitude == pytest.approx(t.max(), abs=0.05)
    assert st.cell_temperature_min.to("degC").magnitude == pytest.approx(t.min(), abs=0.05)
    assert st.max_charge_current.to("A").magnitude == pytest.approx(bms.max_charge_current_A, abs=0.05)
    assert st.max_discharge_current.to("A").magnitude == pytest.approx(bms.max_discharge_current_A, abs=0.05)
    assert st.state == "DISCONNECTED" and not st.contactor_closed and st.active_alarms() == []
    cells = d.cell_voltages()
    assert len(cells) == 16
    assert [c.to("V").magnitude for c in cells] == pytest.approx(list(v), abs=5e-4)
    temps = d.cell_temperatures()
    assert [c.to("degC").magnitude for c in temps] == pytest.approx(list(t), abs=0.05)
    d.close()


def test_contactor_requests_and_safe_state(bench: SimBench) -> None:  # noqa: F811
    d, server = _open(bench)
    d.attach_clock(bench.clock)  # poll in virtual time
    d.request_state("discharge")  # returns once the contactor aux confirms it closed
    assert server.sim.last_setop == 1
    assert bench.plant.bms.contactor_closed
    st = d.status()
    assert st.contactor_closed and st.state == "CONNECTED"
    with pytest.raises(InstrumentRangeError):
        d.request_state("run")
    assert "contactors open" in d.safe_state()
    assert server.sim.last_setop == 2
    assert not bench.plant.bms.contactor_closed and not d.status().contactor_closed
    assert d.safe_state_order == 40
    d.close()


def test_safe_state_raises_when_contactor_stays_closed(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    d.attach_clock(bench.clock)
    d.request_state("charge")
    bench.plant.inject({"type": "welded_contactor"})
    d.open_timeout_s = 0.5
    with pytest.raises(InstrumentError, match="contactor still closed"):
        d.safe_state()
    d.close()


def test_a_connect_the_bms_never_confirms_raises_naming_its_state(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    d.attach_clock(bench.clock)
    d.open_timeout_s = 0.5
    bench.plant.inject({"type": "stuck_temp_sensor", "cell": 3, "value_degC": 80.0})  # an alarm: BMS refuses
    bench.advance(2)
    with pytest.raises(InstrumentError, match=r"contactor still open .* SetOp CONNECT.*State"):
        d.request_state("charge")
    d.close()


def test_alarm_bits_follow_injected_over_temperature(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    assert not d.status().alarms["OVER_TEMP_ALARM"]
    bench.plant.inject({"type": "stuck_temp_sensor", "cell": 3, "value_degC": 80.0})
    bench.advance(3)
    st = d.status()
    assert st.alarms["OVER_TEMP_ALARM"] and st.alarms["OVER_TEMP_WARNING"]
    assert st.state == "FAULT" and st.max_charge_current.magnitude == 0.0
    assert st.cell_temperature_max.to("degC").magnitude == pytest.approx(80.0, abs=0.05)
    assert isinstance(d, FaultReset)
    d.reset_faults()  # the condition persists: the alarm stays
    bench.advance(1)
    assert d.status().alarms["OVER_TEMP_ALARM"]
    d.close()


def test_history_reports_cycle_count_soh_and_ratings_from_model_802(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    try:
        assert isinstance(d, BmsHistory)
        h = d.history()
        p = bench.plant
        assert h["source"] == "BMS (SunSpec model 802, ESS Bench,SIM-BMS-SUNSPEC,SIM-BMS-0001,1.0.0)"
        assert h["cycle_count"] == int(p.pack.charge_throughput_Ah / (2.0 * p.pack.nominal_capacity_Ah))
        assert h["soh"].to("percent").magnitude == pytest.approx(100 * p.bms.soh, abs=0.1)
        assert h["rated_capacity"].to("A*h").magnitude == pytest.approx(p.pack.nominal_capacity_Ah, rel=0.01)
        assert h["rated_energy"].to("kWh").magnitude > 0
        assert "events" not in h  # SunSpec keeps no event history: left out, not invented
    finally:
        d.close()


def test_comms_loss_makes_the_bms_silent(bench: SimBench) -> None:  # noqa: F811
    server = bench.serve(serve, role("bms_modbus", "instruments.sunspec_bms:SunSpecBms"))
    d = SunSpecBms(server.resource, timeout=Q_(0.3, "s"))
    bench.plant.inject({"type": "comms_loss"})
    with pytest.raises(InstrumentTimeout):
        d.status()
    d.close()


def test_outside_client_pysunspec2_reads_soc(bench: SimBench) -> None:  # noqa: F811
    client = pytest.importorskip("sunspec2.modbus.client")
    server = bench.serve(serve, role("bms_modbus", "instruments.sunspec_bms:SunSpecBms"))
    dev = client.SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=server.port, timeout=2)
    try:
        dev.scan()
        assert {802, 803, 804, 805} <= set(k for k in dev.models if isinstance(k, int))
        dev.battery[0].read()
        soc = dev.battery[0].SoC.cvalue
        assert soc == pytest.approx(100 * bench.plant.bms.soc_mean, abs=0.05)
        assert dev.battery[0].State.value == 1  # DISCONNECTED
        dev.lithium_ion_bank[0].read()
        assert not math.isnan(dev.lithium_ion_bank[0].ModTmpMax.cvalue)
    finally:
        dev.close()
