"""The HTML section of a log analysis: tables, histograms and time series as inline SVG.

The page comes from Jinja2 templates (autoescaped) next to this module and the figures from
`bench.plotting`, so the section is self-contained (no scripts, no external references) and can
be embedded in a run report or a passport page as is.
"""

from __future__ import annotations

from typing import Any

import jinja2
import numpy as np
import pint

from bench.analyze.metrics import Histogram
from bench.analyze.pipeline import BmsLogResult
from bench.plotting import Axis, Figure, Trace, render
from bench.plotting import Histogram as HistogramFigure

W, H = 640, 240

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("bench.analyze", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


def _num(v: float) -> str:
    """4 significant digits, but whole numbers of 10,000 and more in full (14,880 s, not 1.488e+04)."""
    return f"{v:,.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:,.4g}"


def _fmt(v: object) -> str:
    """Display text of a table cell (escaped by the template, not here)."""
    if isinstance(v, pint.Quantity):
        return f"{_num(float(v.magnitude))} {v.units:~P}".strip()
    if isinstance(v, float):
        return _num(v)
    return str(v)


def _table(rows: list[dict], limit: int = 50, more_in: str = "the CSV output") -> dict[str, Any]:
    """A table for the template: column names, the first `limit` rows as text, how many more."""
    cols = list(rows[0]) if rows else []
    return {
        "columns": cols,
        "rows": [[_fmt(r.get(c)) for c in cols] for r in rows[:limit]],
        "more": max(0, len(rows) - limit),
        "more_in": more_in,
    }


def _inputs(described: dict) -> dict[str, Any] | None:
    """The input files: count, bytes, and the SHA-256 of the set and of each file when hashed."""
    files = described.get("files") or []
    if not files:
        return None
    digest = described.get("set_sha256")
    rows = [
        {
            "file": f["path"],
            "bytes": f["bytes"],
            "modified": f["modified"],
            "rows": f["rows"],
            **({"sha256": f["sha256"]} if digest else {}),
        }
        for f in files
    ]
    return {
        "count": len(files),
        "bytes": described.get("total_bytes", 0),
        "digest": digest,
        "table": _table(rows, limit=20, more_in="result.json (input_files)"),
    }


def histogram_svg(h: Histogram, title: str | None = None) -> str:
    """Bars of the fraction of time per bin (neighbouring bins merged above 80 for the picture;
    the JSON keeps them all)."""
    return render(
        HistogramFigure(
            title or h.name, h.edges, h.fraction, Axis(h.name, h.unit), Axis("fraction of time"), width=W, height=H
        )
    ).svg


def series_svg(
    title: str, x: np.ndarray, traces: list[Trace], y: Axis, x_axis: Axis | None = None, y2: Axis | None = None
) -> str:
    """Lines against a numeric x (day number by default); NaN breaks a line."""
    return render(Figure(title, x_axis or Axis("day"), y, traces, y2=y2, width=W, height=H)).svg


def _figures(r: BmsLogResult) -> dict[str, list[str]]:
    m, d, p = r.metrics, r.drift, r.patterns
    daily = m.daily
    x = np.arange(daily.height, dtype=float)
    out: dict[str, list[str]] = {"drift": [], "temperature": []}
    if d.evidence.height:
        ev = d.evidence
        days = np.arange(ev.height, dtype=float)
        out["drift"] = [
            series_svg(
                "daily charge event time (BMS clock) and fit",
                days,
                [
                    Trace(days, ev["event_s"].to_numpy(), label="event", y_unit="s"),
                    Trace(days, ev["fitted_s"].to_numpy(), label="fit", y_unit="s"),
                ],
                Axis("time of day", "h"),
            )
        ]
    out["usage"] = [
        histogram_svg(m.crate["charge"]),
        histogram_svg(m.crate["discharge"]),
        series_svg(
            "daily charge and discharge",
            x,
            [
                Trace(x, daily["charge_Ah"].to_numpy(), label="charge"),
                Trace(x, daily["discharge_Ah"].to_numpy(), label="discharge"),
            ],
            Axis("", "A*h"),
        ),
    ]
    if m.temperature:
        out["temperature"] = [
            histogram_svg(m.temperature["pooled"]),
            histogram_svg(m.temperature["spread"]),
            series_svg(
                "daily temperature",
                x,
                [
                    Trace(x, daily["T_max_degC"].to_numpy(), label="Tmax"),
                    Trace(x, daily["T_min_degC"].to_numpy(), label="Tmin"),
                    Trace(x, daily["dT_max_K"].to_numpy(), label="max ΔT (right axis)", axis="y2"),
                ],
                Axis("temperature", "degC"),
                y2=Axis("max ΔT", "K"),
            ),
        ]
    out["imbalance"] = [
        histogram_svg(m.imbalance),
        series_svg(
            "daily cell imbalance",
            x,
            [
                Trace(x, daily["imbalance_charging_mean_mV"].to_numpy(), label="mean while charging"),
                Trace(x, daily["imbalance_max_mV"].to_numpy(), label="max"),
            ],
            Axis("", "mV"),
        ),
    ]
    hours = np.arange(24, dtype=float)
    out["patterns"] = [
        series_svg(
            "mean 24-hour C-rate profile per cluster",
            hours,
            [Trace(hours, c, label=f"cluster {i}") for i, c in enumerate(p.centroids)],
            Axis("C-rate (charge +)", "1/h"),
            Axis("hour of day"),
        )
    ]
    return out


def _tables(r: BmsLogResult) -> dict[str, Any]:
    m, q, p = r.metrics, r.quality, r.patterns
    out = {
        "totals": _table([dict(m.totals)]),
        "annual": _table(m.annual.to_dicts()),
        "findings": _table(
            [
                {"kind": f.kind, "severity": f.severity, "count": f.count, "message": f.message, "action": f.action}
                for f in q.findings
            ]
        ),
        "usage": _table([m.crate_summary | m.time_in_state]),
        "temperature": None,
        "imbalance": _table([m.imbalance_summary]),
        "excursions": _table(m.excursions.to_dicts()),
        "patterns": _table(
            [{"cluster": i, "days": n, "label": lab} for i, (lab, n) in enumerate(zip(p.labels, p.counts, strict=True))]
        ),
    }
    if m.temperature:
        out["temperature"] = _table([{k: v for k, v in m.temperature_summary.items() if k != "per_sensor"}])
        out["per_sensor"] = _table(m.temperature_summary["per_sensor"])
    return out


def _context(r: BmsLogResult) -> dict[str, Any]:
    return {
        "profile": r.profile.name,
        "q": r.quality,
        "d": r.drift,
        "inputs": _inputs(r.input_files),
        "tables": _tables(r),
        "figures": _figures(r),
        "fmt": _fmt,
    }


def render_section(r: BmsLogResult) -> str:
    """The analysis as one <section>, for embedding in a report."""
    return _env.get_template("bms_log_section.html.j2").render(_context(r))


def render_page(r: BmsLogResult) -> str:
    """A standalone page around the section."""
    return _env.get_template("bms_log.html.j2").render(_context(r))
