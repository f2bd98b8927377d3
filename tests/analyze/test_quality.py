"""Injected data-quality defects are counted and located, never silently dropped or kept."""

from __future__ import annotations

import polars as pl
import pytest

from bench.analyze import analyze_bms_log
from bench.analyze.synthetic import write_csv


def _finding(result, kind):
    found = [f for f in result.quality.findings if f.kind == kind]
    assert found, f"no {kind} finding in {[f.kind for f in result.quality.findings]}"
    return found[0]


def test_gaps_duplicates_and_out_of_order_rows(small_log, tmp_path):
    f = small_log.frame
    n = f.height
    # gap 1: 2 h from row 600; gap 2: 30 min from row 3000
    keep = pl.Series([not (600 <= i < 720 or 3000 <= i < 3030) for i in range(n)])
    g = f.filter(keep)
    dups = g[[100, 200, 300, 400, 500]]
    g = pl.concat([g[:1000], dups, g[1000:]])  # five exact duplicates, appended out of order too
    path = tmp_path / "defects.csv"
    write_csv(g, path)
    r = analyze_bms_log([path])
    gaps = _finding(r, "gaps")
    assert gaps.count == 2
    durations = sorted(round(x["duration_s"]) for x in gaps.locations)
    assert durations == [31 * 60, 121 * 60]
    dup = _finding(r, "duplicate_timestamps")
    assert dup.count == 5 and "5 exact duplicate" in dup.message
    back = _finding(r, "non_monotonic")
    assert back.count == 1  # one step back in time (the inserted block starts earlier)
    assert back.locations[0]["line"] == 1000 + 2  # first inserted row: data row 1000, after the header
    assert r.quality.rows_used == n - 150
    assert r.quality.rows_total == n - 150 + 5
    # the trapezoid is not taken across the gaps: 2.5 h of the 5 days are not covered
    assert r.quality.span_s - r.quality.covered_s == pytest.approx((121 + 31) * 60, abs=1)


def test_garbage_rows_are_set_aside_with_file_and_line(small_log, tmp_path):
    path = tmp_path / "garbage.csv"
    write_csv(small_log.frame.head(500), path)
    lines = path.read_text().splitlines()
    lines.insert(11, "### logger restarted ###")  # becomes data row 10 -> line 12
    lines.insert(21, lines[21].replace(",", ",abc,", 1).rsplit(",", 1)[0])  # shifted garbage value
    cols = lines[31].split(",")
    cols[5] = "65.535"  # Cell04 reading 65.5 V: out of the plausible range
    lines[31] = ",".join(cols)
    path.write_text("\n".join(lines) + "\n")
    r = analyze_bms_log([path])
    ts = _finding(r, "unparseable_timestamp")
    assert ts.count == 1 and ts.locations[0]["line"] == 12
    rng = _finding(r, "range_values")
    assert any(loc["column"] == "Cell04" and loc["line"] == 32 for loc in rng.locations)
    kinds = {f.kind for f in r.quality.findings}
    assert "missing_values" in kinds or "range_values" in kinds
    assert r.quality.rows_total == 502  # 500 rows + banner + shifted copy
    assert r.quality.rows_used == 499  # banner, shifted copy and the 65.5 V row set aside


def test_stuck_channel_is_reported(tmp_path):
    from bench.analyze.synthetic import SyntheticSpec, generate

    log = generate(SyntheticSpec(days=3, interval_s=60.0, seed=2))
    f = log.frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_between(1440, 2880)).then(pl.lit(21.5)).otherwise(pl.col("T2")).alias("T2")
    )
    path = tmp_path / "stuck.csv"
    write_csv(f, path)
    r = analyze_bms_log([path])
    stuck = _finding(r, "stuck_channels")
    assert {loc["column"] for loc in stuck.locations} == {"T2"}
    assert stuck.locations[0]["duration_s"] >= 20 * 3600


def test_empty_file_among_daily_files_is_a_finding(small_log, tmp_path):
    write_csv(small_log.frame.head(100), tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("")
    (tmp_path / "c.csv").write_text(",".join(small_log.frame.columns) + "\n")
    r = analyze_bms_log([tmp_path])
    empty = _finding(r, "empty_files")
    assert empty.count == 2
    assert r.quality.rows_used == 100


def test_mixed_time_zones_are_a_finding(small_log, tmp_path):
    path = tmp_path / "mixed.csv"
    write_csv(small_log.frame.head(300), path)
    lines = path.read_text().splitlines()
    for i in (50, 51, 52):
        ts, rest = lines[i].split(",", 1)
        lines[i] = ts.replace(" ", "T") + "+02:00," + rest
    path.write_text("\n".join(lines) + "\n")
    r = analyze_bms_log([path])
    mixed = _finding(r, "mixed_time_zones")
    assert mixed.count == 3 and mixed.severity == "error"
    assert [loc["line"] for loc in mixed.locations] == [51, 52, 53]


def test_rows_after_set_aside_rows_are_located_in_the_right_daily_file(small_log, tmp_path):
    """Usable rows carry no per-row file/line arrays; their location is rebuilt from the set-aside rows."""
    from bench.analyze.loading import load_log
    from bench.analyze.profile import load_profile
    from bench.analyze.synthetic import write_daily

    paths = write_daily(small_log.frame, tmp_path)
    day2 = paths[2].read_text().splitlines()
    for k in (5, 6, 7):  # three garbage data rows (lines 6-8) in the third file
        day2[k] = day2[k].split(",", 1)[0] + ",garbage"
    del day2[401:461]  # one hour missing from data row 400 on: the gap ends at line 402
    paths[2].write_text("\n".join(day2) + "\n")
    day3 = paths[3].read_text().splitlines()
    day3.insert(101, day3[100])  # exact duplicate of data row 99, as data row 100 (line 102)
    paths[3].write_text("\n".join(day3) + "\n")
    profile = load_profile()
    log = load_log([tmp_path], profile, batch_rows=997)  # many batches, rows split across them
    assert len(log.bad_global) == 3 and log.bad_counts["missing:Cell01"] == 3
    r = analyze_bms_log([tmp_path])
    gap = _finding(r, "gaps").locations[0]
    assert (gap["file"], gap["line"]) == (str(paths[2]), 402)
    dup = _finding(r, "duplicate_timestamps").locations[0]
    assert (dup["file"], dup["line"]) == (str(paths[3]), 102)
    garbage = _finding(r, "missing_values").locations
    assert [(x["file"], x["line"]) for x in garbage[:1]] == [(str(paths[2]), 6)]
    assert [f.rows for f in log.files] == [1440, 1440, 1440 - 60, 1441, 1440]


def test_loading_grows_past_a_low_row_estimate(small_log, tmp_path, monkeypatch):
    """The CSV row count is only estimated (from the first lines); an estimate far too low must still load whole."""
    from bench.analyze import loading
    from bench.analyze.profile import load_profile

    path = tmp_path / "log.csv"
    write_csv(small_log.frame, path)
    monkeypatch.setattr(loading, "_expected_rows", lambda files, groups: 10)
    log = loading.load_log([path], load_profile(), batch_rows=1000)
    f = small_log.frame
    assert len(log.t_us) == f.height
    assert abs(log.current - f["Current"].to_numpy()).max() < 1e-9
    assert abs(log.temps[3] - f["T4"].to_numpy()).max() < 1e-4
    assert abs(log.vmax - f.select(pl.max_horizontal(pl.col("^Cell.*$"))).to_series().to_numpy()).max() < 1e-6
