"""The files `bench dispatch` writes: the duty cycle, a per-interval CSV, economics.json, prediction.json, HTML.

Why a duty cycle: it is the one format the plans replay (bench/dutycycle.py); power is the net
battery power at the AC terminal, positive = discharge, and the SoC column is the state of charge
the schedule expects at the start of each interval, so a replay can be compared step by step. Its
header names `prediction` and `schedule` (files beside it): a plan replaying it loads them with
bench.dispatch.replay.load_reference and reports its agreement with the optimiser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.analyze.quality import fmt_time
from bench.dispatch.economics import Economics, monthly_rows
from bench.dispatch.predict import predict_replay
from bench.dispatch.schedule import Schedule
from bench.dispatch.tariff import Tariff
from bench.dutycycle import DutyCycle, write_duty_cycle
from bench.units import ureg


@dataclass
class Studies:
    """Optional sizing and sensitivity results (each None when not asked for)."""

    sizing: list[dict[str, Any]] | None = None
    threshold: dict[str, Any] | None = None
    trade: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)


def duty_cycle(schedule: Schedule, name: str) -> DutyCycle:
    """The schedule as a duty cycle: net power in kW (discharge positive), SoC % at each interval's start."""
    load = schedule.load
    t = np.arange(load.n, dtype=float) * load.step_s
    soc = 100 * schedule.soc_start_kwh / schedule.battery.energy_kwh
    power = np.round(schedule.net_power_kw, 6)
    power[np.abs(power) < 1e-6] = 0.0
    return DutyCycle(
        name=name,
        t_s=t,
        power=power,
        power_unit=ureg.kW,
        end_s=float(load.n * load.step_s),
        soc_pct=np.clip(np.round(soc, 4), 0.0, 100.0),
    )


def write_schedule_csv(path: Path, schedule: Schedule) -> None:
    load, b = schedule.load, schedule.battery
    imp0 = np.maximum(load.net_kw, 0.0)
    df = pl.DataFrame(
        {
            "local_time": [fmt_time(t) for t in load.local_us],
            "load[kW]": np.round(load.load_kw, 4),
            "pv[kW]": np.round(load.pv_kw if load.pv_kw is not None else np.zeros(load.n), 4),
            "charge[kW]": np.round(schedule.charge_kw, 6),
            "discharge[kW]": np.round(schedule.discharge_kw, 6),
            "soc_end[kWh]": np.round(schedule.soc_kwh, 6),
            "soc_end[%]": np.round(100 * schedule.soc_kwh / b.energy_kwh, 4),
            "import_before[kW]": np.round(imp0, 4),
            "import_after[kW]": np.round(schedule.import_kw, 6),
            "export_after[kW]": np.round(schedule.export_kw, 6),
            "curtailed[kW]": np.round(schedule.curtail_kw, 6),
            "price[1/kWh]": schedule.steps.price,
        }
    )
    df.write_csv(path)


