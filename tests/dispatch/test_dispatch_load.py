"""Load files: intervals, units, DST, gaps, and the named errors for what cannot be repaired."""

from __future__ import annotations

import numpy as np
import pytest

from bench.dispatch.errors import LoadDataError
from bench.dispatch.load import read_load
from bench.units import Q_


def _rows(start: str, n: int, step_min: int, value=lambda i: 100.0 + i) -> list[str]:
    t = np.datetime64(start) + np.arange(n) * np.timedelta64(step_min, "m")
    return [f"{str(x)[:16].replace('T', ' ')},{value(i):g}" for i, x in enumerate(t)]


def test_fifteen_minute_file_reads_as_regular_intervals(write) -> None:
    p = write("l.csv", "time,load[kW]\n" + "\n".join(_rows("2025-03-03T00:00", 96, 15)))
    s = read_load(p)
    assert s.n == 96 and s.step_s == 900 and s.pv_kw is None
    assert s.load_kw[:3] == pytest.approx([100, 101, 102])
    assert s.quality.findings == []


def test_energy_per_interval_column_becomes_mean_power(write) -> None:
    p = write(
        "l.csv",
        "# meter export\ntimestamp,load[kWh],pv[Wh]\n2025-01-01 00:00,25,0\n2025-01-01 00:15,30,5000\n"
        "2025-01-01 00:30,20,2500\n",
    )
    s = read_load(p)
    assert s.load_kw == pytest.approx([100, 120, 80])  # kWh per 15 min x 4
    assert s.pv_kw == pytest.approx([0, 20, 10])


def test_hourly_data_across_the_dst_end_keeps_the_repeated_hour_as_its_own_interval(write) -> None:
    # Europe/Berlin, 2025-10-26: 02:00 local happens twice (CEST then CET); a meter writes both
    rows = [
        "2025-10-26 00:00,1",
        "2025-10-26 01:00,2",
        "2025-10-26 02:00,3",
        "2025-10-26 02:00,4",
        "2025-10-26 03:00,5",
        "2025-10-26 04:00,6",
    ]
    p = write("l.csv", "time,load[kW]\n" + "\n".join(rows))
    s = read_load(p, timezone="Europe/Berlin")
    assert s.n == 6 and s.quality.filled == 0
    assert s.load_kw == pytest.approx([1, 2, 3, 4, 5, 6])
    assert np.all(np.diff(s.t_us) == 3_600_000_000)  # regular in real time
    assert [f.kind for f in s.quality.findings] == ["dst_repeated_hour"]


def test_a_local_time_that_does_not_exist_is_set_aside_and_its_interval_filled(write) -> None:
    # 2025-03-30 02:00 does not exist in Europe/Berlin; a file that has it anyway (wrongly) loses that row
    rows = [
        "2025-03-30 00:00,10",
        "2025-03-30 01:00,20",
        "2025-03-30 02:00,99",
        "2025-03-30 03:00,30",
        "2025-03-30 04:00,40",
    ]
    p = write("l.csv", "time,load[kW]\n" + "\n".join(rows))
    s = read_load(p, timezone="Europe/Berlin")
    kinds = {f.kind: f for f in s.quality.findings}
    assert kinds["nonexistent_local_time"].count == 1
    assert kinds["nonexistent_local_time"].locations[0]["line"] == 4
    assert s.n == 4 and s.load_kw == pytest.approx([10, 20, 30, 40])  # 01:00 CET is followed by 03:00 CEST


def test_short_gaps_are_filled_by_interpolation_and_reported(write) -> None:
    rows = _rows("2025-01-06T00:00", 12, 15)
    del rows[4:6]  # two missing intervals = 30 min
    p = write("l.csv", "time,load[kW]\n" + "\n".join(rows))
    s = read_load(p)
    assert s.n == 12 and s.quality.filled == 2
    assert s.load_kw[4:6] == pytest.approx([104, 105])
    gap = next(f for f in s.quality.findings if f.kind == "gaps_filled")
    assert gap.locations[0]["after_line"] == 5 and gap.locations[0]["missing_intervals"] == 2


def test_missing_intervals_longer_than_max_gap_are_a_named_error(write) -> None:
    rows = _rows("2025-01-06T00:00", 40, 15)
    del rows[10:20]  # 2.5 h missing
    p = write("l.csv", "time,load[kW]\n" + "\n".join(rows))
    with pytest.raises(LoadDataError, match=r"missing intervals: 1 gap\(s\) longer than 1 h .*line 11.*10 intervals"):
        read_load(p)
    assert read_load(p, max_gap=Q_(3, "h")).quality.filled == 10


def test_negative_load_is_a_named_error_with_its_line(write) -> None:
    rows = _rows("2025-01-06T00:00", 6, 60)
    rows[3] = rows[3].split(",")[0] + ",-5"
    p = write("l.csv", "time,load[kW]\n" + "\n".join(rows))
    with pytest.raises(LoadDataError, match=r"negative load in 1 row\(s\).*line 5: -5") as exc:
        read_load(p)
    assert exc.value.source == str(p) and exc.value.key == "load"


@pytest.mark.parametrize(
    "text, match",
    [
        ("time,power\n2025-01-01 00:00,1\n", "no load column"),
        ("when,load[kW]\n2025-01-01 00:00,1\n", "no timestamp column"),
        ("time,load\n2025-01-01 00:00,1\n", "has no unit"),
        ("time,load[V]\n2025-01-01 00:00,1\n2025-01-01 01:00,1\n", "power unit"),
        ("time,load[kW]\n2025-01-01 00:00,1\n2025-01-01 00:07,1\n2025-01-01 00:14,1\n", "divides one hour"),
        (
            "time,load[kW]\n2025-01-01 00:00,1\n2025-01-01 00:15,1\n2025-01-01 00:40,1\n2025-01-01 00:45,1\n"
            "2025-01-01 01:00,1\n",
            "irregular step",
        ),
        ("time,load[MW]\n2025-01-01 00:00,5000\n2025-01-01 01:00,1\n", "beyond any site"),
        ("time,load[kW]\n2025-01-01T00:00+01:00,1\n2025-01-01T01:00+01:00,1\n", "UTC offsets but the tariff names no"),
    ],
)
def test_bad_load_files_are_named_errors(write, text: str, match: str) -> None:
    with pytest.raises(LoadDataError, match=match):
        read_load(write("l.csv", text))


def test_non_numeric_and_duplicate_rows_are_reported_not_hidden(write) -> None:
    rows = _rows("2025-01-06T00:00", 8, 60)
    rows[2] = rows[2].split(",")[0] + ",n/a"
    rows.insert(5, rows[4])  # an exact duplicate
    p = write("l.csv", "time,load[kW]\n" + "\n".join(rows))
    s = read_load(p)
    kinds = {f.kind: f.count for f in s.quality.findings}
    assert kinds == {"missing_values": 1, "duplicate_timestamps": 1, "gaps_filled": 1}
    assert s.n == 8 and s.load_kw[2] == pytest.approx(102)


def test_the_example_year_reads_as_35040_intervals_with_the_dst_fold(tmp_path) -> None:
    from dispatch_helpers import EXAMPLES

    s = read_load(EXAMPLES / "load.csv", timezone="Europe/Berlin")
    assert s.n == 35_040 and s.step_s == 900
    assert s.quality.filled == 0 and s.pv_kw is not None
    months, labels = s.months()
    assert labels[0] == "2025-01" and labels[-1] == "2025-12" and np.bincount(months)[0] == 31 * 96
