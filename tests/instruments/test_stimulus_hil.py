"""HilStimulus against the simulated HIL stimulus device: every stimulus sent over the wire changes
what the bench's instruments then read (gas detector over Modbus, BMS over CAN), release restores
it, and every refusal is a named error carrying the command and the device's reply."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scripted_scpi import ScriptedScpiServer

from bench.clock import SimClock
from bench.session import BenchSession
from bench.station import RoleConfig
from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError, InstrumentReplyError, InstrumentTimeout
from instruments.foxbms_can import FoxBmsCan
from instruments.gas_detector import HouseGasDetector
from instruments.hil_stimulus import HilStimulus
from instruments.sim import can_foxbms, modbus_gas, scpi_stimulus
from instruments.sim.plant import Plant
from instruments.sim.plant.stimulus_target import PackStimulusTarget

ROOT = Path(__file__).resolve().parents[2]


def _role(name: str) -> RoleConfig:
    return RoleConfig(role=name, driver="", resource="sim", timeout=Q_(2, "s"))


@dataclass
class Rig:
    plant: Any
    clock: SimClock
    stim: HilStimulus
    gas: HouseGasDetector
    bms: FoxBmsCan
    stim_server: Any

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(Q_(seconds, "s"))


@pytest.fixture
def rig() -> Iterator[Rig]:
    plant = Plant.from_config("lfp_16s5p", seed=3)
    clock = SimClock(max_step=Q_(1, "s"))
    clock.add_listener(lambda t, dt: plant.step(dt))  # the plant first, as SimulatedStation does
    node = can_foxbms.serve(plant, SimpleNamespace(role="bms_can", options={}), clock)
    plant.stimulus_target().bind_role("bms_can", "bms")  # what SimulatedStation does for a BMS role
    stim_server = scpi_stimulus.serve(plant, _role("stimulus"), clock)
    gas_server = modbus_gas.serve(plant, _role("gas"), clock)
    stim = HilStimulus(stim_server.resource, name="stimulus")
    gas = HouseGasDetector(gas_server.resource, name="gas", timeout=Q_(1, "s"))
    bms = FoxBmsCan(node.resource, name="bms_can", timeout=Q_(2, "s"))
    bms.attach_clock(clock)
    r = Rig(plant, clock, stim, gas, bms, stim_server)
    r.sleep(2.0)
    try:
        yield r
    finally:
        for closer in (stim.close, gas.close, bms.close, stim_server.stop, gas_server.stop, node.stop):
            closer()


@dataclass
class Device:
    plant: Any
    stim: HilStimulus


@pytest.fixture
def dev() -> Iterator[Device]:
    """Only the plant and the stimulus device: for what needs no other instrument to observe it."""
    plant = Plant.from_config("lfp_16s5p", seed=3)
    clock = SimClock(max_step=Q_(1, "s"))
    clock.add_listener(lambda t, dt: plant.step(dt))
    server = scpi_stimulus.serve(plant, _role("stimulus"), clock)
    stim = HilStimulus(server.resource, name="stimulus")
    try:
        yield Device(plant, stim)
    finally:
        stim.close()
        server.stop()


def test_identity_and_catalogue(rig: Rig) -> None:
    assert rig.stim.identity() == "ESS Bench,HIL-STIM,HIL-SIM-0001,1.0"
    assert rig.stim.available() == {
        "gas_release",
        "sensor_override",
        "ventilation",
        "heat",
        "cut_link",
        "cell_voltage_step",
    }
    assert rig.stim.targets("cut_link") == ["bms", "bms_can"]
    assert rig.stim.targets("gas_release") == ["H2", "CO", "VOC", "HF"]
    assert "cell[3,4]" in rig.stim.targets("heat") and rig.stim.targets("ventilation") == []
    assert rig.stim.applied() == [] and rig.stim.safe_state_order == 5


def test_gas_release_raises_the_detector_reading_and_stage_and_stop_lets_it_fall(rig: Rig) -> None:
    assert rig.gas.read().stage == 0
    text = rig.stim.gas_release("bump", {"H2": Q_(40, "ppm/s"), "CO": Q_(15, "ppm/s")})
    assert text == "gas release 'bump' started: H2 40 ppm/s, CO 15 ppm/s"
    stages = []
    for _ in range(30):  # bounded: 30 x 2 s of virtual time
        rig.sleep(2.0)
        stages.append(rig.gas.read().stage)
        if stages[-1] == 2:
            break
    assert stages[0] >= 1 and stages[-1] == 2 and stages == sorted(stages)
    r = rig.gas.read()
    assert r.ppm["H2"].to("ppm").magnitude > 300 and r.pressure.to("Pa").magnitude > 0
    assert rig.stim.applied() == ["GAS bump H2=40 CO=15"]
    assert rig.stim.gas_release("bump", None) == "gas release 'bump' stopped"
    peak = r.ppm["H2"].to("ppm").magnitude
    rig.sleep(1800.0)
    assert rig.gas.read().ppm["H2"].to("ppm").magnitude < 0.5 * peak
    assert rig.stim.applied() == []


def test_exhaust_clears_the_enclosure_faster_than_natural_ventilation(rig: Rig) -> None:
    rig.stim.gas_release("bump", {"H2": Q_(20, "ppm/s")})
    rig.sleep(60.0)
    rig.stim.gas_release("bump", None)
    start = rig.gas.read().ppm["H2"].to("ppm").magnitude
    rig.sleep(300.0)
    natural = rig.gas.read().ppm["H2"].to("ppm").magnitude
    assert rig.stim.ventilation(Q_(0.5, "m**3/min")) == "enclosure exhaust at 30 m³/h"
    rig.sleep(300.0)
    forced = rig.gas.read().ppm["H2"].to("ppm").magnitude
    # 2 vs 20 air changes per hour over 5 min: exp(-1/6) vs exp(-5/3)
    assert natural / start == pytest.approx(0.846, abs=0.01)
    assert forced / natural == pytest.approx(0.189, abs=0.01)
    assert rig.stim.applied() == ["VENT 30"]
    assert rig.stim.ventilation(None) == "enclosure exhaust stopped"


def test_temperature_override_shows_in_the_bms_can_status_and_release_restores(rig: Rig) -> None:
    before = rig.bms.status().cell_temperature_max.to("degC").magnitude
    assert (
        rig.stim.sensor_override("cell_temperature[4]", Q_(42.5, "degC"))
        == "sensor cell_temperature[4] forced to 42.5 degC"
    )
    rig.sleep(1.0)
    assert rig.bms.status().cell_temperature_max.to("degC").magnitude == pytest.approx(42.5, abs=0.51)
    assert rig.bms.cell_temperatures()[4].to("degC").magnitude == pytest.approx(42.5, abs=0.51)
    assert rig.stim.applied() == ["SENS cell_temperature[4]=42.5 CEL"]
    rig.stim.sensor_override("cell_temperature[4]", None)
    rig.sleep(1.0)
    assert rig.bms.status().cell_temperature_max.to("degC").magnitude == pytest.approx(before, abs=0.6)


def test_temperature_given_in_kelvin_is_the_same_override(rig: Rig) -> None:
    rig.stim.sensor_override("cell_temperature[0]", Q_(313.15, "K"))
    rig.sleep(1.0)
    assert rig.bms.cell_temperatures()[0].to("degC").magnitude == pytest.approx(40.0, abs=0.51)


def test_pack_current_override_shows_in_the_bms_status(rig: Rig) -> None:
    rig.stim.sensor_override("pack_current", Q_(-25, "A"))
    rig.sleep(1.0)
    assert rig.bms.status().pack_current.to("A").magnitude == pytest.approx(-25.0, abs=0.01)


def test_cell_voltage_step_shows_in_the_bms_cell_voltages_and_release_restores(rig: Rig) -> None:
    true = rig.plant.pack.cell_voltages_V()[3]
    assert rig.stim.cell_voltage_step(3, Q_(3650, "mV")) == "cell 3 voltage stepped to 3.65 V"
    rig.sleep(1.0)
    cells = [v.to("V").magnitude for v in rig.bms.cell_voltages()]
    assert cells[3] == pytest.approx(3.65, abs=0.001)
    assert rig.bms.status().cell_voltage_max.to("V").magnitude == pytest.approx(3.65, abs=0.001)
    assert rig.stim.applied() == ["CELL 3=3.65"]
    rig.stim.cell_voltage_step(3, None)
    rig.sleep(1.0)
    assert rig.bms.cell_voltages()[3].to("V").magnitude == pytest.approx(true, abs=0.005)


def test_heater_on_a_cell_raises_the_bms_temperature_of_that_element(rig: Rig) -> None:
    assert rig.stim.heat("cell[7]", Q_(30, "W")) == "heater on cell[7] at 30 W"
    rig.sleep(1200.0)
    temps = [t.to("degC").magnitude for t in rig.bms.cell_temperatures()]
    assert temps[7] == max(temps) and temps[7] > 30.0 and temps[0] < 26.0
    rig.stim.heat("cell[7]", None)
    assert rig.stim.applied() == []


def test_link_cut_makes_the_bms_link_time_out_and_restore_brings_it_back(rig: Rig) -> None:
    rig.bms.request_state("discharge")
    assert rig.stim.cut_link("bms_can") == "link of bms_can cut"
    rig.sleep(3.0)
    with pytest.raises(InstrumentTimeout, match="stale"):
        rig.bms.status()
    assert rig.plant.bms.alarms["comms_loss"] and not rig.plant.bms.contactor_closed  # the BMS watchdog acted
    assert rig.stim.applied() == ["LINK bms_can=CUT"]
    assert rig.stim.cut_link("bms_can", cut=False) == "link of bms_can restored"
    rig.sleep(1.0)
    st = rig.bms.status()
    assert "comms_loss" in st.active_alarms() and not st.contactor_closed


def test_safe_state_releases_every_stimulus_and_confirms_by_read_back(dev: Device) -> None:
    dev.stim.gas_release("bump", {"H2": Q_(5, "ppm/s")})
    dev.stim.sensor_override("cell_voltage[2]", Q_(3.1, "V"))
    dev.stim.ventilation(Q_(60, "m**3/h"))
    dev.stim.heat("pack", Q_(100, "W"))
    dev.stim.cut_link("bms")
    dev.stim.cell_voltage_step(5, Q_(3.3, "V"))
    assert len(dev.stim.applied()) == 6
    assert dev.stim.safe_state() == "every stimulus released (confirmed STIM:ACT? = NONE)"
    assert dev.stim.applied() == [] and dev.plant.stimulus_target().applied() == {}
    p = dev.plant
    assert not p.gas.sources and not p.comms_lost and not p.pack.cells.heaters()
    assert p.gas.exhaust_flow_m3_per_h is None


def test_reset_releases_everything(dev: Device) -> None:
    dev.stim.heat("cell[0]", Q_(10, "W"))
    dev.stim.conn.write("*RST")
    assert dev.stim.applied() == []


@pytest.mark.parametrize(
    ("call", "reply"),
    [
        (
            lambda s: s.sensor_override("cell_temp[0]", Q_(30, "degC")),
            r"-224,\"Illegal parameter value; unknown sensor channel 'cell_temp\[0\]'; known: cell_voltage\[0..15\], "
            r"cell_temperature\[0..15\], pack_current\"",
        ),
        (
            lambda s: s.gas_release("bump", {"CH4": Q_(1, "ppm/s")}),
            r"unknown gas species 'CH4'; known: H2, CO, VOC, HF",
        ),
        (lambda s: s.heat("enclosure", Q_(10, "W")), r"unknown heat zone 'enclosure'"),
        (lambda s: s.cut_link("psu"), r"unknown link 'psu'; known: bms\""),
        (lambda s: s.cell_voltage_step(16, Q_(3, "V")), r"unknown cell 16; known: 0..15"),
        (lambda s: s.sensor_override("cell_voltage[0]", Q_(7, "V")), r"-222,\"Data out of range; cell_voltage\[0\]"),
        (
            lambda s: s.sensor_override("cell_voltage[0]", Q_(30, "degC")),
            r"-131,\"Invalid suffix; cell_voltage\[0\] takes",
        ),
        (lambda s: s.heat("pack", Q_(6, "kW")), r"-222,\"Data out of range; heater on pack"),
    ],
)
def test_device_refusals_raise_a_named_error_with_command_and_reply(dev: Device, call, reply) -> None:
    with pytest.raises(InstrumentError, match="instrument reported an error") as e:
        call(dev.stim)
    assert re.search(reply, e.value.reply), e.value.reply
    assert e.value.instrument == "stimulus" and e.value.command.startswith("STIM:")
    assert dev.stim.applied() == [] and dev.plant.stimulus_target().applied() == {}


def test_conflicting_stimuli_on_one_sensing_path_are_refused(dev: Device) -> None:
    dev.stim.cell_voltage_step(3, Q_(3.4, "V"))
    with pytest.raises(InstrumentError, match=r"-221,\"Settings conflict; cell_voltage\[3\] is driven by"):
        dev.stim.sensor_override("cell_voltage[3]", Q_(3.0, "V"))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.sensor_override("cell_voltage[0]", 3.2), "must be a quantity with a unit"),
        (lambda s: s.sensor_override("cell_temperature[0]", Q_(5, "delta_degC")), "absolute degC value"),
        (lambda s: s.sensor_override("cell_voltage[0]", Q_(2, "s")), "must be a voltage, current, temperature"),
        (lambda s: s.sensor_override('bad"name', Q_(2, "V")), "sensor channel must be 1-64 characters"),
        (lambda s: s.gas_release("bump", {"H2": Q_(-1, "ppm/s")}), "must be >= 0 ppm/s"),
        (lambda s: s.gas_release("bump", {"H2": Q_(0, "ppm/s")}), "every rate is zero"),
        (lambda s: s.gas_release("bump", {}), "non-empty mapping"),
        (lambda s: s.gas_release("bump", {"H2": Q_(3, "V")}), "must be in ppm/s"),
        (lambda s: s.ventilation(Q_(float("nan"), "m**3/h")), "must be finite"),
        (lambda s: s.heat("pack", Q_(-5, "W")), "must be >= 0 W"),
        (lambda s: s.cell_voltage_step(-1, Q_(3, "V")), "cell must be a series-element index"),
        (lambda s: s.cell_voltage_step(True, Q_(3, "V")), "cell must be a series-element index"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(dev: Device, call, message) -> None:
    sent = len(dev.stim.conn.trace)
    with pytest.raises(InstrumentRangeError, match=message):
        call(dev.stim)
    assert len(dev.stim.conn.trace) == sent


def test_an_injected_instrument_fault_fails_the_next_setting_by_name(dev: Device) -> None:
    dev.plant.inject({"type": "instrument_error", "name": "stimulus", "code": -300, "message": "Relay driver fault"})
    with pytest.raises(InstrumentError, match=r"-300,\"Relay driver fault\"") as e:
        dev.stim.heat("cell[0]", Q_(10, "W"))
    assert e.value.command == 'STIM:HEAT "cell[0]",10'
    assert dev.stim.applied() == []


class _GasOnly(PackStimulusTarget):
    def available(self) -> set[str]:
        return {"gas_release"}


def test_a_stimulus_the_device_lacks_is_not_implemented_and_refused_on_the_wire() -> None:
    plant = Plant.from_config("lfp_module_16s1p", seed=1)
    clock = SimClock(max_step=Q_(1, "s"))
    server = scpi_stimulus.ScpiTcpServer(scpi_stimulus.SimStimulus(_GasOnly(plant), lock=clock.lock)).start()
    stim = HilStimulus(server.resource, name="hil")
    try:
        assert stim.available() == {"gas_release"}
        with pytest.raises(NotImplementedError, match="stimulus 'heat' is not available on .*available: gas_release"):
            stim.heat("pack", Q_(10, "W"))
        stim.conn.write('STIM:HEAT "pack",10')
        assert stim.conn.errors() == [(-241, "Hardware missing; this device has no heat")]
    finally:
        stim.close()
        server.stop()


def test_a_read_back_that_differs_from_the_setting_is_a_reply_error() -> None:
    script = [
        ("*IDN?", "ACME,HIL-9,1,2"),
        ("STIM:CAT?", "sensor_override"),
        ('STIM:SENS "cell_voltage[0]",3.2 V', None),
        ("SYST:ERR?", '+0,"No error"'),
        ('STIM:SENS? "cell_voltage[0]"', "3.1 V"),
    ]
    with ScriptedScpiServer(script) as server:
        stim = HilStimulus(server.resource, name="hil")
        with pytest.raises(InstrumentReplyError, match="read-back differs from the 3.2 sent") as e:
            stim.sensor_override("cell_voltage[0]", Q_(3.2, "V"))
        assert e.value.reply == "3.1 V"
        stim.close()
        assert server.done


def test_release_that_leaves_a_stimulus_applied_fails_the_safe_state() -> None:
    script = [
        ("*IDN?", "ACME,HIL-9,1,2"),
        ("STIM:CAT?", "heat"),
        ("STIM:REL:ALL", None),
        ("SYST:ERR?", '+0,"No error"'),
        ("STIM:ACT?", '"HEAT pack=10"'),
    ]
    with ScriptedScpiServer(script) as server:
        stim = HilStimulus(server.resource, name="hil")
        with pytest.raises(InstrumentError, match="stimuli still applied after STIM:REL:ALL.*HEAT pack=10"):
            stim.safe_state()
        stim.close()
        assert server.done


def test_simulated_station_binds_its_bms_roles_and_releases_stimuli_first_at_close(tmp_path: Path) -> None:
    s = BenchSession(
        station=ROOT / "stations" / "sim_safety.toml",
        limits=[ROOT / "limits" / "safety_chain_lfp.toml"],
        report_dir=tmp_path,
        interactive=False,
    ).open()
    try:
        stim = s.instruments["stimulus"]
        assert isinstance(stim, HilStimulus)
        assert stim.targets("cut_link") == ["bms", "bms_can", "bms_modbus"]
        stim.cut_link(s.instruments["bms_can"].name)
        stim.heat("cell[0]", Q_(5, "W"))
        s.clock.sleep(Q_(3, "s"))
        assert s.sim.plant.comms_lost
    finally:
        assert s.close() == "COMPLETED"
    safe = [e["message"] for e in s.journal.events(s.run_id) if e["kind"] == "safe_state"]
    assert safe[0] == "stimulus: every stimulus released (confirmed STIM:ACT? = NONE)"
    s.journal.close()
