"""Tariff and battery files: every number with its unit, range-checked, every gap in the calendar named."""

from __future__ import annotations

import numpy as np
import pytest

from bench.dispatch.battery import read_battery
from bench.dispatch.errors import SocWindowError, TariffCoverageError
from bench.dispatch.load import load_from_arrays
from bench.dispatch.tariff import read_tariff
from bench.errors import ConfigError, ConfigErrors
from bench.units import Q_

TOU = """
[tariff]
currency = "EUR"
holidays = ["2025-01-08"]
[seasons]
winter = [1, 2, 12]
rest = [3, 4, 5, 6, 7, 8, 9, 10, 11]
[[energy]]
name = "peak"
days = ["weekday"]
hours = ["08:30-20:00"]
price = "0.30 EUR/kWh"
[[energy]]
name = "night"
days = ["weekday"]
hours = ["20:00-08:30"]
price = "0.10 EUR/kWh"
[[energy]]
name = "weekend"
days = ["sat", "sun"]
price = "150 EUR/MWh"
[[demand]]
name = "winter peak"
seasons = ["winter"]
charge = "10 EUR/kW"
"""


def test_periods_price_each_interval_by_the_mean_of_its_minutes(write) -> None:
    t = read_tariff(write("t.toml", TOU))
    # Monday 2025-01-06, hourly: 08:00-09:00 is half night, half peak
    load = load_from_arrays(np.ones(24 * 7), step=Q_(1, "h"), start="2025-01-06T00:00")
    st = t.steps(load)
    assert (
        st.price[7] == pytest.approx(0.10) and st.price[8] == pytest.approx(0.20) and st.price[9] == pytest.approx(0.30)
    )
    assert st.price[22] == pytest.approx(0.10)  # wraps past midnight
    assert st.price[24 * 5 + 12] == pytest.approx(0.15)  # Saturday, given per MWh
    assert st.price[24 * 2 + 12] == pytest.approx(0.15)  # Wednesday 2025-01-08 is a holiday: priced as a Sunday
    assert st.demand_windows.shape == (1, 168) and st.demand_windows.all()


def test_an_uncovered_time_is_a_named_error_saying_when(write) -> None:
    text = TOU.replace('hours = ["20:00-08:30"]', 'hours = ["20:00-24:00", "00:00-08:00"]')
    with pytest.raises(TariffCoverageError, match=r"no energy period, first Jan mon 08:00") as exc:
        read_tariff(write("t.toml", text))
    assert exc.value.key == "energy"


def test_overlapping_periods_are_a_named_error(write) -> None:
    text = TOU.replace('days = ["sat", "sun"]', 'days = ["fri", "sat", "sun"]')
    with pytest.raises(
        TariffCoverageError, match=r"more than one energy period, first Jan fri 00:00 \('night' and 'weekend'\)"
    ):
        read_tariff(write("t.toml", text))


def test_a_season_without_periods_leaves_its_months_uncovered(write) -> None:
    text = TOU.replace('days = ["sat", "sun"]', 'days = ["sat", "sun"]\nseasons = ["winter"]')
    with pytest.raises(TariffCoverageError, match=r"months affected: apr, aug, jul, jun, mar, may, nov, oct, sep"):
        read_tariff(write("t.toml", text))


@pytest.mark.parametrize(
    "old, new, key, match",
    [
        (
            'price = "0.30 EUR/kWh"',
            'price = "0.30 USD/kWh"',
            "energy[0].price",
            "in USD, but the file's currency is EUR",
        ),
        ('price = "0.30 EUR/kWh"', 'price = "0.30 EUR/kW"', "energy[0].price", "amount per kWh"),
        ('price = "0.30 EUR/kWh"', 'price = "nan EUR/kWh"', "energy[0].price", "amount with its currency"),
        ('price = "0.30 EUR/kWh"', "price = 0.30", "energy[0].price", "amount with its currency"),
        ('price = "0.30 EUR/kWh"', 'price = "300 EUR/kWh"', "energy[0].price", "must be <= 100"),
        ('charge = "10 EUR/kW"', 'charge = "-10 EUR/kW"', "demand[0].charge", "must be >= 0"),
        ('hours = ["08:30-20:00"]', 'hours = ["8-20"]', "energy[0].hours", "HH:MM-HH:MM"),
        ('days = ["weekday"]', 'days = ["workday"]', "energy[0].days", "unknown day"),
        ('seasons = ["winter"]\ncharge', 'seasons = ["summer"]\ncharge', "demand[0].seasons", "unknown season"),
        ('currency = "EUR"', 'currency = "EUR"\ntimezone = "Mars/Olympus"', "tariff.timezone", "unknown time zone"),
        ('currency = "EUR"', 'currency = "EUR"\nrate = 1', "tariff.rate", "unknown key"),
    ],
)
def test_bad_tariff_values_name_file_and_key(write, old: str, new: str, key: str, match: str) -> None:
    p = write("t.toml", TOU.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match) as exc:
        read_tariff(p)
    assert exc.value.source == str(p) and exc.value.key == key


