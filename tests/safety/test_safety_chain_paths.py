"""The safety chain's own rules, without a run: how one hazard's chain is timed and journalled, where
a BMS setting comes from, and the load-time check that a missing response can only FAIL."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pint
import pytest

from bench.declarations import load_plan_file
from bench.errors import ConfigErrors
from bench.limits import Limits, load_limit_set
from bench.prompts import PromptError
from bench.units import Q_
from instruments.capabilities import BmsConfiguration
from test_plans.safety_chain.chain import PATHS, Seen, check_windows, configured, journal_response, watch

ROOT = Path(__file__).resolve().parents[2]
PLAN_TOML = ROOT / "test_plans" / "safety_chain" / "plan.toml"
LFP = ROOT / "limits" / "safety_chain_lfp.toml"


def _limits(path: Path = LFP) -> Limits:
    _plan, decl = load_plan_file(PLAN_TOML)
    return Limits([load_limit_set(path, decl)], decl)


class Clock:
    """Virtual time: sleep advances it, and the timeline says what the instruments show when."""

    def __init__(self) -> None:
        self.t = 100.0

    def now_s(self) -> float:
        return self.t

    def sleep(self, dt: pint.Quantity) -> None:
        self.t += float(dt.to("s").magnitude)


def _probe(clock: Clock, t0: float, at: dict[str, float]):
    """Each link shows from its time after t0 on (absent: never)."""

    def probe() -> Seen:
        now = clock.now_s() - t0
        return Seen(**{k: now >= v - 1e-9 for k, v in at.items()})

    return probe


def _journal(r: Any) -> dict[str, tuple[pint.Quantity, str, bool]]:
    out: dict[str, tuple[pint.Quantity, str, bool]] = {}

    def measure(name: str, value: pint.Quantity, *, instrument: Any = None, note: str = "", required: bool = False):
        out[name] = (value, note, required)

    journal_response(r, measure, lambda *a, **k: measure(*a, **k, required=True), {})
    return out


@pytest.mark.parametrize("shipped", ["safety_chain_lfp.toml", "safety_chain_nmc.toml"])
def test_the_shipped_limit_sets_pass_the_window_check(shipped: str) -> None:
    check_windows(_limits(ROOT / "limits" / shipped))


def test_a_window_no_longer_than_its_limit_is_refused_at_load_time_naming_file_and_key(tmp_path: Path) -> None:
    text = LFP.read_text().replace(
        '[parameters."pressure.response_window"]\nvalue = "8 s"',
        '[parameters."pressure.response_window"]\nvalue = "2 s"',
    )
    text = text.replace('[limits."ror.trip_time"]\nmax = "61 s"', '[limits."ror.trip_time"]\nmin = "0 s"')
    bad = tmp_path / "lfp.toml"
    bad.write_text(text)
    with pytest.raises(ConfigErrors) as e:
        check_windows(_limits(bad))
    msg = str(e.value)
    assert (
        f"{bad}:parameters.pressure.response_window: window 2 s must be longer than the 2.5 s limit of "
        "'pressure.current_zero_time'" in msg
    )
    assert "'ror.trip_time' (ror chain) needs a max limit" in msg


def test_every_link_of_a_healthy_chain_is_timed_from_the_detection() -> None:
    clock = Clock()
    t0 = clock.now_s()
    r = watch(
        clock,
        t0,
        PATHS["pressure"],
        _limits(),
        _probe(clock, t0, {"detection": 13.6, "alarm": 14.1, "trip": 14.1, "zero": 14.2}),
        hazard="pressure",
        poll=Q_(0.1, "s"),
    )
    j = _journal(r)
    assert j["pressure.alarm_response"][0].m == pytest.approx(13.6)
    assert (
        j["pressure.alarm_time"][0].m == pytest.approx(0.5)
        and "from detection at 13.6 s" in j["pressure.alarm_time"][1]
    )
    assert j["pressure.current_zero_time"][0].m == pytest.approx(0.6) and j["pressure.current_zero_time"][2]
    assert not j["pressure.trip_time"][2]  # measured; only the current at zero is required
    assert r.ended == "every link seen" and clock.t - t0 == pytest.approx(14.2)


def test_a_response_never_seen_is_journalled_as_its_window_which_fails() -> None:
    limits = _limits()
    clock = Clock()
    t0 = clock.now_s()
    r = watch(
        clock,
        t0,
        PATHS["pressure"],
        limits,
        _probe(clock, t0, {"detection": 13.6}),
        hazard="pressure",
        poll=Q_(0.1, "s"),
    )
    j = _journal(r)
    window = limits.param("pressure.response_window")
    for name in ("pressure.alarm_time", "pressure.trip_time", "pressure.current_zero_time"):
        assert j[name][0] == Q_(window.m, "s") and j[name][0] > limits.get(name).high, j[name]
        assert "not seen within the 8 s window after detection at 13.6 s" in j[name][1]
    assert clock.t - t0 == pytest.approx(13.6 + 8.0)  # watched to the end of the window, not beyond


def test_a_detection_never_seen_ends_the_watch_at_its_window() -> None:
    limits = _limits()
    clock = Clock()
    t0 = clock.now_s()
    r = watch(clock, t0, PATHS["thermal"], limits, _probe(clock, t0, {}), hazard="thermal", poll=Q_(0.05, "s"))
    j = _journal(r)
    assert (
        j["thermal.detection_time"][0] == Q_(10, "s")
        and "not seen within the 10 s window" in j["thermal.detection_time"][1]
    )
    assert j["thermal.current_zero_time"][0] == Q_(10, "s")  # the response window, from the stimulus
    assert clock.t - t0 == pytest.approx(10.0)


def test_a_link_already_showing_before_the_stimulus_is_not_timed() -> None:
    clock = Clock()
    t0 = clock.now_s()
    before = Seen(zero=True, note="load 0.002 A")  # no current flowing: a current zero proves nothing
    r = watch(
        clock,
        t0,
        PATHS["thermal"],
        _limits(),
        _probe(clock, t0, {"detection": 0.1, "alarm": 0.5, "trip": 0.5, "zero": 0.0}),
        hazard="thermal",
        poll=Q_(0.05, "s"),
        before=before,
    )
    j = _journal(r)
    value, note, required = j["thermal.current_zero_time"]
    assert math.isnan(value.m) and required and "already showing before the stimulus (load 0.002 A)" in note
    assert j["thermal.trip_time"][0].m == pytest.approx(0.4)


def test_a_response_seen_before_the_detection_counts_as_immediate_and_says_so() -> None:
    clock = Clock()
    t0 = clock.now_s()
    r = watch(
        clock,
        t0,
        PATHS["gas_stage2"],
        _limits(),
        _probe(clock, t0, {"alarm": 3.0, "trip": 3.0, "zero": 3.1, "detection": 5.0}),
        hazard="gas_stage2",
        poll=Q_(0.1, "s"),
    )
    j = _journal(r)
    assert j["gas.stage2_trip_time"][0].m == 0.0 and "seen 2 s before detection at 5 s" in j["gas.stage2_trip_time"][1]


def test_a_cut_link_is_timed_from_the_cut_and_an_abort_ends_the_watch() -> None:
    clock = Clock()
    t0 = clock.now_s()
    r = watch(
        clock,
        t0,
        PATHS["comms"],
        _limits(),
        _probe(clock, t0, {"detection": 1.55, "zero": 2.05}),
        hazard="comms",
        poll=Q_(0.05, "s"),
    )
    j = _journal(r)
    assert (
        j["comms.safe_state_time"][0].m == pytest.approx(2.05)
        and "from the stimulus command" in j["comms.safe_state_time"][1]
    )
    clock = Clock()
    t0 = clock.now_s()
    r = watch(
        clock,
        t0,
        PATHS["ror"],
        _limits(),
        _probe(clock, t0, {"detection": 20.0}),
        hazard="ror",
        poll=Q_(0.25, "s"),
        abort=lambda: "heater stopped at the cap" if clock.now_s() - t0 >= 50 else "",
    )
    assert r.ended == "heater stopped at the cap" and clock.t - t0 == pytest.approx(50.0)
    assert _journal(r)["ror.trip_time"][0] == Q_(120, "s")  # not seen: the window, a FAIL


# -- where a BMS setting comes from ------------------------------------------------------------------
class Prompts:
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, key: str, question: str) -> str:
        self.asked.append(key)
        return self.answers[key]


class Bms:
    name = "bms_can"


class ConfiguredBms(BmsConfiguration):
    name = "bms_vendor"

    def protection_settings(self) -> dict[str, pint.Quantity]:
        return {"ot_discharge_trip": Q_(328.15, "K"), "ror_alarm": Q_(0.03, "K/s")}


def test_a_bms_with_a_configuration_read_is_read_and_nobody_is_asked() -> None:
    prompt = Prompts({})
    value, origin = configured(ConfiguredBms(), prompt, "ot_discharge_trip")
    assert value.to("degC").m == pytest.approx(55.0) and origin == "read from bms_vendor (configuration read)"
    rate, _ = configured(ConfiguredBms(), prompt, "ror_alarm")
    assert rate.to("K/min").m == pytest.approx(1.8) and prompt.asked == []


def test_a_setting_the_device_cannot_report_is_typed_by_the_operator_and_witnessed() -> None:
    prompt = Prompts({"bms.setting.gradient_alarm": "10 K", "bms.setting.witness": "A. Witness"})
    value, origin = configured(ConfiguredBms(), prompt, "gradient_alarm")
    assert value == Q_(10, "K") and prompt.asked == ["bms.setting.gradient_alarm", "bms.setting.witness"]
    assert (
        origin == "typed by the operator from the BMS tool (prompt bms.setting.gradient_alarm), witnessed by A. Witness"
    )


@pytest.mark.parametrize(
    ("answer", "witness", "error"),
    [
        (
            "fifty-five",
            "A. Witness",
            "BMS setting 'ot_charge_trip' (prompt bms.setting.ot_charge_trip): expected a value "
            "in degC such as '55 degC', got 'fifty-five'",
        ),
        ("55", "A. Witness", "expected a value in degC"),
        ("55 V", "A. Witness", "expected a value in degC"),
        ("nan degC", "A. Witness", "non-finite value 'nan degC' refused"),
        ("55 degC", "", "prompt 'bms.setting.witness': a witness name is 2-64 letters"),
        ("55 degC", "x1", "a witness name is 2-64 letters"),
    ],
)
def test_an_unusable_answer_is_refused_naming_the_prompt(answer: str, witness: str, error: str) -> None:
    prompt = Prompts({"bms.setting.ot_charge_trip": answer, "bms.setting.witness": witness})
    with pytest.raises(PromptError, match=re.escape(error)):
        configured(Bms(), prompt, "ot_charge_trip")
