"""The `bench` command: help everywhere, a one-line reason and non-zero exit on bad input."""

from pathlib import Path

import pytest

from bench.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"run", "limits", "stations", "runs", "report", "keys", "sign", "verify", "sim"} <= set(sub.choices)
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name


def test_limits_check_accepts_shipped_sets_and_prints_hash(capsys):
    assert main(["limits", "check", str(ROOT / "limits" / "smoke_lfp.toml")]) == 0
    assert "sha256" in capsys.readouterr().out


def test_limits_check_rejects_a_bad_file_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[limit_set]\nid = "x"\nversion = "1"\n[limits."a"]\nmin = "3 V"\nmax = "2 V"\nsource = "s"\n')
    assert main(["limits", "check", str(bad)]) == 1
    assert f"{bad}:limits.a" in capsys.readouterr().err


def test_stations_check_reports_calibration(capsys):
    assert main(["stations", "check", str(ROOT / "stations" / "sim.toml")]) == 0
    assert "KS-CAL-2026-04417" in capsys.readouterr().out


def test_runs_show_unknown_run_is_a_one_line_error(tmp_path, capsys):
    from bench.journal import Journal

    Journal(tmp_path / "journal.sqlite").close()
    assert main(["runs", "--report-dir", str(tmp_path), "show", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err


def test_runs_without_a_journal_says_where_it_looked(tmp_path, capsys):
    assert main(["runs", "--report-dir", str(tmp_path / "none"), "list"]) == 2
    assert "journal" in capsys.readouterr().err


def test_run_of_a_missing_plan_fails_clearly(capsys):
    assert main(["run", "test_plans/does_not_exist"]) == 2
    assert "not found" in capsys.readouterr().err


def test_unknown_command_exits_non_zero():
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code != 0


def test_arguments_after_double_dash_go_to_pytest():
    from bench.cli import split_passthrough
    from bench.commands.run import pytest_args

    head, tail = split_passthrough(["run", "test_plans/smoke", "--dut", "X", "--", "--html=x.html", "-k", "ocv"])
    assert tail == ["--html=x.html", "-k", "ocv"]
    args = build_parser().parse_args(head)
    args.pytest_args = [*args.pytest_args, *tail]
    out = pytest_args(args, Path("test_plans/smoke"))
    assert out[-3:] == ["--html=x.html", "-k", "ocv"] and "--dut" in out


def test_double_dash_outside_bench_run_is_refused():
    with pytest.raises(SystemExit) as e:
        main(["limits", "check", "x.toml", "--", "-k", "x"])
    assert e.value.code != 0
