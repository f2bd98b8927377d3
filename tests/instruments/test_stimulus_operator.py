"""OperatorStimulus: every stimulus is a prompt with a typed confirmation and the witness's name,
all journalled; on a simulated station the simulated operator performs what was confirmed, so the
hardware path runs in CI against prepared answers and the plant responds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.errors import ConfigErrors
from bench.prompts import Prompter, PromptError
from bench.session import BenchSession
from bench.station import load_station
from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.operator_stimulus import STIMULI, OperatorStimulus, StimulusNotConfirmed

ROOT = Path(__file__).resolve().parents[2]
WITNESS = "Ada Lovelace"


class Journal:
    """Collects what the prompt journals (kind, message, data)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        self.rows.append((kind, message, dict(data or {})))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.rows]


def operator(answers: dict[str, str], **options: Any) -> tuple[OperatorStimulus, Journal]:
    journal = Journal()
    op = OperatorStimulus("operator", name="stimulus", **options)
    op.attach_prompt(
        Prompter(
            {"stimulus.witness": WITNESS, **answers}, interactive=False, journal_event=journal, source="test answers"
        )
    )
    return op, journal


def test_a_stimulus_journals_question_typed_confirmation_and_witness() -> None:
    op, journal = operator({"stimulus.sensor_override.cell_temperature[0]": "done"})
    text = op.sensor_override("cell_temperature[0]", Q_(85, "degC"))
    assert text == f"sensor cell_temperature[0] forced to 85 degC (operator confirmed 'done', witness {WITNESS})"
    assert journal.kinds() == ["prompt", "prompt", "stimulus"]
    question = journal.rows[0][2]
    assert question["key"] == "stimulus.sensor_override.cell_temperature[0]" and question["answer"] == "done"
    assert question["question"] == (
        'Force sensor cell_temperature[0] to read 85 degC now; type "done" or the value applied (85 °C)'
    )
    assert journal.rows[1][2]["key"] == "stimulus.witness" and journal.rows[1][2]["answer"] == WITNESS
    event = journal.rows[2][2]
    assert event["confirmed"] is True and event["confirmation"] == "done" and event["witness"] == WITNESS
    assert event["stimulus"] == "sensor_override" and event["backend"] == "operator"
    assert op.applied() == ["sensor cell_temperature[0] forced to 85 degC"]


def test_the_operator_may_type_the_value_applied_within_the_tolerance() -> None:
    op, journal = operator({"stimulus.cell_voltage_step.3": "3652 mV", "stimulus.heat.pack": "101 W"})
    assert "confirmed '3652 mV'" in op.cell_voltage_step(3, Q_(3.65, "V"))
    assert "confirmed '101 W'" in op.heat("pack", Q_(100, "W"))  # 1 % of 100 W
    assert [r[2]["confirmation"] for r in journal.rows if r[0] == "stimulus"] == ["3652 mV", "101 W"]


@pytest.mark.parametrize("answer", ["3.7 V", "no", "skip", "", "3.65 A", "ok"])
def test_anything_else_is_a_refusal_and_nothing_is_applied(answer: str) -> None:
    op, journal = operator({"stimulus.cell_voltage_step.3": answer})
    with pytest.raises(StimulusNotConfirmed, match=r"operator did not confirm: cell 3 voltage stepped to 3.65 V") as e:
        op.cell_voltage_step(3, Q_(3.65, "V"))
    assert e.value.command == "stimulus.cell_voltage_step.3" and e.value.reply == answer
    assert op.applied() == []
    assert journal.kinds() == ["prompt", "stimulus"]  # no witness is asked for a refused stimulus
    assert journal.rows[1][2]["confirmed"] is False and "NOT confirmed" in journal.rows[1][1]


def test_confirm_value_requires_the_value_where_there_is_one() -> None:
    op, _ = operator({"stimulus.ventilation": "done", "stimulus.cut_link.bms_can": "done"}, confirm_value=True)
    with pytest.raises(StimulusNotConfirmed, match=r"expected the value applied \(120 m³/h\)"):
        op.ventilation(Q_(120, "m**3/h"))
    assert "link of bms_can cut" in op.cut_link("bms_can")  # nothing to type but "done"


@pytest.mark.parametrize("witness", ["", "x", "Robert'); DROP TABLE", "7of9", "A" * 65])
def test_a_witness_name_that_is_no_name_refuses_the_stimulus(witness: str) -> None:
    op, _ = operator({"stimulus.gas_release.bump": "done", "stimulus.witness": witness})
    with pytest.raises(StimulusNotConfirmed, match="witness name") as e:
        op.gas_release("bump", {"H2": Q_(40, "ppm/s")})
    assert e.value.reply == witness and op.applied() == []


