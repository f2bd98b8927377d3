"""Duty-cycle files: parsed and range-checked at load time, written back identically."""

from __future__ import annotations

import numpy as np
import pytest

from bench.dutycycle import DutyCycle, format_duty_cycle, load_duty_cycle, parse_duty_cycle
from bench.errors import ConfigError
from bench.units import Q_, ureg

GOOD = """# ess-bench duty-cycle 1
# name: two hours
t[s],power[kW],soc[%]
0,0,50
3600,100,50
7200,-50,10
"""


def test_duty_cycle_holds_each_power_until_the_next_row_and_the_last_for_one_step():
    c = parse_duty_cycle(GOOD, source="x.csv")
    assert c.name == "two hours"
    assert c.end_s == 10800.0
    assert c.power_at(Q_(3599, "s")).to("kW").magnitude == 0.0
    assert c.power_at(Q_(3600, "s")).to("kW").magnitude == pytest.approx(100.0)
    assert c.power_at(Q_(10800, "s")).magnitude == 0.0
    discharged, charged = c.energy()
    assert discharged.to("kWh").magnitude == pytest.approx(100.0)
    assert charged.to("kWh").magnitude == pytest.approx(50.0)


def test_normalised_duty_cycle_needs_the_rated_power():
    c = parse_duty_cycle("# end: 4 s\nt[s],power[%]\n0,50\n2,-100\n", source="fr.csv")
    assert c.normalised
    with pytest.raises(ConfigError, match="rated"):
        c.power_w()
    assert list(c.power_w(Q_(200, "kW"))) == [100_000.0, -200_000.0]


@pytest.mark.parametrize(
    "text, where",
    [
        ("t[s],power[kW]\n0,nan\n1,0\n", "line 2 column power"),
        ("t[s],power[kW]\n0,inf\n1,0\n", "line 2 column power"),
        ("t[s],power[kW]\n0,1\n0,2\n", "line 3 column t"),
        ("t[s],power[kW]\n5,1\n6,2\n", "line 2 column t"),
        ("t[s],power[kV]\n0,1\n1,2\n", "column power"),
        ("t[s],power[kW]\n0,1\n1,abc\n", "line 3 column power"),
        ("t[s],power[kW],soc[%]\n0,1,120\n1,2,50\n", "line 2 column soc"),
        ("t[s],power[kW]\n0,1\n", "end"),
        ("t[s],power[kW]\n0,1e12\n1,0\n", "line 2 column power"),
        ("t[s]\n0\n1\n", "line 1"),
    ],
)
def test_bad_duty_cycle_is_refused_naming_file_line_and_column(text, where):
    with pytest.raises(ConfigError) as exc:
        parse_duty_cycle(text, source="cycle.csv")
    assert "cycle.csv" in str(exc.value) and where in str(exc.value)


def test_written_duty_cycle_reads_back_equal(tmp_path):
    c = DutyCycle(
        name="sched",
        t_s=np.array([0.0, 900.0, 1800.0]),
        power=np.array([1.5, -2.25, 0.0]),
        power_unit=ureg.kW,
        end_s=2700.0,
        soc_pct=np.array([50.0, 48.5, 52.0]),
    )
    p = tmp_path / "sched.csv"
    p.write_text(format_duty_cycle(c, source="test"), encoding="utf-8")
    back = load_duty_cycle(p)
    assert back.name == "sched" and back.meta["source"] == "test"
    assert np.array_equal(back.t_s, c.t_s) and np.array_equal(back.power, c.power)
    assert np.array_equal(back.soc_pct, c.soc_pct) and back.end_s == 2700.0