def test_several_tariff_problems_are_reported_together(write) -> None:
    text = TOU.replace('price = "0.30 EUR/kWh"', 'price = "x"').replace('charge = "10 EUR/kW"', 'charge = "1 EUR"')
    with pytest.raises(ConfigErrors) as exc:
        read_tariff(write("t.toml", text))
    assert {e.key for e in exc.value.errors} == {"energy[0].price", "demand[0].charge"}


BATTERY = """
[battery]
energy = "400 kWh"
power = "200 kW"
round_trip_efficiency = "90 %"
soc_min = "10 %"
soc_max = "90 %"
[degradation]
cycle_limit = "300 /year"
cycle_life = 4000
throughput_cost = "0.01 EUR/kWh"
[economics]
energy_cost = "200 EUR/kWh"
power_cost = "100 EUR/kW"
life = "15 year"
discount_rate = "6 %"
"""


def test_battery_file_reads_with_units_and_derived_values(write) -> None:
    b = read_battery(write("b.toml", BATTERY))
    assert b.energy_kwh == 400 and b.charge_kw == 200 and b.discharge_kw == 200
    assert b.charge_efficiency == pytest.approx(0.9**0.5) and b.round_trip == pytest.approx(0.9)
    assert b.soc_initial == pytest.approx(0.5)  # the middle of the window by default
    assert b.throughput_limit.to("MWh/year").magnitude == pytest.approx(120)
    assert b.lifetime_throughput.to("MWh").magnitude == pytest.approx(1600)
    assert b.throughput_limit_kwh(8760 / 2) == pytest.approx(60_000)  # half a year, half the cap
    assert b.investment() == pytest.approx(400 * 200 + 200 * 100)


@pytest.mark.parametrize(
    "old, new, match, key",
    [
        ('soc_min = "10 %"', 'soc_min = "95 %"', "the window is empty", "battery.soc_min"),
        ('soc_max = "90 %"', 'soc_max = "90 %"\nsoc_initial = "95 %"', "outside the window", "battery.soc_initial"),
    ],
)
def test_an_infeasible_soc_window_is_a_named_error(write, old: str, new: str, match: str, key: str) -> None:
    with pytest.raises(SocWindowError, match=match) as exc:
        read_battery(write("b.toml", BATTERY.replace(old, new)))
    assert exc.value.key == key


@pytest.mark.parametrize(
    "old, new, key, match",
    [
        ('energy = "400 kWh"', 'energy = "400 kW"', "battery.energy", "expected energy"),
        ('energy = "400 kWh"', 'energy = "inf kWh"', "battery.energy", "non-finite"),
        ('energy = "400 kWh"', 'energy = "0 kWh"', "battery.energy", "must be >"),
        ('power = "200 kW"', 'power = "-200 kW"', "battery.power", "must be >"),
        (
            'round_trip_efficiency = "90 %"',
            'round_trip_efficiency = "120 %"',
            "battery.round_trip_efficiency",
            "<= 100",
        ),
        ('cycle_limit = "300 /year"', 'cycle_limit = "300"', "degradation.cycle_limit", "dimension"),
        ('life = "15 year"', 'life = "15"', "economics.life", "dimension"),
        ('energy_cost = "200 EUR/kWh"', 'energy_cost = "200 USD/kWh"', "economics.energy_cost", "currency is EUR"),
        ("[degradation]", '[degradation]\nthroughput_limit = "1 MWh/year"', "degradation.cycle_limit", "not both"),
    ],
)
def test_bad_battery_values_name_file_and_key(write, old: str, new: str, key: str, match: str) -> None:
    p = write("b.toml", BATTERY.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match) as exc:
        read_battery(p)
    assert exc.value.source == str(p) and exc.value.key == key
