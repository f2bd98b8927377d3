import textwrap
from pathlib import Path

import pytest

from bench.errors import ConfigErrors
from bench.station import load_station

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_shipped_stations_validate():
    for f in sorted((ROOT / "stations").glob("*.toml")):
        st = load_station(f)
        assert st.roles, f


def test_include_shares_a_base_and_the_including_file_wins(tmp_path):
    write(
        tmp_path,
        "base.toml",
        """
        [station]
        name = "base"
        site = "Lab A"
        [roles.psu]
        driver = "instruments.keysight_rp7900:KeysightRP7900"
        resource = "TCPIP0::10.0.0.2::5025::SOCKET"
        serial = "MY1"
        calibration = { certificate = "C-1", due = 2030-01-01 }
    """,
    )
    p = write(
        tmp_path,
        "bench.toml",
        """
        [station]
        name = "bench-3"
        include = "base.toml"
        [roles.psu]
        resource = "TCPIP0::10.0.0.3::5025::SOCKET"
    """,
    )
    st = load_station(p)
    assert st.name == "bench-3" and st.site == "Lab A"
    assert st.roles["psu"].resource.startswith("TCPIP0::10.0.0.3") and st.roles["psu"].serial == "MY1"
    assert len(st.sources) == 2


def test_every_problem_is_reported_by_file_and_key(tmp_path):
    p = write(
        tmp_path,
        "bad.toml",
        """
        [station]
        name = "x"
        mode = "yolo"
        [roles.psu]
        driver = "instruments.nowhere:Nothing"
        resource = "sim"
        timeout = "2 V"
        calibration = { certificate = "C", due = "someday" }
        [roles.load]
        resource = "TCPIP0::1.2.3.4::5025::SOCKET"
        voltage = 3
    """,
    )
    with pytest.raises(ConfigErrors) as e:
        load_station(p)
    keys = {err.key for err in e.value.errors}
    assert {
        "station.mode",
        "roles.psu.driver",
        "roles.psu.timeout",
        "roles.psu.calibration.due",
        "roles.load.driver",
        "roles.load.voltage",
        "roles",
    } <= keys
    assert all(err.source == str(p) for err in e.value.errors)


def test_include_cycle_is_reported(tmp_path):
    write(tmp_path, "a.toml", '[station]\nname = "a"\ninclude = "b.toml"\n')
    p = write(tmp_path, "b.toml", '[station]\nname = "b"\ninclude = "a.toml"\n')
    with pytest.raises(Exception, match="include cycle"):
        load_station(p)


def test_production_station_needs_calibration_and_real_instruments(tmp_path):
    p = write(
        tmp_path,
        "prod.toml",
        """
        [station]
        name = "p"
        mode = "production"
        [roles.psu]
        driver = "instruments.keysight_rp7900:KeysightRP7900"
        resource = "sim"
    """,
    )
    with pytest.raises(ConfigErrors) as e:
        load_station(p)
    keys = {err.key for err in e.value.errors}
    assert {"station.mode", "roles.psu.calibration"} <= keys
