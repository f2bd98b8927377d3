"""The optimiser's side of a schedule replay: what the site should deliver, and how far it may differ.

`bench dispatch` writes a duty cycle whose header names its `prediction` (prediction.json) and its
`schedule` (schedule.csv: the site load and PV per interval). A plan replaying that duty cycle on a
site loads them here, at load time (`load_reference`, every value checked, errors naming the file
and key), and after the replay compares what the meter measured with `compare_replay`:

- energy per direction: the meter's energy over the intervals that request discharge, and over
  those that request charge, against `predict_replay` with the PCS response the bench measured
  (delay, ramp) — the LP assumes perfect tracking;
- peak reduction per month: (load − PV + auxiliary) − (load − PV + auxiliary − battery), i.e. the
  site's import peak without the battery minus the peak with the battery's measured power, against
  the LP's reduction. The site load is the schedule's (a simulated site has none of its own).

What the plant models and the LP does not is stated in `Agreement.explained`: the energy the PCS
response costs at each setpoint change, the PCS's standby draw in idle intervals (bought from the
grid, counted in neither direction), and the auxiliary feeder (its own meter channel).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pint

from bench.dispatch.load import LoadSeries, load_from_arrays
from bench.dispatch.predict import ReplayPrediction, compare, predict_replay, tolerance
from bench.dutycycle import DutyCycle
from bench.errors import ConfigError
from bench.units import Q_

POWER_MATCH_KW = 1e-3  # schedule.csv and the duty cycle are rounded to 1e-6 kW; a larger gap is another schedule


@dataclass
class ReplayReference:
    """A dispatch schedule's prediction and site load, tied to the duty cycle it was written with."""

    cycle: DutyCycle
    load: LoadSeries
    prediction_file: Path
    schedule_file: Path
    lp_prediction: dict[str, Any]

    def predict(
        self,
        *,
        rated: pint.Quantity | None = None,
        delay: pint.Quantity = Q_(0, "s"),
        ramp: pint.Quantity | None = None,
        auxiliary: pint.Quantity = Q_(0, "kW"),
    ) -> ReplayPrediction:
        return predict_replay(self.cycle, load=self.load, rated=rated, delay=delay, ramp=ramp, auxiliary=auxiliary)


def _sidecar(cycle: DutyCycle, key: str, src: str) -> Path | None:
    name = cycle.meta.get(key)
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute():
        path = Path(src).parent / path
    if not path.is_file():
        raise ConfigError(f"the duty cycle names its {key} file {name!r}, which is not at {path}", source=src, key=key)
    return path


