"""measure()/require() through the recorder: journalled at once, calibration-aware, require stops."""

import datetime as dt
import textwrap

import pytest

from bench.errors import RequirementFailed
from bench.journal import Journal
from bench.limits import Limits, load_limit_set
from bench.prompts import Prompter, PromptError
from bench.recorder import Recorder, StepContext
from bench.station import load_station
from bench.units import Q_
from bench.verdict import Verdict


@pytest.fixture
def recorder(tmp_path):
    st = tmp_path / "st.toml"
    st.write_text(
        textwrap.dedent("""
        [station]
        name = "t"
        [roles.psu]
        driver = "instruments.keysight_rp7900:KeysightRP7900"
        resource = "TCPIP0::10.0.0.1::5025::SOCKET"
        serial = "OLD"
        calibration = { certificate = "C-OLD", due = 2020-01-01 }
        [roles.dmm]
        driver = "instruments.keysight_rp7900:KeysightRP7900"
        resource = "TCPIP0::10.0.0.2::5025::SOCKET"
        calibration = { certificate = "C-NEW", due = 2099-01-01 }
    """)
    )
    lim = tmp_path / "l.toml"
    lim.write_text('[limit_set]\nid = "l"\nversion = "1"\n[limits."v"]\nmin = "1 V"\nmax = "2 V"\nsource = "s"\n')
    j = Journal(tmp_path / "j.sqlite")
    j.start_run("r")
    rec = Recorder(
        j,
        "r",
        Limits([load_limit_set(lim)]),
        load_station(st, check_drivers=False),
        lambda: 12.5,
        today=dt.date(2026, 11, 23),
    )
    rec.step = StepContext(nodeid="plan::step", clauses=["UL 1974 §x"])
    return rec


def test_measurement_is_journalled_with_step_instrument_clause_and_time(recorder):
    m = recorder.measure("v", Q_(1500, "mV"), instrument="dmm")
    assert m.verdict is Verdict.PASS
    row = recorder.journal.measurements("r")[0]
    assert row["value"] == pytest.approx(1.5) and row["unit"] == "V" and row["step"] == "plan::step"
    assert row["clause"] == "UL 1974 §x" and row["instrument"] == "dmm" and row["t"] == 12.5
    assert row["instrument_info"]["calibration"]["certificate"] == "C-NEW"
    assert row["limit"]["low"] == 1 and row["limit"]["high"] == 2


def test_expired_calibration_makes_the_measurement_indeterminate(recorder):
    m = recorder.measure("v", Q_(1.5, "V"), instrument="psu")
    assert m.verdict is Verdict.INDETERMINATE and "psu" in m.reason


def test_measure_does_not_stop_but_require_does(recorder):
    assert recorder.measure("v", Q_(5, "V")).verdict is Verdict.FAIL
    with pytest.raises(RequirementFailed, match="v = 5 V"):
        recorder.require("v", Q_(5, "V"))
    assert len(recorder.journal.measurements("r")) == 2


def test_bare_numbers_are_refused(recorder):
    with pytest.raises(TypeError, match="pint quantity"):
        recorder.measure("v", 1.5)


def test_prompt_answers_come_from_prepared_answers_and_are_journalled():
    events = []
    p = Prompter({"visual.ok": "yes"}, interactive=False, journal_event=lambda *a: events.append(a))
    assert p("visual.ok", "Module free of swelling?", ["yes", "no"]) == "yes"
    assert events[0][0] == "prompt" and events[0][2]["answer"] == "yes"


def test_unanswered_prompt_never_blocks_and_names_the_key():
    p = Prompter({}, interactive=False, journal_event=lambda *a: None)
    with pytest.raises(PromptError, match="visual.leak"):
        p("visual.leak", "Any electrolyte leak?")


def test_prepared_answer_outside_the_choices_is_an_error():
    p = Prompter({"k": "maybe"}, interactive=False, journal_event=lambda *a: None)
    with pytest.raises(PromptError, match="maybe"):
        p("k", "q", ["yes", "no"])
