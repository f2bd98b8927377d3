import pint
import pytest

from bench.errors import ConfigError
from bench.units import Q_, as_seconds, check_dimension, parse_quantity


@pytest.mark.parametrize(
    "text, unit, value",
    [
        ("3.65 V", "V", 3.65),
        ("0.5 MΩ", "ohm", 5e5),
        ("2 h", "s", 7200),
        ("250 A*h", "C", 900000),
        ("10 mV", "V", 0.01),
    ],
)
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


def _units_in_fresh_process(env_extra: dict[str, str]) -> str:
    import os
    import subprocess
    import sys

    code = "from bench.units import Q_; print(Q_('3.65 V').to('mV'), Q_('25 degC').to('K'))"
    env = {**os.environ, **env_extra}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_unit_registry_cache_is_written_and_reused(tmp_path):
    cache = tmp_path / "cache"
    first = _units_in_fresh_process({"XDG_CACHE_HOME": str(cache)})
    assert list(cache.rglob("*.pickle")), "pint wrote no cache"
    assert _units_in_fresh_process({"XDG_CACHE_HOME": str(cache)}) == first == "3650.0 mV 298.15 K"


def test_broken_or_unwritable_unit_cache_falls_back_to_parsing(tmp_path):
    cache = tmp_path / "cache"
    _units_in_fresh_process({"XDG_CACHE_HOME": str(cache)})
    for f in cache.rglob("*.pickle"):
        f.write_bytes(f.read_bytes()[:100])  # half written by a parallel process
    assert _units_in_fresh_process({"XDG_CACHE_HOME": str(cache)}) == "3650.0 mV 298.15 K"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert _units_in_fresh_process({"XDG_CACHE_HOME": str(blocker)}) == "3650.0 mV 298.15 K"
