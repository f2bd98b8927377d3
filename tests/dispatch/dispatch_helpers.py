"""Small dispatch problems built from arrays (imported by the dispatch tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.dispatch.battery import Battery
from bench.dispatch.load import load_from_arrays
from bench.dispatch.optimiser import Optimiser
from bench.dispatch.tariff import TariffSteps
from bench.units import Q_

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "dispatch"

FLAT_TARIFF = """
[tariff]
name = "flat"
currency = "EUR"

[[energy]]
name = "all"
price = "0.20 EUR/kWh"
"""


def battery(
    energy: float = 100.0,
    power: float = 50.0,
    eta_c: float = 1.0,
    eta_d: float = 1.0,
    soc_min: float = 0.0,
    soc_max: float = 1.0,
    soc_initial: float = 0.5,
    limit_mwh_per_year: float | None = None,
    kappa: float = 0.0,
    **kw: object,
) -> Battery:
    return Battery(
        source="<test>",
        name="test",
        energy=Q_(energy, "kWh"),
        charge_power=Q_(power, "kW"),
        discharge_power=Q_(power, "kW"),
        charge_efficiency=eta_c,
        discharge_efficiency=eta_d,
        soc_min=soc_min,
        soc_max=soc_max,
        soc_initial=soc_initial,
        currency="EUR",
        throughput_limit=None if limit_mwh_per_year is None else Q_(limit_mwh_per_year, "MWh/year"),
        throughput_cost=kappa,
        **kw,
    )  # type: ignore[arg-type]


def steps(
    price: list[float] | np.ndarray,
    demand: float | None = None,
    windows: np.ndarray | None = None,
    export_price: list[float] | np.ndarray | None = None,
) -> TariffSteps:
    price = np.asarray(price, float)
    n = price.size
    if demand is None:
        w, d = np.zeros((0, n), bool), np.zeros(0)
    else:
        w = np.ones((1, n), bool) if windows is None else np.asarray(windows, bool)[None, :]
        d = np.array([demand])
    return TariffSteps(
        price=price,
        export_price=None if export_price is None else np.asarray(export_price, float),
        period=np.zeros(n, np.intp),
        demand_windows=w,
        demand_charge=d,
    )


def solve(
    load_kw: list[float] | np.ndarray,
    st: TariffSteps,
    bat: Battery,
    step_min: float = 60.0,
    pv=None,
    cap_mode: str = "price",
    **kw: object,
):
    load = load_from_arrays(np.asarray(load_kw, float), step=Q_(step_min, "min"), pv_kw=pv)
    return Optimiser(load, None, bat, steps=st, cap_mode=cap_mode, **kw).run()  # type: ignore[arg-type]
