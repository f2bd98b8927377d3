import pytest

from bench.errors import ConfigError
from bench.limits import GradeBand, Limit
from bench.units import Q_
from bench.verdict import Verdict, decide

OCV = Limit("cell.ocv", Q_(2.5, "V"), Q_(3.65, "V"), marginal=Q_(50, "mV"))


@pytest.mark.parametrize(
    "value, verdict",
    [
        (Q_(3.3, "V"), Verdict.PASS),
        (Q_(3.62, "V"), Verdict.MARGINAL),
        (Q_(2.52, "V"), Verdict.MARGINAL),
        (Q_(3.7, "V"), Verdict.FAIL),
        (Q_(2400, "mV"), Verdict.FAIL),
        (Q_(3650, "mV"), Verdict.MARGINAL),
    ],
)
def test_simple_rule_decides_pass_marginal_fail(value, verdict):
    assert decide("cell.ocv", value, OCV).verdict is verdict


def test_missing_limit_is_indeterminate():
    d = decide("cell.nothing", Q_(1, "V"), None)
    assert d.verdict is Verdict.INDETERMINATE and "no limit" in d.reason


def test_expired_calibration_is_indeterminate_even_when_in_limits():
    d = decide("cell.ocv", Q_(3.3, "V"), OCV, calibration_expired=True, instrument="dmm")
    assert d.verdict is Verdict.INDETERMINATE and "calibration" in d.reason and "dmm" in d.reason


def test_guarded_rule_makes_straddling_results_indeterminate():
    lim = Limit("r", None, Q_(10, "mohm"), rule="guarded")
    assert decide("r", Q_(9.9, "mohm"), lim, uncertainty=Q_(0.2, "mohm")).verdict is Verdict.INDETERMINATE
    assert decide("r", Q_(9.0, "mohm"), lim, uncertainty=Q_(0.2, "mohm")).verdict is Verdict.PASS
    assert decide("r", Q_(10.5, "mohm"), lim, uncertainty=Q_(0.2, "mohm")).verdict is Verdict.FAIL


def test_unit_mismatch_is_an_error_naming_the_limit():
    with pytest.raises(ConfigError, match="cell.ocv"):
        decide("cell.ocv", Q_(3, "A"), OCV)


def test_grades_sort_a_result():
    lim = Limit(
        "spread",
        None,
        None,
        grades=(GradeBand("A", Q_(0, "mV"), Q_(20, "mV")), GradeBand("B", Q_(20, "mV"), Q_(50, "mV"))),
    )
    assert decide("spread", Q_(12, "mV"), lim).grade == "A"
    assert decide("spread", Q_(0.03, "V"), lim).grade == "B"
    assert decide("spread", Q_(80, "mV"), lim).verdict is Verdict.FAIL


def test_combine_is_worst_of():
    assert Verdict.combine([Verdict.PASS, Verdict.MARGINAL]) is Verdict.MARGINAL
    assert Verdict.combine([Verdict.PASS, Verdict.INDETERMINATE, Verdict.FAIL]) is Verdict.FAIL
    assert Verdict.combine([]) is Verdict.INDETERMINATE