def result_dict(
    schedule: Schedule,
    econ: Economics,
    tariff: Tariff,
    studies: Studies,
    *,
    inputs: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    """Everything economics.json holds; quantities as {value, unit} or with the unit in the key."""
    cur = tariff.currency
    v = econ.valuation
    before, after = econ.before, econ.after
    horizon = {
        "intervals": schedule.load.n,
        "step": f"{schedule.load.step_s:g} s",
        "hours": round(schedule.load.hours, 4),
        "first": schedule.load.quality.first,
        "last": schedule.load.quality.last,
    }
    return {
        "format": "ess-bench dispatch 1",
        "inputs": inputs,
        "horizon": horizon,
        "data_quality": schedule.load.quality.as_dict(),
        "lp": {
            **schedule.size,
            "solver": schedule.solver,
            "throughput_cap": None
            if schedule.throughput_cap_kwh is None
            else {"value": round(schedule.throughput_cap_kwh, 6), "unit": "kWh"},
            "throughput_price": {"value": round(schedule.throughput_price, 6), "unit": f"{cur}/kWh"},
            "objective": {"value": round(schedule.objective, 4), "unit": cur},
        },
        "timings_s": {k: round(x, 4) for k, x in timings.items()},
        "checks": {k: float(f"{x:.3g}") for k, x in schedule.check().items()},
        "simultaneous_charge_discharge": schedule.simultaneous(),
        "horizon_totals": {
            "bill_before": {"value": round(float(before.total.sum()), 2), "unit": cur},
            "bill_after": {"value": round(float(after.total.sum()), 2), "unit": cur},
            "demand_charges_before": {"value": round(float(before.demand.sum()), 2), "unit": cur},
            "demand_charges_after": {"value": round(float(after.demand.sum()), 2), "unit": cur},
            "energy_cost_before": {"value": round(float(before.energy.sum()), 2), "unit": cur},
            "energy_cost_after": {"value": round(float(after.energy.sum()), 2), "unit": cur},
            "throughput": {"value": round(schedule.throughput_kwh(), 3), "unit": "kWh"},
            "charged": {"value": round(float(schedule.charge_kw.sum() * schedule.load.step_h), 3), "unit": "kWh"},
            "discharged": {"value": round(float(schedule.discharge_kw.sum() * schedule.load.step_h), 3), "unit": "kWh"},
            "curtailed_pv": {"value": round(float(schedule.curtail_kw.sum() * schedule.load.step_h), 3), "unit": "kWh"},
        },
        "annual": v.as_dict(cur),
        "monthly": monthly_rows(econ, schedule, tariff),
        "soc_histogram": {
            "edges_pct": econ.soc_edges_pct.tolist(),
            "fraction_of_time": [round(float(x), 6) for x in econ.soc_hist],
        },
        "sizing": studies.sizing,
        "differential_threshold": studies.threshold,
        "throughput_trade": studies.trade,
        "notes": studies.notes,
    }


def write_all(
    out: Path,
    schedule: Schedule,
    econ: Economics,
    tariff: Tariff,
    studies: Studies,
    *,
    inputs: dict[str, Any],
    timings: dict[str, float],
    source: str,
) -> dict[str, Path]:
    """Write every output into `out` (created); returns name -> path."""
    from bench.dispatch.html import render_page

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "duty_cycle": out / "schedule.dutycycle.csv",
        "schedule": out / "schedule.csv",
        "economics": out / "economics.json",
        "prediction": out / "prediction.json",
        "html": out / "dispatch.html",
    }
    cycle = duty_cycle(schedule, f"dispatch: {schedule.battery.name} on {Path(schedule.load.source).name}")
    write_duty_cycle(
        paths["duty_cycle"],
        cycle,
        source=source,
        start=schedule.load.quality.first,
        timezone=schedule.load.timezone or "wall clock of the load file",
        battery=f"{schedule.battery.energy_kwh:g} kWh / {schedule.battery.discharge_kw:g} kW",
        tariff=tariff.name,
        load_sha256=inputs.get("load", {}).get("sha256", ""),
        prediction=paths["prediction"].name,
        schedule=paths["schedule"].name,
    )
    write_schedule_csv(paths["schedule"], schedule)
    result = result_dict(schedule, econ, tariff, studies, inputs=inputs, timings=timings)
    prediction = predict_replay(cycle, load=schedule.load, energy=schedule.battery.energy)
    pred = {
        "duty_cycle": paths["duty_cycle"].name,
        **prediction.as_dict(),
        "note": "ideal tracking at the AC terminal; bench.dispatch.predict.predict_replay(cycle, load=..., "
        "delay=..., ramp=..., auxiliary=...) adds the PCS response and auxiliary load",
    }
    paths["economics"].write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    paths["prediction"].write_text(json.dumps(pred, indent=1, ensure_ascii=False), encoding="utf-8")
    paths["html"].write_text(render_page(schedule, econ, tariff, result), encoding="utf-8")
    return paths
