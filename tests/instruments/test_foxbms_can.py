"""FoxBmsCan against the simulated foxBMS node on python-can's virtual bus, in virtual time."""

from __future__ import annotations

from pathlib import Path

import can
import can_fixtures
import cantools
import pytest
from can_fixtures import CanRig, make_rig

from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.transports.can_bus import open_bus, parse_resource

rig = can_fixtures.rig  # fixtures shared through an explicitly imported module, not a conftest
raw_pair = can_fixtures.raw_pair
FOXBMS_DBC = Path(__file__).resolve().parents[3] / "shared" / "data" / "foxbms" / "foxbms.dbc"


def test_status_matches_plant_within_dbc_resolution(rig: CanRig) -> None:
    rig.sleep(2.0)
    st = rig.bms.status()
    b, pack = rig.plant.bms, rig.plant.pack
    assert st.state == "STANDBY" and not st.contactor_closed
    assert st.pack_voltage.to("V").magnitude == pytest.approx(pack.voltage_V, abs=0.051)
    assert st.pack_current.to("A").magnitude == pytest.approx(b.current_reported_A, abs=0.0051)
    assert st.cell_voltage_min.to("mV").magnitude == pytest.approx(b.v_min * 1000, abs=0.51)
    assert st.cell_voltage_max.to("mV").magnitude == pytest.approx(b.v_max * 1000, abs=0.51)
    assert st.cell_temperature_max.to("degC").magnitude == pytest.approx(b.T_max, abs=0.51)
    assert st.soc.to("percent").magnitude == pytest.approx(50 * (b.soc_min + b.soc_max), abs=0.1)
    assert st.max_charge_current.to("A").magnitude == pytest.approx(b.max_charge_current_A, abs=0.126)
    assert st.max_discharge_current.to("A").magnitude == pytest.approx(b.max_discharge_current_A, abs=0.126)
    assert st.soh.to("percent").magnitude == pytest.approx(100 * b.soh, abs=0.26)
    assert st.active_alarms() == []
    cells = rig.bms.cell_voltages()
    assert len(cells) == pack.n_series
    for q, v in zip(cells, b.cell_voltages_reported_V(), strict=True):
        assert q.to("mV").magnitude == pytest.approx(v * 1000, abs=0.51)
    temps = rig.bms.cell_temperatures()
    assert len(temps) == pack.n_series
    assert max(t.to("degC").magnitude for t in temps) == pytest.approx(b.T_max, abs=0.51)


def test_request_states_move_the_plant_contactor(rig: CanRig) -> None:
    rig.bms.request_state("discharge")
    assert rig.plant.bms.contactor_closed
    assert rig.bms.status().state == "DISCHARGE" and rig.bms.status().contactor_closed
    rig.bms.request_state("standby")
    assert not rig.plant.bms.contactor_closed
    rig.bms.request_state("charge")
    assert rig.bms.status().state == "CHARGE"
    text = rig.bms.safe_state()
    assert "0 strings connected" in text and not rig.plant.bms.contactor_closed
    assert rig.node.stats["requests"] == 4
    with pytest.raises(InstrumentRangeError, match="must be one of"):
        rig.bms.request_state("normal")


@pytest.mark.parametrize(
    ("threshold", "alarm"),
    [({"ot_discharge_alarm_degC": 20.0, "ot_charge_alarm_degC": 20.0}, "cell_ot"), ({"ov_alarm_V": 3.0}, "cell_ov")],
)
def test_injected_fault_shows_in_state_and_alarms(rig: CanRig, threshold: dict[str, float], alarm: str) -> None:
    rig.bms.request_state("discharge")
    with rig.clock.lock:
        rig.plant.bms.set_thresholds(**threshold)
    rig.sleep(3.0)
    st = rig.bms.status()
    assert st.state == "ERROR" and not st.contactor_closed
    assert st.alarms[alarm] and st.alarms["general_error"] and st.alarms["error_state"]
    assert alarm in st.active_alarms()
    with pytest.raises(InstrumentError, match="refused discharge"):
        rig.bms.request_state("discharge")
    assert "ERROR" in rig.bms.safe_state()  # contactors open: standby is confirmed even with a latched fault


def test_comms_loss_raises_timeout_naming_the_message(rig: CanRig) -> None:
    rig.sleep(1.0)
    rig.bms.status()
    with rig.clock.lock:
        rig.plant.inject({"type": "comms_loss"})
    rig.sleep(2.0)
    with pytest.raises(InstrumentTimeout, match=r"f_BmsState \(0x220\) is stale"):
        rig.bms.status()
    assert rig.node.stats["suppressed"] > 0


def test_long_sleep_is_coalesced_but_stays_fresh(rig: CanRig) -> None:
    rig.sleep(600.0)
    assert rig.node.stats["coalesced"] > 10 * rig.node.stats["sent"] // 14
    assert rig.bms.status().state == "STANDBY"  # the last frame of the last step is fresh
    assert rig.bms.counters()["decoded"] == rig.node.stats["sent"]


