"""Keysight RP7900 driver: against the simulated supply on the plant, and against scripted exchanges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scpi_fixtures import SimRig, start_sim
from scripted_scpi import SILENT, ScriptedScpiServer

from bench.units import Q_
from instruments.capabilities import PowerSupply, SupplyPriority
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentTimeout
from instruments.keysight_rp7900 import KeysightRP7900
from instruments.scpi_settings import Setting, Switch, declared
from instruments.sim.scpi_rp7900 import serve

IDN = "Keysight Technologies,RP7952A,MY00000001,B.01.07"
NO_ERR = ("SYST:ERR?", '+0,"No error"')


@pytest.fixture
def rig() -> Iterator[SimRig]:
    r = start_sim(serve, "psu", model="RP7952A")
    yield r
    r.stop()


@pytest.fixture
def psu(rig: SimRig) -> Iterator[KeysightRP7900]:
    drv = KeysightRP7900(rig.resource, name="psu", timeout=Q_(2, "s"))
    yield drv
    drv.close()


def _bus_V(rig: SimRig) -> float:
    with rig.clock.lock:
        return float(rig.plant.bus.voltage_V)


def _sent(rig: SimRig) -> int:
    return len(rig.server.instrument.log)


# -- physics through the wire ---------------------------------------------------------------
def test_identity_defaults_and_capabilities(psu: KeysightRP7900) -> None:
    assert psu.identity() == "Keysight Technologies,RP7952A,SIM0001,B.01.07"
    assert psu.output() is False and psu.priority() == "VOLT"
    assert psu.protection_tripped() == [] and psu.operation_status() == ["OFF"]
    assert isinstance(psu, PowerSupply) and isinstance(psu, SupplyPriority)
    assert psu.bidirectional and psu.safe_state_order == 20


def test_cv_charge_is_current_limited_then_sink_limit_takes_current_back(rig: SimRig, psu: KeysightRP7900) -> None:
    rig.close_contactor()
    v0 = _bus_V(rig)
    psu.set_priority("VOLT")
    psu.set_ovp(Q_(v0 + 5, "V"))
    psu.set_current_limit(Q_(10, "A"), Q_(-15, "A"))
    psu.set_voltage(Q_(v0 + 2, "V"))  # far above the pack: the 10 A limit holds
    psu.set_output(True)
    rig.advance(2.0)
    assert psu.measure_current().to("A").magnitude == pytest.approx(10, abs=0.05)
    assert psu.operation_status() == ["CC"] and "LIM+" in psu.protection_tripped()
    assert rig.plant.pack.current_A == pytest.approx(-10, abs=0.05)  # the pack is charged
    psu.set_voltage(Q_(v0 - 2, "V"))  # below the pack: it sinks, up to the negative limit
    rig.advance(2.0)
    assert psu.measure_current().to("A").magnitude == pytest.approx(-15, abs=0.05)
    assert psu.measure_power().to("W").magnitude < 0
    assert psu.voltage_setpoint().to("V").magnitude == pytest.approx(v0 - 2, abs=1e-4)


def test_current_priority_sinks_the_set_current_inside_voltage_limits(rig: SimRig, psu: KeysightRP7900) -> None:
    rig.close_contactor()
    v0 = _bus_V(rig)
    psu.set_priority("CURR")
    psu.set_voltage_limits(Q_(v0 + 5, "V"), Q_(v0 - 10, "V"))
    psu.set_current(Q_(-20, "A"))
    psu.set_output(True)
    rig.advance(2.0)
    assert psu.priority() == "CURR"
    assert psu.measure_current().to("A").magnitude == pytest.approx(-20, abs=0.05)
    assert rig.plant.pack.current_A == pytest.approx(20, abs=0.05)  # the pack discharges into the supply


def test_ovp_trips_latches_and_clears(rig: SimRig, psu: KeysightRP7900) -> None:
    rig.close_contactor()
    v0 = _bus_V(rig)
    psu.set_current_limit(Q_(5, "A"), Q_(0, "A"))
    psu.set_voltage(Q_(v0 - 1, "V"))
    psu.set_ovp(Q_(v0 - 3, "V"))  # the pack holds the bus above it: trips at once
    psu.set_output(True)
    rig.advance(1.0)
    assert "OV" in psu.protection_tripped() and "PROT" in psu.protection_tripped()
    assert psu.output() is False
    psu.set_ovp(Q_(v0 + 5, "V"))
    psu.clear_protection()
    flags = psu.protection_tripped()
    assert "OV" not in flags and "PROT" not in flags


def test_uvp_level_is_range_checked_before_sending(rig: SimRig, psu: KeysightRP7900) -> None:
    """The defect named in issue 13: set_uvp sent its level unchecked."""
    before = _sent(rig)
    with pytest.raises(InstrumentRangeError, match="psu: under-voltage level 100 V outside 0..80 V"):
        psu.set_uvp(Q_(100, "V"), Q_(1, "s"))
    with pytest.raises(InstrumentRangeError, match="under-voltage delay 0 s outside 2.048e-05..2611 s"):
        psu.set_uvp(Q_(40, "V"), Q_(0, "s"))
    assert _sent(rig) == before
    psu.set_uvp(Q_(40, "V"), Q_(50, "ms"))
    with rig.clock.lock:
        assert rig.plant.supply.get_uvp() == (40.0, 0.05, True)


def test_out_of_rating_values_never_reach_the_instrument(rig: SimRig, psu: KeysightRP7900) -> None:
    before = _sent(rig)
    cases = [
        (lambda: psu.set_voltage(Q_(81, "V")), "voltage 81 V outside 0..80 V"),
        (lambda: psu.set_current(Q_(-201, "A")), "current -201 A outside -200..200 A"),
        (lambda: psu.set_current_limit(Q_(10, "A"), Q_(5, "A")), "negative current limit 5 A outside -200..0 A"),
        (lambda: psu.set_ovp(Q_(88.5, "V")), "OVP level 88.5 V outside 0..88 V"),
        (lambda: psu.set_power_limit(Q_(13, "kW")), "power limit 13000 W outside 0..12000 W"),
        (lambda: psu.set_voltage_limits(Q_(50, "V"), Q_(60, "V")), "low voltage limit 60 V above"),
        (lambda: psu.set_voltage(Q_(5, "A")), "voltage must be a quantity in V"),
        (lambda: psu.set_voltage(5), "voltage must be a quantity in V"),
        (lambda: psu.set_voltage(Q_(float("nan"), "V")), "voltage must be finite"),
        (lambda: psu.set_priority("POWER"), "priority must be VOLT or CURR"),
    ]
    for call, text in cases:
        with pytest.raises(InstrumentRangeError, match=text):
            call()
    assert _sent(rig) == before  # a pair (current limits) is checked whole before either is sent
    with rig.clock.lock:
        assert rig.plant.supply.get_current_limit_pos() == 200.0


def test_every_declared_setting_round_trips_through_the_simulator(rig: SimRig, psu: KeysightRP7900) -> None:
    """Driver and simulator serve one declaration: what the driver sends, the simulator applies,
    and the query form reads it back."""
    settings = declared(KeysightRP7900, Setting)
    assert len(settings) == 11
    for name, s in settings.items():
        lo, hi = s.bounds(psu.ratings)
        value = lo + 0.37 * (hi - lo)
        sent = psu.write_setting(s, Q_(value, s.unit))
        assert psu.read_setting(s).to(s.unit).magnitude == pytest.approx(sent, rel=1e-5), name
    switches = declared(KeysightRP7900, Switch)
    assert set(switches) == {"OUTPUT", "UVP_STATE", "OCP_STATE"}
    for name, sw in switches.items():
        for on in (True, False):
            psu.write_switch(sw, on)
            assert psu.read_switch(sw) is on, name
    for word in KeysightRP7900.PRIORITY.choices:
        psu.write_choice(KeysightRP7900.PRIORITY, word)
        assert psu.read_choice(KeysightRP7900.PRIORITY) == word


def test_simulator_refuses_what_the_declaration_refuses(rig: SimRig, psu: KeysightRP7900) -> None:
    """The same bounds on the wire: a raw command beyond them is -222 and not applied."""
    for s in (
        KeysightRP7900.VOLTAGE,
        KeysightRP7900.OVP,
        KeysightRP7900.CURRENT_LIMIT_NEG,
        KeysightRP7900.UVP_LEVEL,
        KeysightRP7900.UVP_DELAY,
    ):
        lo, hi = s.bounds(psu.ratings)
        for bad in (hi * 1.01 + 0.01, lo - abs(lo) * 0.01 - 0.01):
            with pytest.raises(InstrumentError, match='-222,"Data out of range"'):
                psu.conn.write_checked(f"{s.command} {bad:.6g}")
    with pytest.raises(InstrumentError, match='-224,"Illegal parameter value"'):
        psu.conn.write_checked("FUNC POW")
    psu.conn.write_checked("SOURCE:FUNCTION CURRENT")  # long forms and aliases are served too
    assert psu.priority() == "CURR"


def test_station_ratings_bound_the_driver_and_the_instrument_bounds_the_rest(rig: SimRig) -> None:
    small = KeysightRP7900(rig.resource, name="psu", rated_voltage="60 V")
    big = KeysightRP7900(rig.resource, name="psu", rated_voltage="100 V")  # wrongly declared
    try:
        with pytest.raises(InstrumentRangeError, match="voltage 70 V outside 0..60 V"):
            small.set_voltage(Q_(70, "V"))
        with pytest.raises(InstrumentError, match=r"'VOLT 90'; reply '-222,\"Data out of range\"'"):
            big.set_voltage(Q_(90, "V"))  # the instrument (80 V) refuses what the station allowed
    finally:
        small.close()
        big.close()
    with pytest.raises(InstrumentError, match="rated_voltage must be a positive finite quantity in V"):
        KeysightRP7900(rig.resource, name="psu", rated_voltage="-5 V")
    with pytest.raises(InstrumentError, match="rated_current must be a quantity in A"):
        KeysightRP7900(rig.resource, name="psu", rated_current="200 V")


def test_injected_instrument_fault_is_raised(rig: SimRig, psu: KeysightRP7900) -> None:
    with rig.clock.lock:
        rig.plant.inject({"type": "instrument_error", "name": "psu", "code": -200, "message": "Execution error"})
    with pytest.raises(InstrumentError, match=r"psu: instrument reported an error; command 'OUTP ON'"):
        psu.set_output(True)
    assert psu.output() is False


def test_safe_state_switches_off_and_confirms(rig: SimRig, psu: KeysightRP7900) -> None:
    psu.set_voltage(Q_(10, "V"))
    psu.set_output(True)
    assert psu.output() is True
    assert psu.safe_state() == "output off (confirmed OUTP? = 0)"
    assert psu.output() is False


def test_safe_state_raises_when_instrument_hangs(rig: SimRig) -> None:
    drv = KeysightRP7900(rig.resource, name="psu", timeout=Q_(0.3, "s"))
    rig.server.mute()
    try:
        with pytest.raises(InstrumentTimeout, match=r"psu: no reply within 300 ms; command 'OUTP\?'"):
            drv.safe_state()
    finally:
        rig.server.mute(False)
        drv.close()


# -- recorded exchanges -----------------------------------------------------------------------
def _driver(server: ScriptedScpiServer, timeout: float = 0.3) -> KeysightRP7900:
    return KeysightRP7900(server.resource, name="psu", timeout=Q_(timeout, "s"))


def test_wire_commands_are_the_short_forms() -> None:
    script = [
        ("*IDN?", IDN),
        ("FUNC VOLT", None),
        NO_ERR,
        ("VOLT:PROT 55.5", None),
        NO_ERR,
        ("VOLT:PROT?", "+5.550000E+01"),
        ("CURR:LIM 20", None),
        NO_ERR,
        ("CURR:LIM:NEG -20", None),
        NO_ERR,
        ("VOLT 54.2", None),
        NO_ERR,
        ("OUTP ON", None),
        NO_ERR,
        ("VOLT:PROT:LOW 40", None),
        NO_ERR,
        ("VOLT:PROT:LOW:DEL 0.05", None),
        NO_ERR,
        ("VOLT:PROT:LOW:STAT ON", None),
        NO_ERR,
        ("CURR:PROT:STAT OFF", None),
        NO_ERR,
        ("POW:LIM 3000", None),
        NO_ERR,
    ]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        drv.set_priority("volt")
        drv.set_ovp(Q_(55.5, "V"))
        drv.set_current_limit(Q_(20, "A"), Q_(-20, "A"))
        drv.set_voltage(Q_(54200, "mV"))
        drv.set_output(True)
        drv.set_uvp(Q_(40, "V"), Q_(50, "ms"))
        drv.set_ocp(False)
        drv.set_power_limit(Q_(3, "kW"))
        drv.close()
    assert srv.done, (srv.mismatches, srv.unexpected)


def test_ovp_not_applied_as_sent_is_raised() -> None:
    script = [("*IDN?", IDN), ("VOLT:PROT 55", None), NO_ERR, ("VOLT:PROT?", "+4.000000E+01")]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentError) as exc:
            drv.set_ovp(Q_(55, "V"))
        drv.close()
    msg = str(exc.value)
    assert msg.startswith("psu: OVP level not applied: sent 55, the instrument holds 40")
    assert "'VOLT:PROT 55'" in msg and "+4.000000E+01" in msg
    assert srv.done


def test_error_queue_after_a_setting_names_instrument_command_and_reply() -> None:
    script = [("*IDN?", IDN), ("CURR:LIM 20", None), ("SYST:ERR?", '-221,"Settings conflict"'), NO_ERR]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentError) as exc:
            drv.set_current_limit(Q_(20, "A"))
        drv.close()
    assert str(exc.value) == (
        "psu: instrument reported an error; command 'CURR:LIM 20'; reply '-221,\"Settings conflict\"'"
    )
    assert srv.done


def test_unexpected_priority_reply_and_silence() -> None:
    script = [("*IDN?", IDN), ("FUNC?", "POW"), ("STAT:QUES:COND?", SILENT)]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentError, match=r"unexpected priority reply.*'FUNC\?'; reply 'POW'"):
            drv.priority()
        with pytest.raises(InstrumentTimeout, match=r"psu: no reply within 300 ms; command 'STAT:QUES:COND\?'"):
            drv.protection_tripped()
        drv.close()
    assert srv.done
