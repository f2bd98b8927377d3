"""Insulation tester driver: against the simulated tester on the plant, and against scripted exchanges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scpi_fixtures import SimRig, start_sim
from scripted_scpi import SILENT, ScriptedScpiServer

from bench.units import Q_
from instruments.capabilities import ClockAware, InsulationTester
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.insulation_tester import KikusuiTOS9213S
from instruments.scpi_settings import Setting, declared
from instruments.sim.scpi_insulation import serve

IDN = "KIKUSUI ELECTRONICS CORP.,TOS9213S,AB012345,1.00"
NO_ERR = ("ERR?", '+0,"No error"')


@pytest.fixture
def rig() -> Iterator[SimRig]:
    r = start_sim(serve, "irt", model="TOS9213S")
    yield r
    r.stop()


@pytest.fixture
def irt(rig: SimRig) -> Iterator[KikusuiTOS9213S]:
    drv = KikusuiTOS9213S(rig.resource, name="irt", timeout=Q_(2, "s"))
    yield drv
    drv.close()


def _configure(irt: KikusuiTOS9213S) -> None:
    irt.configure(test_voltage=Q_(500, "V"), lower_limit=Q_(100, "Mohm"), dwell=Q_(60, "s"))


# -- against the simulated tester ---------------------------------------------------------------
def test_identity_and_settings_read_back(irt: KikusuiTOS9213S) -> None:
    assert irt.identity() == "KIKUSUI ELECTRONICS CORP.,TOS9213S,SIM0001,1.00"
    _configure(irt)
    assert irt.test_voltage() == Q_(500, "V")
    assert irt.dwell() == Q_(60, "s")
    assert irt.status() == "READY"
    assert irt.safe_state_order == 15


def test_healthy_dut_passes_after_the_dwell_in_virtual_time(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    _configure(irt)
    t0 = rig.clock.now_s()
    result = irt.run_test(wait=rig.wait)
    assert result.judgement == "PASS" and result.passed
    assert result.resistance.to("Mohm").magnitude == pytest.approx(500, rel=0.05)  # DUT isolation 500 MΩ
    assert result.voltage == Q_(500, "V")
    assert result.elapsed.to("s").magnitude == pytest.approx(60, abs=0.1)
    assert 60 <= rig.clock.now_s() - t0 <= 61  # the dwell passed on the bench clock, not wall time
    assert irt.status() == "DONE"  # output off


def test_an_attached_clock_lets_the_dwell_pass_without_a_wait_argument(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    assert isinstance(irt, ClockAware) and isinstance(irt, InsulationTester)
    irt.attach_clock(rig.clock)  # what the session does on a simulated station
    irt.configure(test_voltage=Q_(500, "V"), lower_limit=Q_(100, "Mohm"), dwell=Q_(5, "s"))
    t0 = rig.clock.now_s()
    assert irt.run_test().judgement == "PASS"
    assert 5 <= rig.clock.now_s() - t0 <= 6


def test_declared_settings_round_trip_and_the_simulator_refuses_beyond_them(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    for name, decl in declared(KikusuiTOS9213S, Setting).items():
        lo, hi = decl.bounds(irt.ratings)
        value = lo + 0.29 * (hi - lo)
        irt.write_setting(decl, Q_(value, decl.unit))
        assert irt.read_setting(decl).to(decl.unit).magnitude == pytest.approx(value, rel=0.01), name  # 3 digits
        with pytest.raises(InstrumentError, match='-222,"Data out of range"'):
            irt.conn.write_checked(f"{decl.command} {hi * 1.5 + 1:.6g}")
    before = len(rig.server.instrument.log)
    with pytest.raises(InstrumentRangeError, match="upper limit 1e\\+06 ohm below the lower limit 1e\\+08 ohm"):
        irt.configure(Q_(500, "V"), Q_(100, "Mohm"), Q_(60, "s"), upper_limit=Q_(1, "Mohm"))
    assert len(rig.server.instrument.log) == before  # nothing sent


def test_lowered_isolation_fails_low(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    with rig.clock.lock:
        rig.plant.inject({"type": "low_insulation", "isolation_ohm": 50e3})
    _configure(irt)
    result = irt.run_test(wait=rig.wait)
    assert result.judgement == "LFAIL" and not result.passed
    assert result.resistance.to("kohm").magnitude == pytest.approx(50, rel=0.05)
    assert result.voltage.to("V").magnitude < 100  # 1 mA compliance pulls the test voltage down


def test_reading_rises_during_the_dwell(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    _configure(irt)
    irt.start()
    rig.advance(2.0)
    early = irt.result()
    assert irt.status() == "TEST" and early.judgement == "OFF"
    rig.advance(30.0)
    late = irt.result()
    assert early.resistance < late.resistance  # dielectric absorption current decays


def test_safe_state_stops_a_running_test(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    _configure(irt)
    irt.start()
    rig.advance(5.0)
    assert irt.status() == "TEST"
    assert "STAT? = READY" in irt.safe_state()
    assert irt.status() == "READY"
    with pytest.raises(InstrumentError, match="irt: instrument reported an error; command 'STAR'"):
        irt.start()
        irt.start()  # a second start while running is refused by the tester


def test_run_test_wait_is_bounded_and_stops_the_tester(irt: KikusuiTOS9213S) -> None:
    irt.configure(test_voltage=Q_(500, "V"), lower_limit=Q_(1, "Mohm"), dwell=Q_(10, "s"))
    irt.POLLS = 3
    waits: list[float] = []
    with pytest.raises(InstrumentTimeout, match="irt: test not finished"):
        irt.run_test(wait=waits.append)  # time never advances: the tester never finishes
    assert waits == [10.0, 0.25, 0.25, 0.25]
    assert irt.status() == "READY"  # stopped on the way out


def test_out_of_range_settings_refused_before_sending(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    sent = len(rig.server.instrument.log)
    with pytest.raises(InstrumentRangeError, match="irt: test voltage 2000 V outside 10..1020 V"):
        irt.configure(Q_(2, "kV"), Q_(1, "Mohm"), Q_(60, "s"))
    with pytest.raises(InstrumentRangeError, match="dwell"):
        irt.configure(Q_(500, "V"), Q_(1, "Mohm"), Q_(0.1, "s"))
    with pytest.raises(InstrumentRangeError, match="quantity in ohm"):
        irt.configure(Q_(500, "V"), Q_(1, "mA"), Q_(60, "s"))
    assert len(rig.server.instrument.log) == sent


def test_over_range_reads_as_lower_bound(rig: SimRig, irt: KikusuiTOS9213S) -> None:
    with rig.clock.lock:
        rig.plant.pack.dut_isolation_ohm = 1e13
    irt.configure(Q_(1000, "V"), Q_(100, "Mohm"), Q_(60, "s"))
    result = irt.run_test(wait=rig.wait)
    assert result.judgement == "PASS"
    assert result.resistance == Q_(9999, "Mohm")


# -- recorded exchanges -----------------------------------------------------------------------
def _driver(server: ScriptedScpiServer) -> KikusuiTOS9213S:
    return KikusuiTOS9213S(server.resource, name="irt", timeout=Q_(0.3, "s"))


def test_error_queue_after_test_voltage() -> None:
    script = [("*IDN?", IDN), ("IR:TESTV 1000", None), ("ERR?", '-222,"Data out of range"'), NO_ERR]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentError) as exc:
            drv.configure(Q_(1, "kV"), Q_(100, "Mohm"), Q_(60, "s"))
        drv.close()
    assert str(exc.value) == (
        "irt: instrument reported an error; command 'IR:TESTV 1000'; reply '-222,\"Data out of range\"'"
    )
    assert srv.done


def test_full_exchange_and_garbled_result() -> None:
    script = [
        ("*IDN?", IDN),
        ("IR:TESTV 500", None),
        NO_ERR,
        ("IR:LOWER 1e+08,ON", None),
        NO_ERR,
        ("IR:UPPER 1e+10,OFF", None),
        NO_ERR,
        ("IR:TIMER 1,ON", None),
        NO_ERR,
        ("STAR", None),
        NO_ERR,
        ("STAT?", "TEST"),
        ("STAT?", "DONE"),
        ("MEAS:RES?", "500,abc,1.0,PASS,0"),
        ("MEAS:RES?", "500,120,1.0,MAYBE,0"),
    ]
    waits: list[float] = []
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        drv.configure(Q_(500, "V"), Q_(100, "Mohm"), Q_(1, "s"))
        with pytest.raises(InstrumentReplyError) as exc:
            drv.run_test(wait=waits.append)
        assert "'MEAS:RES?'" in str(exc.value) and "'500,abc,1.0,PASS,0'" in str(exc.value)
        with pytest.raises(InstrumentReplyError, match="unknown judgement 'MAYBE'"):
            drv.result()
        drv.close()
    assert waits == [1.0, 0.25]
    assert srv.done, (srv.mismatches, srv.unexpected)


def test_silent_status_times_out_and_stops_the_test() -> None:
    script = [("*IDN?", IDN), ("IR:TIMER?", "5.00E+00,1"), ("STAR", None), NO_ERR, ("STAT?", SILENT), ("STOP", None)]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentTimeout, match="irt: no reply within 300 ms; command 'STAT\\?'"):
            drv.run_test(wait=lambda s: None)
        drv.close()
    assert srv.done, (srv.mismatches, srv.unexpected)


def test_unknown_status_is_a_reply_error() -> None:
    with ScriptedScpiServer([("*IDN?", IDN), ("STAT?", "BUSY")]) as srv:
        drv = _driver(srv)
        with pytest.raises(
            InstrumentReplyError, match="irt: expected READY, TEST or DONE; command 'STAT\\?'; reply 'BUSY'"
        ):
            drv.status()
        drv.close()
    assert srv.done


def test_simulator_accepts_documented_short_forms(irt: KikusuiTOS9213S) -> None:
    irt.conn.write_checked("I:TES 250")
    irt.conn.write_checked("I:LOW 99.9E6,1")
    assert irt.conn.query("IR:LOWER?") == "9.99E+07,1"
    assert irt.test_voltage() == Q_(250, "V")
    assert irt.conn.query("PROT?") == "0"
