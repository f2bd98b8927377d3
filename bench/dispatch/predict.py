"""What a replay of a schedule should deliver, so a plan can compare its measurement with the optimiser.

The site-acceptance plan replays a duty cycle through a (simulated or real) site and measures the
energy delivered in each direction and the import peak per month at the meter. This module states
the prediction from the duty cycle alone, plus the site load for the peaks:

- energy per direction = Σ P·Δt of the commanded power (what a PCS tracking perfectly delivers);
- with the PCS's response (`delay`, `ramp`) the commanded steps are followed late and sloped; the
  energy each change loses or gains is ΔP·(delay + |ΔP|/(2·ramp)) per step change, which is
  subtracted from (or added to) the ideal figure;
- import peak per month = max over the month of load − PV + auxiliary − battery power.

The tolerance a plan should use is `tolerance()`: relative for energies, absolute for peaks, plus
what the plant models and the LP does not (auxiliary consumption, efficiency curve at part load).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pint

from bench.dispatch.load import LoadSeries
from bench.dutycycle import DutyCycle
from bench.units import Q_


@dataclass
class ReplayPrediction:
    """Energies at the PCS's AC terminal (positive numbers) and the meter's import peak per month."""

    discharged: pint.Quantity
    charged: pint.Quantity
    discharged_ideal: pint.Quantity
    charged_ideal: pint.Quantity
    duration: pint.Quantity
    peaks: dict[str, pint.Quantity] = field(default_factory=dict)  # month -> import peak after the battery
    peaks_before: dict[str, pint.Quantity] = field(default_factory=dict)
    soc_end: pint.Quantity | None = None

    def as_dict(self) -> dict[str, Any]:
        def q(v: pint.Quantity | None, unit: str) -> dict[str, Any] | None:
            return None if v is None else {"value": round(float(v.to(unit).magnitude), 6), "unit": unit}

        return {
            "discharged": q(self.discharged, "kWh"),
            "charged": q(self.charged, "kWh"),
            "discharged_ideal": q(self.discharged_ideal, "kWh"),
            "charged_ideal": q(self.charged_ideal, "kWh"),
            "duration": q(self.duration, "h"),
            "import_peak_after": {m: q(p, "kW") for m, p in self.peaks.items()},
            "import_peak_before": {m: q(p, "kW") for m, p in self.peaks_before.items()},
            "soc_end": q(self.soc_end, "percent"),
        }


def _ramp_loss(p_w: np.ndarray, steps_s: np.ndarray, delay_s: float, ramp_w_per_s: float | None) -> np.ndarray:
    """Energy (J) by which a lagging, ramp-limited follower misses each interval's commanded energy.

    Positive entries are energy not delivered in the direction of the new setpoint. A change ΔP is
    followed after `delay_s` and reaches the new value after |ΔP|/ramp; the area between the command
    and the response is ΔP·(delay + |ΔP|/(2·ramp)), capped by the interval's own length.
    """
    prev = np.concatenate([[0.0], p_w[:-1]])
    dp = p_w - prev
    lag = np.full(p_w.size, delay_s)
    if ramp_w_per_s:
        lag = lag + np.abs(dp) / (2 * ramp_w_per_s)
    lag = np.minimum(lag, steps_s)
    return dp * lag


def predict_replay(
    cycle: DutyCycle,
    *,
    load: LoadSeries | None = None,
    rated: pint.Quantity | None = None,
    delay: pint.Quantity = Q_(0, "s"),
    ramp: pint.Quantity | None = None,
    auxiliary: pint.Quantity = Q_(0, "kW"),
    energy: pint.Quantity | None = None,
) -> ReplayPrediction:
    """The energies and peaks a replay of `cycle` should measure.

    `load` (the same intervals as the cycle, e.g. the file the schedule was made from) gives the
    import peaks; `rated` scales a normalised cycle; `delay` and `ramp` describe the PCS response
    (e.g. 0.2 s and 20 kW/s); `auxiliary` is a constant site consumption seen by the meter;
    `energy` (the battery's nominal energy) turns the cycle's SoC column into an end SoC.
    """
    p_w = cycle.power_w(rated)
    steps_s = cycle.steps_s
    e_j = p_w * steps_s
    ideal_dis = float(e_j[e_j > 0].sum())
    ideal_chg = float(-e_j[e_j < 0].sum())
    ramp_w = None if ramp is None else float(ramp.to("W/s").magnitude)
    miss = _ramp_loss(p_w, steps_s, float(delay.to("s").magnitude), ramp_w)
    # a change towards more discharge (dp > 0) delivers less discharge / more charge in that interval
    actual = e_j - miss
    dis = float(actual[actual > 0].sum())
    chg = float(-actual[actual < 0].sum())
    out = ReplayPrediction(
        discharged=Q_(dis, "J").to("kWh"),
        charged=Q_(chg, "J").to("kWh"),
        discharged_ideal=Q_(ideal_dis, "J").to("kWh"),
        charged_ideal=Q_(ideal_chg, "J").to("kWh"),
        duration=Q_(cycle.end_s, "s").to("h"),
    )
    if load is not None:
        if load.n != cycle.t_s.size or abs(load.step_s - float(np.median(steps_s))) > 1e-6:
            raise ValueError(
                f"the load has {load.n} intervals of {load.step_s:g} s, the cycle {cycle.t_s.size} "
                f"of {float(np.median(steps_s)):g} s: give the load the schedule was made from"
            )
        aux_kw = float(auxiliary.to("kW").magnitude)
        before = load.net_kw + aux_kw
        after = before - p_w / 1000.0
        months, labels = load.months()
        for m, label in enumerate(labels):
            sel = months == m
            out.peaks[label] = Q_(float(max(after[sel].max(), 0.0)), "kW")
            out.peaks_before[label] = Q_(float(max(before[sel].max(), 0.0)), "kW")
    if cycle.soc_pct is not None and energy is not None and cycle.soc_pct.size:
        out.soc_end = Q_(float(cycle.soc_pct[-1]), "percent")
    return out


def tolerance(
    prediction: ReplayPrediction,
    *,
    rated_power: pint.Quantity,
    energy_rel: float = 0.02,
    peak_abs: pint.Quantity | None = None,
) -> dict[str, pint.Quantity]:
    """Agreement a replay should meet: energies within `energy_rel` (default 2 %) plus 0.1 % of rated power
    for one hour; peaks within 1 % of rated power (the PCS's tracking error) unless `peak_abs` is given."""
    slack = (rated_power * Q_(1, "h") * 0.001).to("kWh")
    return {
        "discharged": (prediction.discharged * energy_rel + slack).to("kWh"),
        "charged": (prediction.charged * energy_rel + slack).to("kWh"),
        "peak": (peak_abs if peak_abs is not None else rated_power * 0.01).to("kW"),
    }


def compare(
    prediction: ReplayPrediction,
    *,
    discharged: pint.Quantity,
    charged: pint.Quantity,
    peaks: dict[str, pint.Quantity] | None = None,
    tol: dict[str, pint.Quantity],
) -> list[dict[str, Any]]:
    """Rows (what, predicted, measured, difference, tolerance, ok) for a plan to journal."""
    rows = []
    for name, pred, meas in (
        ("discharged", prediction.discharged, discharged),
        ("charged", prediction.charged, charged),
    ):
        diff = (meas - pred).to("kWh")
        rows.append(
            {
                "what": f"energy {name}",
                "predicted": pred.to("kWh"),
                "measured": meas.to("kWh"),
                "difference": diff,
                "tolerance": tol[name],
                "ok": bool(abs(diff) <= tol[name]),
            }
        )
    for month, meas in (peaks or {}).items():
        if month not in prediction.peaks:
            raise KeyError(f"no predicted peak for month {month!r} (have {', '.join(prediction.peaks)})")
        pred = prediction.peaks[month]
        diff = (meas - pred).to("kW")
        rows.append(
            {
                "what": f"import peak {month}",
                "predicted": pred,
                "measured": meas.to("kW"),
                "difference": diff,
                "tolerance": tol["peak"],
                "ok": bool(abs(diff) <= tol["peak"]),
            }
        )
    return rows
