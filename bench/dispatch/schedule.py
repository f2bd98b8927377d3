"""A solved schedule read back by family, and the checks that every constraint holds.

Why the checks are recomputed here instead of trusting the solver's status: the output is a duty
cycle that a plan replays on hardware, so the energy balance, the SoC window, the power limits and
the throughput cap are verified on the numbers written, with the worst violation reported.
Simultaneous charge and discharge (which an LP may choose when prices are negative, burning energy
in the losses) is found and reported, never hidden in a net power.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.analyze.quality import MAX_LOCATIONS, fmt_time
from bench.dispatch.battery import Battery
from bench.dispatch.load import LoadSeries
from bench.dispatch.model import LpModel
from bench.dispatch.tariff import TariffSteps

SIMULTANEOUS_KW = 1e-6  # charge and discharge both above this in one interval is "simultaneous"


@dataclass
class Schedule:
    """Per-interval results in kW / kWh (names carry the unit); quantities at the public edges (economics)."""

    load: LoadSeries
    steps: TariffSteps
    battery: Battery
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray  # stored energy at the END of each interval
    import_kw: np.ndarray
    export_kw: np.ndarray
    curtail_kw: np.ndarray
    objective: float
    throughput_cap_kwh: float | None
    throughput_price: float  # shadow price of the cap (currency per kWh), 0 when not binding
    size: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    solver: dict[str, Any] = field(default_factory=dict)

    @property
    def soc_start_kwh(self) -> np.ndarray:
        """Stored energy at the START of each interval (what a duty cycle's soc column means)."""
        return np.concatenate([[self.battery.energy_kwh * self.battery.soc_initial], self.soc_kwh[:-1]])

    @property
    def net_power_kw(self) -> np.ndarray:
        """Battery power at the AC terminal, positive = discharge (the duty-cycle sign)."""
        return self.discharge_kw - self.charge_kw

    @property
    def grid_kw(self) -> np.ndarray:
        """Grid exchange after the battery, positive = import."""
        return self.import_kw - self.export_kw

    def throughput_kwh(self) -> float:
        return float((self.charge_kw.sum() + self.discharge_kw.sum()) * self.load.step_h / 2)

    def simultaneous(self) -> dict[str, Any]:
        """Intervals where the schedule charges and discharges at once (only ever with non-positive prices)."""
        both = np.flatnonzero((self.charge_kw > SIMULTANEOUS_KW) & (self.discharge_kw > SIMULTANEOUS_KW))
        overlap = np.minimum(self.charge_kw[both], self.discharge_kw[both])
        return {
            "intervals": int(both.size),
            "energy_kwh": float(overlap.sum() * self.load.step_h),
            "locations": [
                {
                    "time": fmt_time(self.load.local_us[i]),
                    "charge_kw": float(self.charge_kw[i]),
                    "discharge_kw": float(self.discharge_kw[i]),
                    "price": float(self.steps.price[i]),
                }
                for i in both[:MAX_LOCATIONS]
            ],
        }

    def check(self) -> dict[str, float]:
        """Worst violation of each constraint family, recomputed from the schedule (0 = holds exactly)."""
        b, dt = self.battery, self.load.step_h
        e_prev = self.soc_start_kwh
        balance = self.soc_kwh - (
            e_prev + b.charge_efficiency * self.charge_kw * dt - self.discharge_kw * dt / b.discharge_efficiency
        )
        site = (self.import_kw - self.export_kw) - (
            self.load.net_kw + self.curtail_kw + self.charge_kw - self.discharge_kw
        )
        e_lo, e_hi = b.energy_kwh * b.soc_min, b.energy_kwh * b.soc_max
        out = {
            "soc_balance_kwh": float(np.abs(balance).max()),
            "site_balance_kw": float(np.abs(site).max()),
            "soc_below_min_kwh": float(max(0.0, (e_lo - self.soc_kwh).max())),
            "soc_above_max_kwh": float(max(0.0, (self.soc_kwh - e_hi).max())),
            "soc_end_kwh": float(abs(self.soc_kwh[-1] - b.energy_kwh * b.soc_initial)),
            "charge_above_rating_kw": float(max(0.0, (self.charge_kw - b.charge_kw).max())),
            "discharge_above_rating_kw": float(max(0.0, (self.discharge_kw - b.discharge_kw).max())),
            "negative_power_kw": float(
                max(
                    0.0, -min(self.charge_kw.min(), self.discharge_kw.min(), self.import_kw.min(), self.export_kw.min())
                )
            ),
            "throughput_above_cap_kwh": 0.0,
        }
        if self.throughput_cap_kwh is not None:
            out["throughput_above_cap_kwh"] = float(max(0.0, self.throughput_kwh() - self.throughput_cap_kwh))
        if self.steps.export_price is None:
            out["export_without_permission_kw"] = float(self.export_kw.max(initial=0.0))
        return out


def schedule_from_solution(
    model: LpModel,
    x: np.ndarray,
    *,
    load: LoadSeries,
    steps: TariffSteps,
    battery: Battery,
    objective: float,
    cap: float | None,
    throughput_price: float,
) -> Schedule:
    lay = model.layout
    zeros = np.zeros(load.n)

    def part(name: str) -> np.ndarray:
        return np.maximum(x[lay.col(name)], 0.0) if name in lay.cols else zeros.copy()

    # the import is an expression of the model (not a column): computed from the parts as written
    charge, discharge, export, curtail = part("charge"), part("discharge"), part("export"), part("curtail")
    grid = load.net_kw + charge - discharge + export + curtail
    return Schedule(
        load=load,
        steps=steps,
        battery=battery,
        charge_kw=charge,
        discharge_kw=discharge,
        soc_kwh=x[lay.col("soc")].copy(),
        import_kw=np.maximum(grid, 0.0),
        export_kw=export,
        curtail_kw=curtail,
        objective=objective,
        throughput_cap_kwh=cap,
        throughput_price=throughput_price,
        size=model.size,
    )
