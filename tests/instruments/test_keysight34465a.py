"""Keysight 34465A driver: against the simulated meter on the plant, and against scripted exchanges."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

import pytest
from scpi_fixtures import SimRig, start_sim
from scripted_scpi import SILENT, ScriptedScpiServer

from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.keysight_34465a import DmmOverload, Keysight34465A
from instruments.sim.scpi_34465a import serve

IDN = "Keysight Technologies,34465A,MY59000001,A.02.16-02.40-02.16-00.51-03-01"


def _accuracy_V(reading: float, rng: float) -> float:
    """1-year DC-volt accuracy on the 100 V range: 0.0035 % of reading + 0.0006 % of range."""
    return 35e-6 * abs(reading) + 6e-6 * rng


@pytest.fixture
def rig() -> Iterator[SimRig]:
    r = start_sim(serve, "dmm", model="34465A", options={"sim": {"resistor": "10 kohm", "lead_resistance": "0.2 ohm"}})
    yield r
    r.stop()


@pytest.fixture
def dmm(rig: SimRig) -> Iterator[Keysight34465A]:
    drv = Keysight34465A(rig.resource, name="dmm", timeout=Q_(2, "s"))
    yield drv
    drv.close()


def _pack_V(rig: SimRig) -> float:
    with rig.clock.lock:
        return float(rig.plant.pack.voltage_V)


# -- against the simulated meter ----------------------------------------------------------------
def test_identity_and_safe_state(dmm: Keysight34465A) -> None:
    assert dmm.identity().startswith("Keysight Technologies,34465A,SIM0001,")
    assert "*IDN?" in dmm.safe_state()
    assert dmm.safe_state_order == 60


def test_reads_pack_voltage_within_accuracy(rig: SimRig, dmm: Keysight34465A) -> None:
    true = _pack_V(rig)
    v = dmm.measure_dc_voltage()
    assert v.units == Q_(1, "V").units
    assert abs(v.magnitude - true) <= _accuracy_V(true, 100.0)
    v = dmm.measure_dc_voltage(range=Q_(100, "V"), nplc=100)
    assert abs(v.magnitude - true) <= _accuracy_V(true, 100.0)
    assert dmm.nplc() == 100.0
    v = dmm.measure_dc_voltage(range=Q_(60, "V"))  # the meter picks the 100 V range
    assert abs(v.magnitude - true) <= _accuracy_V(true, 100.0)


def test_follows_the_pack_under_load(rig: SimRig, dmm: Keysight34465A) -> None:
    rig.close_contactor()
    before = dmm.measure_dc_voltage().magnitude
    with rig.clock.lock:
        rig.plant.load.set_mode("CC", "H")
        rig.plant.load.set_level("CC", 100.0)
        rig.plant.load.set_input(True)
    rig.advance(2.0)
    after = dmm.measure_dc_voltage().magnitude
    assert before - after > 0.15  # IR drop of 100 A
    assert abs(after - _pack_V(rig)) <= _accuracy_V(after, 100.0)


def test_noise_and_resolution_depend_on_nplc(dmm: Keysight34465A) -> None:
    dmm.configure_dc_voltage(range=Q_(100, "V"), nplc=0.02)
    fast = [dmm.read().to("V").magnitude for _ in range(25)]
    dmm.configure_dc_voltage(range=Q_(100, "V"), nplc=100)
    slow = [dmm.read().to("V").magnitude for _ in range(25)]
    assert statistics.pstdev(fast) > 10 * statistics.pstdev(slow)
    assert all(abs(x / 300e-6 - round(x / 300e-6)) < 1e-3 for x in fast)  # 3 ppm of 100 V steps


def test_overload_on_too_small_range_names_instrument(dmm: Keysight34465A) -> None:
    with pytest.raises(DmmOverload) as exc:
        dmm.measure_dc_voltage(range=Q_(10, "V"))
    msg = str(exc.value)
    assert msg.startswith("dmm: overload") and "'MEAS:VOLT:DC? 10'" in msg and "E+37" in msg


def test_resistance_two_and_four_wire(dmm: Keysight34465A) -> None:
    four = dmm.measure_resistance(four_wire=True)
    two = dmm.measure_resistance()
    assert four.to("ohm").magnitude == pytest.approx(10_000, rel=50e-6)
    assert (two - four).to("ohm").magnitude == pytest.approx(0.2, abs=0.05)  # the leads
    with pytest.raises(DmmOverload):
        dmm.measure_resistance(range=Q_(1, "kohm"))


def test_bus_source_option_reads_the_open_bus() -> None:
    r = start_sim(serve, "dmm", options={"sim": {"source": "bus"}})
    drv = Keysight34465A(r.resource, name="dmm")
    try:
        assert abs(drv.measure_dc_voltage().magnitude) < 0.01  # contactor open: bus is dead
        r.close_contactor()
        assert drv.measure_dc_voltage().magnitude == pytest.approx(_pack_V(r), abs=0.01)
    finally:
        drv.close()
        r.stop()


def test_invalid_settings_refused_before_sending(rig: SimRig, dmm: Keysight34465A) -> None:
    sent = len(rig.server.instrument.log)
    with pytest.raises(InstrumentRangeError, match="dmm: DC voltage range 2000 V outside"):
        dmm.measure_dc_voltage(range=Q_(2, "kV"))
    with pytest.raises(InstrumentRangeError, match="NPLC 3"):
        dmm.measure_dc_voltage(nplc=3)
    with pytest.raises(InstrumentRangeError, match="quantity in V"):
        dmm.measure_dc_voltage(range=Q_(10, "A"))
    with pytest.raises(InstrumentRangeError):
        dmm.measure_resistance(range=Q_(5, "Gohm"))
    with pytest.raises(InstrumentRangeError, match=r"DC voltage range 0 V outside 0..1000 V \(excluding 0 V\)"):
        dmm.measure_dc_voltage(range=Q_(0, "V"))
    with pytest.raises(InstrumentRangeError, match="NPLC must be finite"):
        dmm.set_nplc(float("nan"))
    assert len(rig.server.instrument.log) == sent


def test_simulator_serves_the_declared_ranges_and_integration_times(rig: SimRig, dmm: Keysight34465A) -> None:
    """The meter's bounds come from the driver's declarations: beyond them the simulated meter
    queues -222; inside them it rounds an NPLC up to the next supported one, like the real meter."""
    for command in ("VOLT:RANG 1001", "VOLT:RANG 0", "RES:RANG 2e9", "VOLT:NPLC 0.01", "VOLT:NPLC 101"):
        with pytest.raises(InstrumentError, match='-222,"Data out of range"'):
            dmm.conn.write_checked(command)
    dmm.conn.write_checked("VOLT:NPLC 0.5")
    assert dmm.nplc() == 1.0
    for n in Keysight34465A.NPLC.values or ():
        dmm.set_nplc(n)
        assert dmm.nplc() == n


# -- recorded exchanges -----------------------------------------------------------------------
def _driver(server: ScriptedScpiServer) -> Keysight34465A:
    return Keysight34465A(server.resource, name="dmm", timeout=Q_(0.3, "s"))


def test_overload_reply_is_an_error_not_a_reading() -> None:
    script = [("*IDN?", IDN), ("MEAS:VOLT:DC?", "+9.90000000E+37"), ("MEAS:FRES?", "-9.9E+37")]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(DmmOverload) as exc:
            drv.measure_dc_voltage()
        assert str(exc.value) == (
            "dmm: overload: input beyond the selected range; command 'MEAS:VOLT:DC?'; reply '+9.90000000E+37'"
        )
        with pytest.raises(DmmOverload):
            drv.measure_resistance(four_wire=True)
        drv.close()
    assert srv.done


def test_error_queue_after_configuration() -> None:
    script = [
        ("*IDN?", IDN),
        ("CONF:VOLT:DC 10;:SENS:VOLT:DC:NPLC 100", None),
        ("SYST:ERR?", '-221,"Settings conflict"'),
        ("SYST:ERR?", '+0,"No error"'),
    ]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentError) as exc:
            drv.measure_dc_voltage(range=Q_(10, "V"), nplc=100)
        drv.close()
    msg = str(exc.value)
    assert msg.startswith("dmm:") and "CONF:VOLT:DC 10" in msg and '-221,"Settings conflict"' in msg
    assert srv.done  # READ? was never sent after the refusal


def test_garbage_and_silence() -> None:
    script = [("*IDN?", IDN), ("MEAS:VOLT:DC?", "+5.2E+01,+5.3E+01junk"), ("MEAS:RES?", SILENT)]
    with ScriptedScpiServer(script) as srv:
        drv = _driver(srv)
        with pytest.raises(InstrumentReplyError, match="dmm: expected a number; command 'MEAS:VOLT:DC\\?'"):
            drv.measure_dc_voltage()
        with pytest.raises(InstrumentTimeout, match="dmm: no reply within 300 ms; command 'MEAS:RES\\?'"):
            drv.measure_resistance()
        drv.close()
    assert srv.done


def test_garbled_identification_refused() -> None:
    with ScriptedScpiServer([("*IDN?", "34465A")]) as srv:
        with pytest.raises(InstrumentError, match="dmm: unexpected identification; command '\\*IDN\\?'"):
            _driver(srv)
    assert srv.done
