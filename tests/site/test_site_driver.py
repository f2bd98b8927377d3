"""The site controller and meter drivers (pysunspec2 over the bench link) against the simulated site."""

from __future__ import annotations

import pytest

from bench.units import Q_
from instruments.capabilities import PointNotImplemented
from instruments.errors import InstrumentTimeout
from instruments.sunspec_link import ControllerBusyError, SunSpecLink, WriteVerificationError
from instruments.sunspec_meter import SunSpecMeter
from instruments.sunspec_site import SunSpecSite


def _site(served, **kw):
    site = SunSpecSite(served.controller.resource, timeout=Q_(0.5, "s"), **kw)
    site.attach_clock(served)  # its waits advance the plant
    return site


def test_scan_finds_the_site_models_and_decodes_the_vendor_model_by_name(served):
    s = served()
    site = _site(s)
    try:
        assert {1, 701, 702, 704, 713, 714, 64901} <= set(site.models())
        assert site.models()[802] == 3 and site.models()[804] == 3
        plate = site.nameplate()
        assert plate["WMaxRtg"] == Q_(150, "kW") and plate["blocks"] == 3
        assert site.firmware() == {
            "controller": "2.4.1",
            "pcs": "5.0.3",
            "bms[1]": "1.8.0",
            "bms[2]": "1.8.0",
            "bms[3]": "1.8.0",
        }
        assert site.read_point("64901.OvVltLim").value == Q_(3.7, "V")
        assert site.status().state == "STANDBY" and site.status().alarms == []
        with s.lock:
            s.plant.stimulus_target().sensor_override("coolant_pressure", 90e3)
        s.step(3.0)
        st = site.status()
        assert st.alarms == ["PUMP_PSI_LOW"] and st.state == "SAFE_STOP"
    finally:
        site.close()


def test_power_command_is_followed_and_metered_with_export_positive(served):
    s = served()
    site, meter = _site(s), SunSpecMeter(s.meter.resource, timeout=Q_(0.5, "s"))
    try:
        site.enable(True)
        s.step(2.0)
        site.set_active_power(Q_(60, "kW"))
        s.step(10.0)
        assert abs(site.status().active_power - Q_(60, "kW")) < Q_(0.1, "kW")
        r = meter.read("poi")
        assert abs(r.active_power - Q_(60, "kW")) < Q_(0.2, "kW")
        assert r.energy_exported > Q_(0.1, "kWh") and meter.read("aux").active_power < Q_(0, "W")
        assert all(b.contactor_closed for b in site.blocks())
        assert site.safe_state().startswith("power setpoint 0 W")
        assert not any(b.contactor_closed for b in site.blocks())
    finally:
        site.close()
        meter.close()


def test_second_client_of_a_one_client_controller_is_told_plainly(served):
    s = served()
    first = _site(s)
    try:
        with pytest.raises(ControllerBusyError, match="accepts one Modbus client at a time"):
            _site(s)
    finally:
        first.close()


def test_dropped_requests_are_retried_and_each_retry_is_journalled(served):
    s = served()
    with s.lock:
        s.plant.drop_every_n = 4
    events = []
    link = SunSpecLink(s.controller.resource, name="site", timeout_s=0.2, retries=2)
    link.attach_journal(lambda kind, msg, data: events.append((kind, msg)))
    try:
        link.scan()
        assert link.stats["retries"] >= 1
        assert len([e for e in events if e[0] == "comms_retry"]) == link.stats["retries"]
        assert "no reply to read" in events[0][1]
    finally:
        link.close()


def test_retries_are_bounded_and_a_dead_link_raises_a_named_timeout(served):
    s = served()
    link = SunSpecLink(s.controller.resource, name="site", timeout_s=0.2, retries=1)
    try:
        with s.lock:
            s.plant.link_cut = True
        with pytest.raises(InstrumentTimeout, match="site: no reply to read 40000 count 2 after 2 attempts"):
            link.read(40000, 2)
    finally:
        link.close()


def test_device_refusing_function_06_gets_function_16_and_it_is_journalled(served):
    s = served({"controller": {"refuse_fc6": True}})
    site = _site(s)
    events = []
    site.attach_journal(lambda kind, msg, data: events.append(msg))
    try:
        site.write_point("704.WRmp", Q_(25, "percent/s"))
        assert site.read_point("704.WRmp").value == Q_(25, "percent/s")
        assert any("refuses function 06" in e for e in events)
    finally:
        site.close()


def test_a_write_the_device_does_not_keep_fails_point_write_verification(served):
    s = served()
    site = _site(s)
    try:
        with s.lock:  # the controller accepts WMax writes but keeps its own value (a firmware quirk)
            original = s.plant.set_setting
            s.plant.set_setting = lambda point, value: original(point, 140e3 if point == "702.WMax" else value)
        with pytest.raises(WriteVerificationError, match="MOD-3"):
            site.write_point("702.WMax", Q_(120, "kW"))
    finally:
        site.close()


def test_a_control_point_not_implemented_is_named_never_a_number(served):
    s = served({"controller": {"implemented": {"704.VarSet": False, "704.VarSetPct": False}}})
    site = _site(s)
    try:
        p = site.read_point("704.VarSet")
        assert p.implemented is False and p.value is None
        with pytest.raises(PointNotImplemented) as exc:
            site.set_reactive_power(Q_(10, "kVA"))
        assert exc.value.point == "704.VarSet"
    finally:
        site.close()


def test_active_power_falls_back_to_wsetpct_when_wset_is_not_implemented(served):
    s = served({"controller": {"implemented": {"704.WSet": False}}})
    site = _site(s)
    try:
        site.enable(True)
        s.step(2.0)
        site.set_active_power(Q_(75, "kW"))
        assert site.read_point("704.WSetMod").raw == 0
        assert site.read_point("704.WSetPct").value == Q_(50, "percent")
        s.step(10.0)
        assert abs(site.status().active_power - Q_(75, "kW")) < Q_(0.1, "kW")
    finally:
        site.close()


def test_write_from_an_address_off_the_allow_list_is_refused_and_the_link_comes_back(served):
    s = served()
    site = _site(s)
    try:
        result = site.probe_write_access("127.0.0.2")
        assert result.startswith("refused") and "exception 1" in result
        site.write_point("704.WRmp", Q_(20, "percent/s"))  # the held connection was re-opened
    finally:
        site.close()
    open_site = served({"controller": {"allow_write": ["*"]}})
    site = _site(open_site)
    try:
        assert site.probe_write_access("127.0.0.2").startswith("accepted")
    finally:
        site.close()
