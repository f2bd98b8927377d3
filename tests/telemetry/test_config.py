"""[telemetry] in a station or plan.toml: parsed and checked at load time, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ConfigErrors
from bench.session import BenchSession
from bench.station import load_station

ROOT = Path(__file__).resolve().parents[2]


def station(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "station.toml"
    p.write_text(f'[station]\nname = "t"\ninclude = ["{ROOT / "stations" / "sim.toml"}"]\n{body}')
    return p


def test_a_valid_section_becomes_settings(tmp_path: Path) -> None:
    st = load_station(
        station(
            tmp_path,
            """
[telemetry]
rate = "100 Hz"
flush = "250 ms"
levels = ["1 s", "1 min", "1 h"]
[telemetry.can]
roles = ["bms_can"]
messages = ["0x233", 592]
[telemetry.channels."chamber.air"]
role = "chamber"
read = "temperature"
unit = "degC"
[telemetry.detectors]
k = 8
temperature_rate_floor = "2 K/min"
relaxation_delays = ["10 s", "1 s"]
""",
        )
    )
    s = st.telemetry_settings
    assert s.rate_hz == 100.0 and s.flush_s == 0.25 and s.levels_s == (1.0, 60.0, 3600.0)
    assert s.can.roles == ("bms_can",) and s.can.messages == (0x233, 0x250)
    assert s.channels[0].resolution == pytest.approx(0.01)  # default step for a temperature
    assert s.detectors.k == 8 and s.detectors.temperature_rate_floor_K_per_s == pytest.approx(2 / 60)
    assert s.detectors.relaxation_delays_s == (1.0, 10.0)


def test_every_problem_is_named_by_file_and_key(tmp_path: Path) -> None:
    path = station(
        tmp_path,
        """
[telemetry]
rate = "inf Hz"
flush = "2 s"
colour = "blue"
levels = ["1 s", "15 s", "20 s"]
[telemetry.can]
roles = ["psu", "bms"]
messages = ["0x900"]
[telemetry.channels."psu.v"]
role = "psu"
read = "measure_voltag"
unit = "V"
resolution = "-1 mV"
[telemetry.channels."x"]
role = "load"
read = "measure_current"
unit = "zorks"
[telemetry.detectors]
k = nan
persist = "2 h"
fudge = 1
""",
    )
    with pytest.raises(ConfigErrors) as err:
        load_station(path)
    text = str(err.value)
    for key in (
        "telemetry.rate",
        "telemetry.flush: 2 s outside",
        "telemetry.colour: unknown key",
        "telemetry.levels: each level must be a whole multiple",
        "telemetry.can.messages[0]",
        "telemetry.channels.psu.v.resolution",
        "telemetry.channels.x.unit",
        "telemetry.detectors.k",
        "telemetry.detectors.persist: 2 h outside",
        "telemetry.detectors.fudge: unknown key",
    ):
        assert f"{path}:{key}" in text, key


def test_roles_and_driver_methods_are_checked(tmp_path: Path) -> None:
    path = station(
        tmp_path,
        """
[telemetry.can]
roles = ["psu", "bms"]
[telemetry.channels."psu.v"]
role = "psu"
read = "measure_voltag"
unit = "V"
""",
    )
    with pytest.raises(ConfigErrors) as err:
        load_station(path)
    text = str(err.value)
    assert "role 'bms' is not a role of this station" in text
    assert "of role 'psu' offers no frame subscription" in text
    assert "KeysightRP7900 has no method 'measure_voltag'" in text


def test_the_plans_section_overrides_the_stations_key_by_key_and_is_checked(tmp_path: Path) -> None:
    path = station(tmp_path, '[telemetry]\nrate = "10 Hz"\n[telemetry.detectors]\nk = 12\n')
    limits = [ROOT / "limits" / "smoke_lfp.toml"]
    s = BenchSession(
        station=path,
        limits=limits,
        report_dir=tmp_path,
        interactive=False,
        telemetry={"rate": "50 Hz", "detectors": {"persist": "3 s"}},
        telemetry_source="plan.toml",
    )
    t = s.telemetry_settings
    assert t.rate_hz == 50.0 and t.detectors.k == 12 and t.detectors.persist_s == 3.0
    with pytest.raises(ConfigErrors, match="plan.toml:telemetry.channels.a.role: role 'nope'"):
        BenchSession(
            station=path,
            limits=limits,
            report_dir=tmp_path,
            interactive=False,
            telemetry={"channels": {"a": {"role": "nope", "read": "x", "unit": "V"}}},
            telemetry_source="plan.toml",
        )
    s.journal.close()