def test_short_steps_give_exact_cycle_emission() -> None:
    r = make_rig(max_step_s=0.1)
    try:
        r.sleep(2.0)
        per = r.bms.counters()["per_message"]
        assert per["0x233"]["count"] == 20 and per["0x235"]["count"] == 2  # one frame per due time
        assert r.node.stats["coalesced"] == 0
    finally:
        r.bms.close()
        r.node.stop()


def test_wrong_dlc_is_raised_with_id_and_bytes(raw_pair) -> None:
    bms, sender = raw_pair
    sender.send(can.Message(arbitration_id=0x233, data=b"\x01\x02\x03", is_extended_id=False))
    with pytest.raises(InstrumentReplyError, match=r"0x233 f_PackValuesP0: wrong DLC 3.*01 02 03"):
        bms.status()
    assert bms.counters()["per_message"]["0x233"]["bad"] == 1


def test_garbage_payload_is_raised(raw_pair) -> None:
    bms, sender = raw_pair
    sender.send(can.Message(arbitration_id=0x250, data=bytes([0xFF] * 8), is_extended_id=False))
    with pytest.raises(InstrumentReplyError, match=r"0x250 f_CellVoltages: undecodable.*FF FF"):
        bms.cell_voltages()
    assert bms.counters()["bad"] == 1


def test_extended_and_unknown_ids_are_ignored(raw_pair) -> None:
    bms, sender = raw_pair
    sender.send(can.Message(arbitration_id=0x233, data=bytes(8), is_extended_id=True))
    sender.send(can.Message(arbitration_id=0x7FF, data=bytes(8), is_extended_id=False))
    c = bms.counters()
    assert c["ignored"] == 2 and c["decoded"] == 0 and c["per_message"]["0x233"]["count"] == 0
    with pytest.raises(InstrumentTimeout, match=r"no f_BmsState \(0x220\) received"):
        bms.status()


def test_unconfirmed_request_times_out(raw_pair) -> None:
    bms, sender = raw_pair
    reader = can.Bus(interface="virtual", channel=bms.resource.split(":", 1)[1])
    try:
        with pytest.raises(InstrumentTimeout, match="did not confirm standby"):
            bms.request_state("standby")
        msg = reader.recv(timeout=1.0)
        assert msg is not None and msg.arbitration_id == 0x210 and not msg.is_extended_id
        assert bms.db.decode_message(0x210, msg.data, decode_choices=False)["RequestBmsMode"] == 0
    finally:
        reader.shutdown()


def test_a_stalled_transmit_queue_raises_a_named_error_within_the_timeout(raw_pair) -> None:
    """An adapter that cannot transmit (slcan serial stall, full socketcan queue) must not hold the
    driver: the send is bounded by the driver's timeout and fails naming the frame."""
    import threading

    bms, _ = raw_pair
    waits: list[float | None] = []
    never = threading.Event()

    def stalled_send(msg: can.Message, timeout: float | None = None) -> None:
        waits.append(timeout)
        never.wait(timeout if timeout is not None else 5.0)  # "forever" bounded for the test
        if timeout is not None:
            raise can.CanOperationError("Transmit buffer full")

    bms.bus.send = stalled_send  # type: ignore[method-assign]
    with pytest.raises(
        InstrumentError,
        match=r"bms_can: cannot send on virtual:.*Transmit buffer full; "
        r"command '0x210 ",
    ):
        bms.reset_faults()
    assert waits == [pytest.approx(0.3)]


@pytest.mark.skipif(not FOXBMS_DBC.exists(), reason=f"unmodified foxBMS DBC not found at {FOXBMS_DBC}")
def test_unmodified_foxbms_dbc_decodes_simulator_frames(rig: CanRig) -> None:
    fox = cantools.database.load_file(str(FOXBMS_DBC))
    spy = can.Bus(interface="virtual", channel=rig.node.resource.split(":", 1)[1])
    try:
        rig.sleep(1.0)
        seen: dict[int, dict] = {}
        for _ in range(200):
            msg = spy.recv(timeout=0.0)
            if msg is None:
                break
            seen[msg.arbitration_id] = fox.decode_message(msg.arbitration_id, msg.data, decode_choices=False)
    finally:
        spy.shutdown()
    assert {0x220, 0x230, 0x231, 0x232, 0x233, 0x235, 0x240, 0x250, 0x260} <= set(seen)
    assert seen[0x233]["BatteryVoltage"] == pytest.approx(rig.plant.pack.voltage_V, abs=0.051)
    assert seen[0x220]["BmsState"] == 5


def test_resource_strings_and_errors() -> None:
    assert parse_resource("slcan:/dev/ttyACM0@115200", bitrate="250 kbit/s").kwargs == {
        "tty_baudrate": 115200,
        "bitrate": 250000,
    }
    assert parse_resource("pcan:PCAN_USBBUS1").kwargs == {"bitrate": 500000}
    with pytest.raises(InstrumentError, match="unknown CAN interface 'foo' in resource 'foo:1'"):
        open_bus("foo:1")
    with pytest.raises(InstrumentError, match="must look like"):
        open_bus("can0")
    with pytest.raises(InstrumentError, match=r"cannot open CAN bus 'slcan:/nonexistent/tty"):
        open_bus("slcan:/nonexistent/tty@9600")
    assert Q_(1, "s")  # pint available alongside python-can
