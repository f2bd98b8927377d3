"""Writing results: JSON with value + unit for every quantity, and CSV tables with units in headers.

The JSON is the machine-readable record (it can feed a module's intake history and passport);
the CSV tables are what an analyst opens in a spreadsheet.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pint
import polars as pl

from bench.analyze.metrics import Histogram
from bench.analyze.pipeline import BmsLogResult

ANNUAL_COLUMNS = {
    "year": "",
    "days": "day",
    "charge_Ah": "A·h",
    "discharge_Ah": "A·h",
    "capacity_loss_pct": "%",
    "equivalent_full_cycles": "",
    "charge_kWh": "kWh",
    "discharge_kWh": "kWh",
    "energy_loss_pct": "%",
}


def jsonable(obj: object) -> object:
    """Quantities become {"value", "unit"}; NaN becomes null; tables become lists of rows."""
    if isinstance(obj, pint.Quantity):
        v = float(obj.magnitude)
        return {"value": None if math.isnan(v) else v, "unit": f"{obj.units:~P}"}
    if isinstance(obj, Histogram):
        return {
            "name": obj.name,
            "unit": obj.unit,
            "edges": [float(x) for x in obj.edges],
            "seconds": [float(x) for x in obj.seconds],
        }
    if isinstance(obj, pl.DataFrame):
        return [jsonable(r) for r in obj.to_dicts()]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) or math.isinf(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable({k: getattr(obj, k) for k in asdict(obj)})
    return obj


def result_dict(r: BmsLogResult) -> dict:
    """The whole result as plain data (quantities as value + unit)."""
    m, q, d, p = r.metrics, r.quality, r.drift, r.patterns
    return {
        "schema": "ess-bench/bms-log-analysis/1",
        "inputs": r.inputs,
        "input_files": r.input_files,
        "profile": {
            "name": r.profile.name,
            "source": r.profile.source,
            "chemistry": r.profile.chemistry,
            "nominal_capacity": m.nominal_capacity,
            "cell_window": list(r.profile.cell_window),
        },
        "data_quality": {
            "rows_total": q.rows_total,
            "rows_used": q.rows_used,
            "files": q.files,
            "empty_files": q.empty_files,
            "median_interval": _q(q.median_interval_s, "s"),
            "span": _q(q.span_s / 86400, "day"),
            "coverage": _q(100 * q.coverage, "percent"),
            "findings": q.findings,
        },
        "clock_drift": {
            k: getattr(d, k)
            for k in (
                "event",
                "rate",
                "rate_stderr",
                "total",
                "n_days",
                "n_used",
                "model",
                "residual_std",
                "significant",
                "applied",
                "reason",
            )
        }
        | {"evidence": d.evidence.with_columns(pl.col("day").cast(pl.String))},
        "totals": m.totals,
        "time_in_state": m.time_in_state,
        "c_rate": {"summary": m.crate_summary, "histograms": m.crate},
        "temperature": {"summary": m.temperature_summary, "histograms": m.temperature},
        "cell_imbalance": {"summary": m.imbalance_summary, "histogram": m.imbalance},
        "cell_window_excursions": m.excursions,
        "annual": {"units": ANNUAL_COLUMNS, "rows": m.annual},
        "daily": m.daily.with_columns(pl.col("date").cast(pl.String)),
        "operation_patterns": {
            "clusters": [
                {"cluster": i, "label": lab, "days": n, "hourly_c_rate": list(c)}
                for i, (lab, n, c) in enumerate(zip(p.labels, p.counts, p.centroids, strict=True))
            ],
            "days": p.days.with_columns(pl.col("date").cast(pl.String)),
        },
        "module_history": r.module_history(),
    }


def _q(v: float, unit: str) -> pint.Quantity:
    from bench.units import Q_

    return Q_(v, unit)


def write_all(r: BmsLogResult, out: Path) -> dict[str, Path]:
    """result.json, annual.csv, daily.csv, findings.csv, gaps.csv, excursions.csv, patterns.csv, report.html,
    and dut_info.json: the module history for the intake plan (`bench run test_plans/module_intake --dut-info`)."""
    from bench.analyze.html import render_page

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out / name
        for name in (
            "result.json",
            "annual.csv",
            "daily.csv",
            "findings.csv",
            "gaps.csv",
            "excursions.csv",
            "patterns.csv",
            "report.html",
            "dut_info.json",
        )
    }
    paths["result.json"].write_text(json.dumps(jsonable(result_dict(r)), indent=1, allow_nan=False), encoding="utf-8")
    r.metrics.annual.write_csv(paths["annual.csv"], float_precision=4)
    r.metrics.daily.write_csv(paths["daily.csv"], float_precision=4)
    findings = pl.DataFrame(
        [
            {
                "kind": f.kind,
                "severity": f.severity,
                "count": f.count,
                "message": f.message,
                "action": f.action,
                "first_locations": json.dumps(jsonable(f.locations[:5])),
            }
            for f in r.quality.findings
        ],
        schema={
            "kind": pl.String,
            "severity": pl.String,
            "count": pl.Int64,
            "message": pl.String,
            "action": pl.String,
            "first_locations": pl.String,
        },
    )
    findings.write_csv(paths["findings.csv"])
    gaps = pl.DataFrame(
        r.quality.gaps,
        schema={"start": pl.String, "end": pl.String, "duration_s": pl.Float64, "file": pl.String, "line": pl.Int64},
    )
    gaps.write_csv(paths["gaps.csv"])
    r.metrics.excursions.write_csv(paths["excursions.csv"])
    r.patterns.days.write_csv(paths["patterns.csv"], float_precision=4)
    paths["report.html"].write_text(render_page(r), encoding="utf-8")
    paths["dut_info.json"].write_text(
        json.dumps(jsonable(r.intake_history()), indent=1, allow_nan=False), encoding="utf-8"
    )
    return paths
