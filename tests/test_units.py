import pint
import pytest

from bench.errors import ConfigError
from bench.units import Q_, as_seconds, check_dimension, parse_quantity


@pytest.mark.parametrize("text, unit, value", [
    ("3.65 V", "V", 3.65), ("0.5 MΩ", "ohm", 5e5), ("2 h", "s", 7200), ("250 A*h", "C", 900000),
    ("10 mV", "V", 0.01),
])
def test_parses_quantity_strings_from_config(text, unit, value):
    assert parse_quantity(text).to(unit).magnitude == pytest.approx(value)


def test_parses_celsius_as_an_offset_temperature():
    assert parse_quantity("25 degC").to("K").magnitude == pytest.approx(298.15)


def test_unparseable_quantity_names_file_and_key():
    with pytest.raises(ConfigError) as e:
        parse_quantity("3.65 Volts-ish", source="limits/x.toml", key="limits.cell.max")
    assert "limits/x.toml" in str(e.value) and "limits.cell.max" in str(e.value)


def test_dimension_mismatch_names_file_key_and_expected_dimension():
    with pytest.raises(ConfigError) as e:
        parse_quantity("5 A", source="stations/s.toml", key="roles.psu.timeout", dimension="time")
    msg = str(e.value)
    assert "stations/s.toml:roles.psu.timeout" in msg and "expected time" in msg


def test_check_dimension_accepts_matching_units():
    check_dimension(Q_(3, "mV"), "voltage")
    check_dimension(Q_(3, "kohm"), Q_(1, "ohm"))


@pytest.mark.parametrize("bad", [True, None, [1], ""])
def test_non_quantity_config_values_are_rejected(bad):
    with pytest.raises(ConfigError):
        parse_quantity(bad, source="f.toml", key="k")


def test_durations_need_a_unit():
    assert as_seconds(Q_(2, "min")) == 120
    with pytest.raises(TypeError):
        as_seconds(5)
    with pytest.raises(pint.DimensionalityError):
        as_seconds(Q_(5, "V"))