def test_release_keys_and_release_all() -> None:
    answers = {
        "stimulus.gas_release.bump": "done",
        "stimulus.gas_release.bump.off": "done",
        "stimulus.cut_link.bms_can": "done",
        "stimulus.ventilation": "done",
        "stimulus.release_all": "done",
    }
    op, journal = operator(answers)
    assert op.release_all() == "no stimulus applied (operator backend)" and journal.rows == []
    op.gas_release("bump", {"H2": Q_(40, "ppm/s"), "CO": Q_(15, "ppm/s")})
    assert "gas release 'bump' stopped" in op.gas_release("bump", None)
    op.cut_link("bms_can")
    op.ventilation(Q_(2, "m**3/min"))
    assert op.applied() == ["link of bms_can cut", "enclosure exhaust at 120 m³/h"]
    text = op.safe_state()
    assert text.startswith("every stimulus released (link of bms_can cut; enclosure exhaust at 120 m³/h)")
    assert op.applied() == [] and op.safe_state_order == 95
    asked = [r[2]["key"] for r in journal.rows if r[0] == "prompt" and r[2]["key"] != "stimulus.witness"]
    assert asked == [
        "stimulus.gas_release.bump",
        "stimulus.gas_release.bump.off",
        "stimulus.cut_link.bms_can",
        "stimulus.ventilation",
        "stimulus.release_all",
    ]


def test_a_prompt_without_a_prepared_answer_names_its_key() -> None:
    op, _ = operator({})
    with pytest.raises(PromptError, match=r"'stimulus.heat.cell\[2\]'.*\[simulation.prompts\]"):
        op.heat("cell[2]", Q_(20, "W"))


def test_available_is_what_the_station_options_allow() -> None:
    op, _ = operator({}, stimuli=["gas_release", "cut_link"])
    assert op.available() == {"gas_release", "cut_link"}
    with pytest.raises(NotImplementedError, match="stimulus 'heat' is not available .*cut_link, gas_release"):
        op.heat("pack", Q_(10, "W"))
    assert operator({})[0].available() == set(STIMULI)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resource": "TCPIP0::10.0.0.1::5025::SOCKET"}, 'resource must be "operator"'),
        ({"resource": "operator+"}, 'resource must be "operator"'),
        ({"stimuli": ["gas_release", "teleport"]}, r"unknown stimuli \['teleport'\]"),
        ({"stimuli": "gas_release"}, "must be a list"),
        ({"confirm_value": "yes"}, "confirm_value must be true or false"),
        ({"value_tolerance": "lots"}, "value_tolerance must be a fraction"),
        ({"value_tolerance": "150 %"}, "between 0 % and 100 %"),
    ],
)
def test_bad_station_options_are_refused_by_name(kwargs: dict[str, Any], message: str) -> None:
    args = {"resource": "operator", **kwargs}
    with pytest.raises(ValueError, match=message):
        OperatorStimulus(args.pop("resource"), name="stimulus", **args)


def test_without_the_bench_prompt_nothing_is_asked() -> None:
    op = OperatorStimulus("operator", name="stimulus")
    with pytest.raises(InstrumentError, match="no operator prompt attached"):
        op.cut_link("bms_can")


def test_bad_arguments_are_refused_before_the_operator_is_asked() -> None:
    op, journal = operator({})
    with pytest.raises(InstrumentRangeError, match="must be a quantity with a unit"):
        op.sensor_override("cell_voltage[0]", 3.2)
    with pytest.raises(InstrumentRangeError, match="every rate is zero"):
        op.gas_release("bump", {"H2": Q_(0, "ppm/s")})
    assert journal.rows == []


