"""`bench dispatch` end to end: the files it writes agree with each other; bad inputs end with a named reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dispatch_helpers import EXAMPLES

from bench.cli import main
from bench.dutycycle import load_duty_cycle


@pytest.fixture
def two_weeks(tmp_path):
    lines = (EXAMPLES / "load.csv").read_text(encoding="utf-8").splitlines()
    p = tmp_path / "load.csv"
    p.write_text("\n".join(lines[: 3 + 14 * 96]) + "\n", encoding="utf-8")
    return p


def _run(*args: str) -> int:
    return main(["dispatch", "--quiet", *args])


def test_dispatch_writes_a_duty_cycle_that_matches_its_economics(two_weeks, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc = _run(
        "--load",
        str(two_weeks),
        "--tariff",
        str(EXAMPLES / "tariff.toml"),
        "--battery",
        str(EXAMPLES / "site_battery.toml"),
        "--out",
        str(out),
    )
    assert rc == 0, capsys.readouterr().err
    cycle = load_duty_cycle(out / "schedule.dutycycle.csv")
    econ = json.loads((out / "economics.json").read_text())
    assert cycle.t_s.size == 14 * 96 and cycle.end_s == 14 * 86400
    dis, chg = cycle.energy()
    assert dis.to("kWh").magnitude == pytest.approx(econ["horizon_totals"]["discharged"]["value"], abs=1e-2)
    assert chg.to("kWh").magnitude == pytest.approx(econ["horizon_totals"]["charged"]["value"], abs=1e-2)
    assert (
        cycle.soc_pct[0] == pytest.approx(50) and 10 - 1e-6 <= cycle.soc_pct.min() <= cycle.soc_pct.max() <= 90 + 1e-6
    )
    assert all(v < 1e-6 for v in econ["checks"].values())
    assert econ["lp"]["rows"] > 0 and econ["horizon"]["intervals"] == 14 * 96
    assert econ["annual"]["annualisation_factor"] == pytest.approx(8760 / (14 * 24))
    pred = json.loads((out / "prediction.json").read_text())
    assert pred["discharged"]["value"] == pytest.approx(dis.to("kWh").magnitude, rel=1e-6)
    peaks_after = [m["peak_import_after_kw"] for m in econ["monthly"]]
    assert pred["import_peak_after"]["2025-01"]["value"] == pytest.approx(peaks_after[0], abs=1e-3)
    html = (out / "dispatch.html").read_text()
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<svg") >= 9 and "Data quality of the load" in html
    assert "written:" in capsys.readouterr().out


def test_dispatch_with_studies_fills_the_sizing_threshold_and_trade_tables(two_weeks, tmp_path) -> None:
    out = tmp_path / "out"
    rc = _run(
        "--load",
        str(two_weeks),
        "--tariff",
        str(EXAMPLES / "tariff.toml"),
        "--battery",
        str(EXAMPLES / "battery.toml"),
        "--out",
        str(out),
        "--sweep-energy",
        "100 kWh, 250 kWh",
        "--sweep-power",
        "50 kW, 100 kW",
        "--threshold",
        "--trade",
    )
    assert rc == 0
    econ = json.loads((out / "economics.json").read_text())
    assert {(r["energy_kwh"], r["power_kw"]) for r in econ["sizing"]} == {(100, 50), (100, 100), (250, 50), (250, 100)}
    assert econ["differential_threshold"]["status"]
    assert len(econ["throughput_trade"]) == 6
    html = (out / "dispatch.html").read_text()
    assert "Sizing: energy × power" in html and "Throughput limit (lifetime) against savings" in html


def test_overrides_of_energy_and_power_resize_the_battery(two_weeks, tmp_path) -> None:
    out = tmp_path / "out"
    assert (
        _run(
            "--load",
            str(two_weeks),
            "--tariff",
            str(EXAMPLES / "tariff.toml"),
            "--battery",
            str(EXAMPLES / "site_battery.toml"),
            "--out",
            str(out),
            "--energy",
            "0.8 MWh",
            "--power",
            "300 kW",
        )
        == 0
    )
    cycle = load_duty_cycle(out / "schedule.dutycycle.csv")
    assert np.abs(cycle.power).max() <= 300 + 1e-6
    assert "800 kWh / 300 kW" in cycle.meta["battery"]


def test_an_uncovered_tariff_ends_with_the_reason_and_no_output(two_weeks, tmp_path, write, capsys) -> None:
    text = (EXAMPLES / "tariff.toml").read_text().replace('days = ["weekend"]', 'days = ["sat"]')
    out = tmp_path / "out"
    rc = _run(
        "--load",
        str(two_weeks),
        "--tariff",
        str(write("t.toml", text)),
        "--battery",
        str(EXAMPLES / "battery.toml"),
        "--out",
        str(out),
    )
    assert rc == 2 and not out.exists()
    assert "no energy period, first Jan sun 00:00" in capsys.readouterr().err


def test_an_infeasible_site_ends_with_the_families_at_fault_and_no_schedule(two_weeks, tmp_path, write, capsys) -> None:
    text = (EXAMPLES / "tariff.toml").read_text() + '\n[grid]\nimport_limit = "120 kW"\n'
    out = tmp_path / "out"
    rc = _run(
        "--load",
        str(two_weeks),
        "--tariff",
        str(write("t.toml", text)),
        "--battery",
        str(EXAMPLES / "battery.toml"),
        "--out",
        str(out),
    )
    err = capsys.readouterr().err
    assert rc == 2 and not (out / "schedule.dutycycle.csv").exists()
    assert "infeasible" in err and "grid import" in err
