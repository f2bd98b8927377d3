"""Chroma 63200A driver: against the simulated load on the plant, and against scripted exchanges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scpi_fixtures import SimRig, start_sim
from scripted_scpi import SILENT, ScriptedScpiServer

from bench.units import Q_
from instruments.chroma_63200a import RANGES, Chroma63200A
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.sim.scpi_chroma63200a import serve

IDN = "CHROMA,63206A-80-240,632060000001,1.20"
NO_ERR = ("SYST:ERR?", '+0,"No error"')


@pytest.fixture
def rig() -> Iterator[SimRig]:
    r = start_sim(serve, "load", model="63206A-80-240")
    yield r
    r.stop()


@pytest.fixture
def load(rig: SimRig) -> Iterator[Chroma63200A]:
    drv = Chroma63200A(rig.resource, name="load", timeout=Q_(2, "s"))
    yield drv
    drv.close()


def _pack_V(rig: SimRig) -> float:
    with rig.clock.lock:
        return float(rig.plant.pack.voltage_V)


# -- physics through the wire ---------------------------------------------------------------
def test_identity_and_defaults(load: Chroma63200A) -> None:
    assert load.identity() == "CHROMA,63206A-80-240,SIM0001,1.20"
    assert load.input() is False
    assert load.protection_status() == []
    assert load.safe_state_order == 10


def test_cc_draws_set_current_and_pack_sags_by_ir(rig: SimRig, load: Chroma63200A) -> None:
    rig.close_contactor()
    v0 = _pack_V(rig)
    r0 = rig.plant.pack.resistance_ohm()
    load.set_mode("CC", "H")
    load.set_level(Q_(50, "A"))
    load.set_input(True)
    rig.advance(2.0)
    assert load.input() is True
    assert load.mode() == ("CC", "H")
    assert load.level().to("A").magnitude == pytest.approx(50.0)
    assert load.measure_current().to("A").magnitude == pytest.approx(50.0, abs=0.1)
    assert rig.plant.pack.current_A == pytest.approx(50.0, abs=0.01)
    drop = v0 - _pack_V(rig)
    assert 0.9 * 50 * r0 < drop < 4 * 50 * r0  # R0 step plus the RC branches building up
    assert load.measure_voltage().to("V").magnitude == pytest.approx(_pack_V(rig), abs=0.01)
    assert load.measure_power().to("W").magnitude == pytest.approx(50 * _pack_V(rig), rel=0.005)


def test_cv_cp_cr_hold_their_setpoints(rig: SimRig, load: Chroma63200A) -> None:
    rig.close_contactor()
    v_cv = round(_pack_V(rig) - 0.1, 3)
    load.set_mode("CVH")
    load.set_cv_current_limit(Q_(240, "A"))
    load.set_level(Q_(v_cv, "V"))
    load.set_input(True)
    rig.advance(2.0)
    assert load.measure_voltage().to("V").magnitude == pytest.approx(v_cv, abs=0.005)
    assert load.measure_current().to("A").magnitude > 10  # it sinks what holds the bus down

    load.set_mode("CP", "H")
    load.set_level(Q_(2, "kW"))
    rig.advance(2.0)
    assert load.measure_power().to("W").magnitude == pytest.approx(2000, abs=5)

    load.set_mode("CR", "H")
    load.set_level(Q_(1, "ohm"))
    rig.advance(2.0)
    v = load.measure_voltage().to("V").magnitude
    assert load.measure_current().to("A").magnitude == pytest.approx(v / 1.0, abs=0.1)


def test_cv_current_limit_caps_the_draw(rig: SimRig, load: Chroma63200A) -> None:
    rig.close_contactor()
    load.set_mode("CV", "H")
    load.set_cv_current_limit(Q_(20, "A"))
    load.set_level(Q_(_pack_V(rig) - 1.0, "V"))  # would need hundreds of amps
    load.set_input(True)
    rig.advance(2.0)
    assert load.measure_current().to("A").magnitude == pytest.approx(20, abs=0.1)


def test_protection_latches_until_cleared(rig: SimRig, load: Chroma63200A) -> None:
    rig.close_contactor()
    load.set_mode("CC", "H")
    load.set_level(Q_(200, "A"))  # ~10.5 kW from a 52 V pack: beyond the 6 kW rating
    load.set_input(True)
    rig.advance(1.0)
    assert load.protection_status() == ["OPP"]
    assert load.input() is False
    assert rig.plant.pack.current_A == pytest.approx(0.0, abs=0.01)
    with pytest.raises(InstrumentError) as exc:  # refused while latched
        load.set_input(True)
    assert "-221" in str(exc.value) and "LOAD ON" in str(exc.value)
    rig.advance(5.0)
    assert load.protection_status() == ["OPP"]  # still latched after the cause is gone
    load.clear_protection()
    assert load.protection_status() == []
    assert load.input() is False  # clearing does not switch the input back on
    load.set_level(Q_(50, "A"))
    load.set_input(True)
    rig.advance(1.0)
    assert load.measure_current().to("A").magnitude == pytest.approx(50, abs=0.1)


def test_short_draws_range_maximum_and_safe_state_releases(rig: SimRig, load: Chroma63200A) -> None:
    rig.close_contactor()
    load.set_mode("CC", "M")
    load.set_input(True)
    load.set_short(True)
    rig.advance(1.0)
    assert load.short() is True
    assert load.measure_current().to("A").magnitude == pytest.approx(24, abs=0.1)
    text = load.safe_state()
    assert "LOAD? = 0" in text
    assert load.input() is False and load.short() is False


def test_out_of_rating_setpoints_refused_before_sending(rig: SimRig, load: Chroma63200A) -> None:
    load.set_mode("CC", "L")
    sent = len(rig.server.instrument.log)
    with pytest.raises(InstrumentRangeError, match=r"load: CC level \(range L\) 5 A outside 0..2.4 A"):
        load.set_level(Q_(5, "A"))
    with pytest.raises(InstrumentRangeError, match="quantity in A"):
        load.set_level(Q_(5, "V"))  # a voltage in CC mode
    with pytest.raises(InstrumentRangeError):
        load.set_cv_current_limit(Q_(300, "A"))
    with pytest.raises(InstrumentRangeError):
        load.set_mode("CZ")
    load.set_mode("CR", "H")
    sent = len(rig.server.instrument.log)
    with pytest.raises(InstrumentRangeError):
        load.set_level(Q_(1, "mohm"))
    with pytest.raises(InstrumentRangeError):
        load.set_level(Q_(5, "A"))
    assert len(rig.server.instrument.log) == sent  # nothing reached the instrument


def test_declared_levels_round_trip_and_the_simulator_refuses_beyond_the_same_bounds(
    rig: SimRig, load: Chroma63200A
) -> None:
    """Driver and simulator share one declaration per level: what is sent is applied and read
    back; a raw command beyond the bounds (ratings, present range) is -222 and not applied."""
    for rng in RANGES:
        load.set_mode("CC", rng)
        ratings = {**load.ratings, "range_current": load._ranges_A[rng]}
        for mode, decl in Chroma63200A.LEVEL.items():
            lo, hi = decl.bounds(ratings)
            value = lo + 0.41 * (hi - lo)
            load.write_setting(decl, Q_(value, decl.unit), ratings=ratings)
            assert load.level(mode).to(decl.unit).magnitude == pytest.approx(value, rel=1e-5), (rng, mode)
            with pytest.raises(InstrumentError, match='-222,"Data out of range"'):
                load.conn.write_checked(f"{decl.command} {hi * 1.01:.6g}")
            assert load.level(mode).to(decl.unit).magnitude == pytest.approx(value, rel=1e-5)
    with pytest.raises(InstrumentError, match='-224,"Illegal parameter value"'):
        load.conn.write_checked("MODE CCX")


def test_injected_instrument_fault_is_raised(rig: SimRig, load: Chroma63200A) -> None:
    with rig.clock.lock:
        rig.plant.inject({"type": "instrument_error", "name": "load", "code": -200, "message": "Execution error"})
    with pytest.raises(InstrumentError, match="load: instrument reported an error"):
        load.set_input(True)
    assert load.input() is False


def test_safe_state_raises_when_instrument_hangs(rig: SimRig) -> None:
    drv = Chroma63200A(rig.resource, name="load", timeout=Q_(0.3, "s"))
    rig.server.mute()
    try:
        with pytest.raises(InstrumentTimeout, match="load: no reply"):
            drv.safe_state()
    finally:
        rig.server.mute(False)
        drv.close()


# -- recorded exchanges -----------------------------------------------------------------------
def _driver(server: ScriptedScpiServer, timeout: float = 0.3) -> Chroma63200A:
    return Chroma63200A(server.resource, name="load", timeout=Q_(timeout, "s"))


def test_error_queue_after_setpoint_names_instrument_command_reply() -> None:
    script = [
        ("*IDN?", IDN),
        ("MODE CCH", None),
        NO_ERR,
        ("CURR:STAT:L1 10", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        NO_ERR,
    ]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        drv.set_mode("CC")
        with pytest.raises(InstrumentError) as exc:
            drv.set_level(Q_(10, "A"))
        drv.close()
    msg = str(exc.value)
    assert msg.startswith("load:") and "'CURR:STAT:L1 10'" in msg and '-222,"Data out of range"' in msg
    assert srv.done, (srv.mismatches, srv.unexpected)


def test_garbage_reply_raises_reply_error() -> None:
    script = [
        ("*IDN?", IDN),
        ("MEAS:VOLT?", "OVER RANGE"),
        ("MEAS:CURR?", b"\xff\xfe\x80\n"),
        ("STAT:CHAN:COND?", "ok"),
    ]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentReplyError) as exc:
            drv.measure_voltage()
        assert str(exc.value) == "load: expected a number; command 'MEAS:VOLT?'; reply 'OVER RANGE'"
        with pytest.raises(InstrumentReplyError, match="MEAS:CURR"):
            drv.measure_current()
        with pytest.raises(InstrumentReplyError, match="'STAT:CHAN:COND\\?'; reply 'ok'"):
            drv.protection_status()
        drv.close()
    assert srv.done


def test_silent_instrument_times_out() -> None:
    script = [("*IDN?", IDN), ("MEAS:CURR?", SILENT)]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv, timeout=0.3)
        with pytest.raises(InstrumentTimeout) as exc:
            drv.measure_current()
        drv.close()
    assert "load: no reply within 300 ms" in str(exc.value) and "MEAS:CURR?" in str(exc.value)
    assert srv.done


def test_status_bits_decoded_and_nothing_sent_for_refused_level() -> None:
    script = [("*IDN?", IDN), ("STAT:CHAN:COND?", "10"), ("MODE?", "CCL"), ("STAT:CHAN:COND?", "1024")]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        assert drv.protection_status() == ["OVP", "OPP"]
        with pytest.raises(InstrumentRangeError):
            drv.set_level(Q_(3, "A"))  # mode read back (CCL), then refused without a write
        assert drv.protection_status() == ["BIT0x400"]
        drv.close()
    assert srv.done, (srv.mismatches, srv.unexpected)


def test_safe_state_refuses_when_input_stays_on() -> None:
    script = [("*IDN?", IDN), ("LOAD OFF", None), ("LOAD:SHOR OFF", None), ("LOAD?", "1")]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentError, match="input still on"):
            drv.safe_state()
        drv.close()
    assert srv.done