# -- station files ------------------------------------------------------------------------------
def _station(tmp_path: Path, body: str, name: str = "station.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_an_operator_role_may_sit_beside_simulated_roles_but_a_real_instrument_may_not(tmp_path: Path) -> None:
    base = f'[station]\nname = "t"\ninclude = ["{ROOT / "stations" / "sim_safety.toml"}"]\n'
    op = '[roles.stimulus]\ndriver = "instruments.operator_stimulus:OperatorStimulus"\nresource = "operator"\n'
    st = load_station(_station(tmp_path, base + op))
    assert st.simulated and st.roles["stimulus"].resource == "operator"
    real = '[roles.dmm]\nresource = "TCPIP0::192.168.10.23::5025::SOCKET"\n'
    with pytest.raises(ConfigErrors, match=r"mixes simulated and real roles \(real: dmm\)"):
        load_station(_station(tmp_path, base + op + real, "mixed.toml"))


def test_a_production_station_needs_no_calibration_record_for_its_operator(tmp_path: Path) -> None:
    body = (
        f'[station]\nname = "prod"\nmode = "production"\ninclude = ["{ROOT / "stations" / "lab_base.toml"}"]\n'
        '[safety]\ntrust_file = "trust.toml"\n'
        '[roles.bms_can]\ncalibration = { certificate = "FB-1", due = 2099-01-01 }\n'
        '[roles.bms_modbus]\ncalibration = { certificate = "SS-1", due = 2099-01-01 }\n'
    )
    st = load_station(_station(tmp_path, body))
    assert st.production and st.roles["stimulus"].calibration is None


# -- the hardware path on a simulated station ----------------------------------------------------
OPERATOR_STATION = """
[station]
name = "sim-safety-operator"
include = ["{base}"]

[roles.stimulus]
driver = "instruments.operator_stimulus:OperatorStimulus"
resource = "operator"
make = "ESS Bench"
model = "operator with witness"

[simulation.prompts]
"stimulus.witness" = "{witness}"
"stimulus.gas_release.bump" = "done"
"stimulus.gas_release.bump.off" = "done"
"stimulus.sensor_override.cell_voltage[2]" = "3.4 V"
"stimulus.heat.cell[1]" = "no heater fitted"
"stimulus.cut_link.bms_can" = "done"
"stimulus.release_all" = "done"
"""


def test_on_a_simulated_station_the_simulated_operator_does_what_was_confirmed(tmp_path: Path) -> None:
    station = _station(tmp_path, OPERATOR_STATION.format(base=ROOT / "stations" / "sim_safety.toml", witness=WITNESS))
    s = BenchSession(
        station=station, limits=[ROOT / "limits" / "safety_chain_lfp.toml"], report_dir=tmp_path, interactive=False
    ).open()
    try:
        stim, gas, bms = s.instruments["stimulus"], s.instruments["gas"], s.instruments["bms_can"]
        assert isinstance(stim, OperatorStimulus)
        assert "simulated hands ESS Bench,operator with witness" in stim.identity()
        target = s.sim.plant.stimulus_target()

        before = gas.read().ppm["H2"].to("ppm").magnitude
        stim.gas_release("bump", {"H2": Q_(2, "ppm/s")})
        s.clock.sleep(Q_(10, "s"))
        assert gas.read().ppm["H2"].to("ppm").magnitude > before + 15.0  # ~20 ppm released into the enclosure
        stim.gas_release("bump", None)

        stim.sensor_override("cell_voltage[2]", Q_(3.4, "V"))
        s.clock.sleep(Q_(1, "s"))
        assert bms.cell_voltages()[2].to("V").magnitude == pytest.approx(3.4, abs=0.001)

        with pytest.raises(StimulusNotConfirmed):
            stim.heat("cell[1]", Q_(20, "W"))
        assert "heat" not in target.applied()  # refused at the prompt: the plant never saw it

        stim.cut_link(bms.name)
        assert s.sim.plant.comms_lost
        assert stim.applied() == ["sensor cell_voltage[2] forced to 3.4 V", "link of bms_can cut"]
    finally:
        assert s.close() == "COMPLETED"
    assert target.applied() == {} and not s.sim.plant.comms_lost  # safe state: the operator released all
    events = s.journal.events(s.run_id)
    prompts = [e for e in events if e["kind"] == "prompt"]
    stimuli = [e for e in events if e["kind"] == "stimulus"]
    assert [e["message"].split(" (")[0] for e in stimuli] == [
        "stimulus: gas release 'bump' started: H2 2 ppm/s",
        "stimulus: gas release 'bump' stopped",
        "stimulus: sensor cell_voltage[2] forced to 3.4 V",
        "stimulus: heater on cell[1] at 20 W NOT confirmed",
        "stimulus: link of bms_can cut",
        "stimulus: every stimulus released",
    ]
    assert sum(WITNESS in e["message"] for e in prompts) == 5  # every confirmed stimulus was witnessed
    assert any("Disconnect the communication link of station role 'bms_can'" in e["message"] for e in prompts)
    safe = [e["message"] for e in events if e["kind"] == "safe_state"]
    assert safe[-1].startswith("stimulus: every stimulus released")  # asked last, after the automatic ones
    s.journal.close()
