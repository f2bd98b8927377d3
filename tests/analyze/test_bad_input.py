"""Bad input gives a clear error naming file, column or profile key, or a data-quality finding."""

from __future__ import annotations

import pytest

from bench.analyze import LogInputError, analyze_bms_log, load_profile
from bench.analyze.profile import PROFILE_DIR
from bench.analyze.synthetic import write_csv
from bench.cli import main
from bench.errors import BenchError, ConfigError, ConfigErrors


def _profile_text(**replace):
    text = (PROFILE_DIR / "study_lfp_16s5p.toml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def test_missing_column_names_file_column_and_profile_key(small_log, tmp_path):
    path = tmp_path / "nocell.csv"
    write_csv(small_log.frame.drop("Cell07").head(50), path)
    with pytest.raises(LogInputError) as exc:
        analyze_bms_log([path])
    msg = str(exc.value)
    assert "nocell.csv" in msg and "'Cell07'" in msg and "columns.cell_voltages" in msg


def test_wrong_delimiter_hints_at_profile_key(small_log, tmp_path):
    path = tmp_path / "semi.csv"
    small_log.frame.head(20).write_csv(path, separator=";")
    with pytest.raises(LogInputError, match="file.delimiter"):
        analyze_bms_log([path])


def test_wrong_units_in_profile_name_file_and_key(tmp_path):
    prof = tmp_path / "bad.toml"
    prof.write_text(_profile_text(**{'current = "A"': 'current = "V"'}))
    with pytest.raises(ConfigError) as exc:
        load_profile(prof)
    assert "bad.toml" in str(exc.value) and "units.current" in str(exc.value)


def test_unknown_unit_and_bad_capacity_reported_together(tmp_path):
    prof = tmp_path / "bad2.toml"
    prof.write_text(
        _profile_text(
            **{
                'temperature = "degC"': 'temperature = "degQ"',
                'nominal_capacity = "250 A*h"': 'nominal_capacity = "250 V"',
            }
        )
    )
    with pytest.raises(ConfigErrors) as exc:
        load_profile(prof)
    msg = str(exc.value)
    assert "units.temperature" in msg and "battery.nominal_capacity" in msg


def test_units_in_millivolts_are_converted(small_log, tmp_path):
    import polars as pl

    prof = tmp_path / "mv.toml"
    prof.write_text(_profile_text(**{'cell_voltage = "V"': 'cell_voltage = "mV"'}))
    f = small_log.frame.head(1440).with_columns(pl.col(r"^Cell\d+$") * 1000)
    path = tmp_path / "mv.csv"
    write_csv(f, path)
    r = analyze_bms_log([path], prof)
    assert r.quality.rows_used == 1440
    assert 5 < r.metrics.imbalance_summary["max"].to("mV").magnitude < 12  # offsets of +-4 mV


def test_empty_inputs_give_clear_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(LogInputError, match="empty"):
        analyze_bms_log([tmp_path / "empty.csv"])
    with pytest.raises(LogInputError, match="no such file"):
        analyze_bms_log([tmp_path / "missing.csv"])
    (tmp_path / "sub").mkdir()
    with pytest.raises(LogInputError, match="no .csv or .parquet"):
        analyze_bms_log([tmp_path / "sub"])


def test_all_garbage_is_an_error_not_a_crash(small_log, tmp_path):
    path = tmp_path / "junk.csv"
    header = ",".join(small_log.frame.columns)
    path.write_text(header + "\n" + "\n".join("garbage" for _ in range(20)) + "\n")
    with pytest.raises(LogInputError, match="no usable rows"):
        analyze_bms_log([path])


def test_wrong_timestamp_format_every_row_is_reported(small_log, tmp_path):
    path = tmp_path / "ts.csv"
    write_csv(small_log.frame.head(50), path, fmt="%d.%m.%Y %H:%M:%S")
    with pytest.raises(LogInputError, match="timestamp.format"):
        analyze_bms_log([path])


def test_unknown_profile_name_lists_shipped_profiles():
    with pytest.raises(ConfigError, match="study_lfp_16s5p"):
        load_profile("no_such_profile")


def test_cli_writes_outputs_and_fails_cleanly(small_log, tmp_path, capsys):
    path = tmp_path / "log.csv"
    write_csv(small_log.frame, path)
    out = tmp_path / "out"
    assert main(["analyze", "bms-log", str(path), "--out", str(out), "--quiet", "--nominal-capacity", "250 A*h"]) == 0
    for name in ("result.json", "annual.csv", "daily.csv", "findings.csv", "report.html"):
        assert (out / name).stat().st_size > 0
    import json

    data = json.loads((out / "result.json").read_text())
    assert data["totals"]["charge"]["unit"] == "A·h"
    assert (out / "annual.csv").read_text().splitlines()[0] == (
        "year,days,charge_Ah,discharge_Ah,capacity_loss_pct,equivalent_full_cycles,charge_kWh,discharge_kWh,"
        "energy_loss_pct"
    )
    assert "<svg" in (out / "report.html").read_text()
    assert main(["analyze", "bms-log", str(tmp_path / "nope.csv"), "--out", str(out), "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["analyze", "bms-log", str(path), "--nominal-capacity", "12 V", "--quiet"]) == 2


def test_errors_are_bench_errors():
    assert issubclass(LogInputError, BenchError)


def test_a_readme_in_the_log_folder_is_skipped_and_named_not_fatal(small_log, tmp_path):
    folder = tmp_path / "site-logs"
    folder.mkdir()
    write_csv(small_log.frame.head(1440), folder / "2025-01-01.csv")
    (folder / "README.txt").write_text("exported from the BMS by the site crew\nrack 3, string B\n")
    (folder / "notes.csv").write_text("who,when\nsite crew,2025-01-02\n")
    (folder / "rack.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a log")
    r = analyze_bms_log([folder])
    assert r.quality.rows_used == 1440
    skipped = [f for f in r.quality.findings if f.kind == "skipped_files"]
    assert skipped and skipped[0].count == 3
    assert {loc["file"].rsplit("/", 1)[-1] for loc in skipped[0].locations} == {"README.txt", "notes.csv", "rack.jpg"}
    with pytest.raises(LogInputError, match="README.txt"):  # a file the user names is read, and refused by name
        analyze_bms_log([folder / "README.txt"])