def load_reference(cycle: DutyCycle) -> ReplayReference | None:
    """The dispatch prediction a duty cycle carries (header keys `prediction` and `schedule`), or None.

    Refused with a ConfigError naming the file and key: a sidecar missing, a prediction written for
    another duty cycle, a schedule whose intervals or powers differ from the cycle's."""
    src = cycle.source or "<duty cycle>"
    pred_path = _sidecar(cycle, "prediction", src)
    sched_path = _sidecar(cycle, "schedule", src)
    if pred_path is None and sched_path is None:
        return None
    if pred_path is None or sched_path is None:
        raise ConfigError(
            "a dispatch duty cycle names both its prediction and its schedule file",
            source=src,
            key="schedule" if sched_path is None else "prediction",
        )
    try:
        pred = json.loads(pred_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the prediction: {exc}", source=str(pred_path)) from exc
    if not isinstance(pred, dict) or pred.get("duty_cycle") != Path(src).name:
        raise ConfigError(
            f"written for duty cycle {pred.get('duty_cycle') if isinstance(pred, dict) else None!r}, "
            f"not {Path(src).name!r}",
            source=str(pred_path),
            key="duty_cycle",
        )
    load = _schedule_load(sched_path, cycle)
    return ReplayReference(cycle, load, pred_path, sched_path, pred)


def _schedule_load(path: Path, cycle: DutyCycle) -> LoadSeries:
    import polars as pl

    try:
        df = pl.read_csv(path, infer_schema_length=0)
    except Exception as exc:  # polars raises several error types for a damaged CSV
        raise ConfigError(f"cannot read the schedule: {exc}", source=str(path)) from exc
    for col in ("local_time", "load[kW]", "pv[kW]", "charge[kW]", "discharge[kW]"):
        if col not in df.columns:
            raise ConfigError(
                f"column {col!r} missing (a schedule.csv written by bench dispatch has it)", source=str(path), key=col
            )
    if df.height != cycle.t_s.size:
        raise ConfigError(
            f"{df.height} intervals, the duty cycle {cycle.t_s.size}: not the same schedule",
            source=str(path),
            key="rows",
        )

    def col(name: str) -> np.ndarray:
        try:
            v = df[name].cast(pl.Float64).to_numpy()
        except Exception as exc:
            raise ConfigError(f"not a number in column {name!r}: {exc}", source=str(path), key=name) from exc
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise ConfigError(f"non-finite value on line {int(bad[0]) + 2}", source=str(path), key=name)
        return v

    load_kw, pv_kw = col("load[kW]"), col("pv[kW]")
    net = col("discharge[kW]") - col("charge[kW]")
    steps = cycle.steps_s
    if cycle.normalised or np.ptp(steps) > 1e-6:
        raise ConfigError("a dispatch duty cycle has regular intervals in kW", source=cycle.source, key="power")
    cyc_kw = cycle.power_w() / 1000.0
    worst = int(np.argmax(np.abs(net - cyc_kw)))
    if abs(net[worst] - cyc_kw[worst]) > POWER_MATCH_KW:
        raise ConfigError(
            f"line {worst + 2}: discharge - charge = {net[worst]:.6g} kW, the duty cycle "
            f"{cyc_kw[worst]:.6g} kW: not the same schedule",
            source=str(path),
            key="discharge[kW]",
        )
    start = str(df["local_time"][0]).replace(" ", "T")
    try:
        return load_from_arrays(
            load_kw,
            step=Q_(float(steps[0]), "s"),
            start=start,
            pv_kw=pv_kw if np.any(pv_kw) else None,
            source=str(path),
        )
    except ValueError as exc:
        raise ConfigError(f"local_time {start!r}: {exc}", source=str(path), key="local_time") from exc


@dataclass
class Agreement:
    """Rows of bench.dispatch.predict.compare plus what the plant's losses explain (kWh, kW)."""

    rows: list[dict[str, Any]]
    prediction: ReplayPrediction
    ideal: ReplayPrediction
    explained: dict[str, float] = field(default_factory=dict)

    def worst(self, what: str) -> float:
        """Signed difference / tolerance of the row starting with `what` that is furthest off (NaN if none):
        within +-1 the replay agrees with the prediction (a normalised error, as ISO 13528's E_n)."""
        vals = [
            float((r["difference"] / r["tolerance"]).to("").magnitude) for r in self.rows if r["what"].startswith(what)
        ]
        return max(vals, key=abs) if vals else math.nan


def compare_replay(
    ref: ReplayReference,
    *,
    requested_w: np.ndarray,
    delivered_j: np.ndarray,
    aux_j: np.ndarray,
    rated: pint.Quantity,
    delay: pint.Quantity,
    ramp: pint.Quantity | None,
    energy_rel: float,
    peak_abs: pint.Quantity | None,
) -> Agreement:
    """Compare a replay's per-interval meter energies (J, + export) with the schedule's prediction.

    `requested_w` is what the plan commanded per interval (the cycle's power), `aux_j` the auxiliary
    feeder's energy per interval. Peaks are compared as monthly reductions (the auxiliary load, not
    in the LP, raises the peak with and without the battery alike)."""
    steps = ref.cycle.steps_s
    req = np.asarray(requested_w, float)
    got = np.asarray(delivered_j, float)
    aux = np.asarray(aux_j, float)
    if not (req.size == got.size == aux.size == steps.size):
        raise ValueError(f"{got.size} measured intervals for a duty cycle of {steps.size}")
    aux_kw_mean = Q_(float(aux.sum() / steps.sum()) / 1000.0, "kW")
    pred = ref.predict(delay=delay, ramp=ramp, auxiliary=aux_kw_mean)
    ideal = ref.predict(auxiliary=aux_kw_mean)
    discharged = Q_(float(got[req > 0].sum()), "J").to("kWh")
    charged = Q_(float(-got[req < 0].sum()), "J").to("kWh")
    tol = tolerance(pred, rated_power=rated, energy_rel=energy_rel, peak_abs=peak_abs)
    rows = compare(pred, discharged=discharged, charged=charged, tol=tol)
    before = ref.load.net_kw + aux / steps / 1000.0
    after = before - got / steps / 1000.0
    months, labels = ref.load.months()
    for m, label in enumerate(labels):
        sel = months == m
        p_before, p_after = max(float(before[sel].max()), 0.0), max(float(after[sel].max()), 0.0)
        predicted = (pred.peaks_before[label] - pred.peaks[label]).to("kW")
        measured = Q_(p_before - p_after, "kW")
        diff = measured - predicted
        rows.append(
            {
                "what": f"peak reduction {label}",
                "predicted": predicted,
                "measured": measured,
                "difference": diff,
                "tolerance": tol["peak"],
                "ok": bool(abs(diff) <= tol["peak"]),
                "peak_before": Q_(p_before, "kW"),
                "peak_after": Q_(p_after, "kW"),
            }
        )
    idle = req == 0
    explained = {
        "ramp_and_delay_discharge_kWh": float((ideal.discharged - pred.discharged).to("kWh").magnitude),
        "ramp_and_delay_charge_kWh": float((ideal.charged - pred.charged).to("kWh").magnitude),
        "idle_standby_import_kWh": float(-got[idle].sum() / 3.6e6),
        "auxiliary_kWh": float(aux.sum() / 3.6e6),
        "auxiliary_mean_kW": float(aux_kw_mean.magnitude),
    }
    return Agreement(rows, pred, ideal, explained)
