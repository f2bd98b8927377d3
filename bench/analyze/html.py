"""The HTML section of a log analysis: tables, histograms and time series as inline SVG.

Inline SVG keeps the section self-contained (no plotting library, no scripts), so it can be
embedded in a run report or a passport page as is.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pint

from bench.analyze.metrics import Histogram
from bench.analyze.pipeline import BmsLogResult

W, H, PAD = 640, 220, 40
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]


MAX_BARS = 80


def _num(v: float) -> str:
    """4 significant digits, but whole numbers of 10,000 and more in full (14,880 s, not 1.488e+04)."""
    return f"{v:,.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:,.4g}"


def _fmt(v: object) -> str:
    if isinstance(v, pint.Quantity):
        return f"{_num(float(v.magnitude))} {v.units:~P}".strip()
    if isinstance(v, float):
        return _num(v)
    return escape(str(v))


def _axes(title: str, xlabel: str, ylabel: str, x0: float, x1: float, y0: float, y1: float) -> list[str]:
    out = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">',
           f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#333"/>',
           f'<line x1="{PAD}" y1="20" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>',
           f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle" font-size="11">{escape(xlabel)}</text>',
           f'<text x="10" y="{H / 2}" font-size="11" transform="rotate(-90 10 {H / 2})" '
           f'text-anchor="middle">{escape(ylabel)}</text>']
    for v, y in ((y0, H - PAD), (y1, 22)):
        out.append(f'<text x="{PAD - 3}" y="{y + 4}" text-anchor="end" font-size="10">{v:,.3g}</text>')
    for v, x in ((x0, PAD), (x1, W - 10)):
        out.append(f'<text x="{x}" y="{H - PAD + 14}" text-anchor="middle" font-size="10">{v:,.4g}</text>')
    return out


def histogram_svg(h: Histogram, title: str | None = None) -> str:
    """Bars of the fraction of time per bin."""
    frac = h.fraction
    nz = np.flatnonzero(frac > 0)
    if not nz.size:
        return f"<p>{escape(title or h.name)}: no data</p>"
    a, b = int(nz[0]), int(nz[-1]) + 1
    frac, edges = frac[a:b], h.edges[a:b + 1]
    k = -(-len(frac) // MAX_BARS)  # merge k neighbouring bins for the picture; the JSON keeps them all
    if k > 1:
        frac = np.add.reduceat(frac, np.arange(0, len(frac), k))
        edges = np.append(edges[:-1:k], edges[-1])
    top = float(frac.max())
    out = _axes(title or h.name, h.unit, "fraction of time", float(edges[0]), float(edges[-1]), 0, top)
    xs = PAD + (W - 10 - PAD) * (edges - edges[0]) / (edges[-1] - edges[0])  # a short last group stays short
    for i, f in enumerate(frac):
        bh = (H - PAD - 22) * f / top
        out.append(f'<rect x="{xs[i]:.1f}" y="{H - PAD - bh:.1f}" width="{max(xs[i + 1] - xs[i] - 0.5, 0.5):.1f}" '
                   f'height="{bh:.1f}" fill="{COLORS[0]}"/>')
    return "".join(out) + "</svg>"


def series_svg(title: str, x: np.ndarray, ys: dict[str, np.ndarray], ylabel: str, xlabel: str = "day",
               points: bool = False) -> str:
    """Lines (or points) against a numeric x; NaN breaks a line."""
    allv = np.concatenate([np.asarray(v, float) for v in ys.values()]) if ys else np.array([])
    allv = allv[np.isfinite(allv)]
    if not len(x) or not allv.size:
        return f"<p>{escape(title)}: no data</p>"
    x = np.asarray(x, float)
    x0, x1 = float(x.min()), float(x.max()) or 1.0
    y0, y1 = float(allv.min()), float(allv.max())
    if y1 == y0:
        y1 = y0 + 1.0
    sx = (W - 10 - PAD) / ((x1 - x0) or 1.0)
    sy = (H - PAD - 22) / (y1 - y0)
    out = _axes(title, xlabel, ylabel, x0, x1, y0, y1)
    for k, (name, y) in enumerate(ys.items()):
        y = np.asarray(y, float)
        c = COLORS[k % len(COLORS)]
        px, py = PAD + (x - x0) * sx, H - PAD - (y - y0) * sy
        ok = np.isfinite(py)
        if points:
            out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="1.5" fill="{c}"/>' for a, b in zip(px[ok], py[ok], strict=True)]
        else:
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[ok], py[ok], strict=True))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1"/>')
        out.append(f'<text x="{W - 12}" y="{30 + 12 * k}" text-anchor="end" font-size="10" fill="{c}" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">{escape(name)}</text>')
    return "".join(out) + "</svg>"


def _table(rows: list[dict], limit: int = 50, more_in: str = "the CSV output") -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows[:limit])
    more = f"<p>… {len(rows) - limit} more rows in {escape(more_in)}</p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _inputs(described: dict) -> str:
    """The input files: count, bytes, and the SHA-256 of the set and of each file when hashed."""
    files = described.get("files") or []
    if not files:
        return ""
    digest = described.get("set_sha256")
    head = (f"<p>Inputs: {len(files):,} file(s), {described.get('total_bytes', 0):,} bytes; "
            + (f"SHA-256 of the set <code>{escape(str(digest))}</code>" if digest else
               "not hashed (<code>--hash-inputs</code> records a SHA-256 per file)") + ".</p>")
    rows = [{"file": f["path"], "bytes": f["bytes"], "modified": f["modified"], "rows": f["rows"],
             **({"sha256": f["sha256"]} if digest else {})} for f in files]
    return head + _table(rows, limit=20, more_in="result.json (input_files)")


def render_section(r: BmsLogResult) -> str:
    """The analysis as one <section>, for embedding in a report."""
    m, q, d, p = r.metrics, r.quality, r.drift, r.patterns
    daily = m.daily
    x = np.arange(daily.height, dtype=float)
    parts = [f'<section class="bms-log-analysis"><h2>BMS field log analysis — {escape(r.profile.name)}</h2>',
             f"<p>{q.rows_used:,} of {q.rows_total:,} rows used from {q.files} file(s); coverage "
             f"{100 * q.coverage:.2f} % of {q.span_s / 86400:,.1f} days; median interval {q.median_interval_s:.3g} s.</p>",
             _inputs(r.input_files),
             "<h3>Totals</h3>", _table([{k: v for k, v in m.totals.items()}]),
             "<h3>Annual</h3>", _table(m.annual.to_dicts()),
             "<h3>Data quality</h3>",
             _table([{"kind": f.kind, "severity": f.severity, "count": f.count, "message": f.message,
                      "action": f.action} for f in q.findings]),
             "<h3>Clock drift</h3>",
             f"<p>{escape(d.reason)}: rate {_fmt(d.rate)} ± {_fmt(d.rate_stderr)}, total {_fmt(d.total)} over the log; "
             f"event {escape(d.event)}, model {escape(d.model)}, {d.n_used}/{d.n_days} days used, residual "
             f"{_fmt(d.residual_std)}.</p>"]
    if d.evidence.height:
        ev = d.evidence
        parts.append(series_svg("daily charge event time (BMS clock) and fit", np.arange(ev.height, dtype=float),
                                {"event": ev["event_s"].to_numpy() / 3600, "fit": ev["fitted_s"].to_numpy() / 3600},
                                "hour of day", points=False))
    parts += ["<h3>Usage</h3>", _table([m.crate_summary | m.time_in_state]),
              histogram_svg(m.crate["charge"]), histogram_svg(m.crate["discharge"]),
              series_svg("daily charge and discharge", x, {"charge Ah": daily["charge_Ah"].to_numpy(),
                                                          "discharge Ah": daily["discharge_Ah"].to_numpy()}, "A·h")]
    if m.temperature:
        ts = {k: v for k, v in m.temperature_summary.items() if k != "per_sensor"}
        parts += ["<h3>Temperature</h3>", _table([ts]), _table(m.temperature_summary["per_sensor"]),
                  histogram_svg(m.temperature["pooled"]), histogram_svg(m.temperature["spread"]),
                  series_svg("daily temperature", x, {"Tmax": daily["T_max_degC"].to_numpy(),
                                                      "Tmin": daily["T_min_degC"].to_numpy(),
                                                      "max ΔT": daily["dT_max_K"].to_numpy()}, "°C / K")]
    parts += ["<h3>Cell voltage imbalance</h3>", _table([m.imbalance_summary]), histogram_svg(m.imbalance),
              series_svg("daily cell imbalance", x, {"mean while charging": daily["imbalance_charging_mean_mV"].to_numpy(),
                                                     "max": daily["imbalance_max_mV"].to_numpy()}, "mV"),
              "<h3>Cells outside the voltage window</h3>", _table(m.excursions.to_dicts()),
              "<h3>Operation patterns</h3>",
              _table([{"cluster": i, "days": n, "label": lab} for i, (lab, n) in enumerate(zip(p.labels, p.counts, strict=True))]),
              series_svg("mean 24-hour C-rate profile per cluster", np.arange(24, dtype=float),
                         {f"cluster {i}": c for i, c in enumerate(p.centroids)}, "C-rate (charge +)", "hour of day"),
              "</section>"]
    return "\n".join(parts)


def render_page(r: BmsLogResult) -> str:
    """A standalone page around the section."""
    style = ("body{font-family:sans-serif;max-width:980px;margin:auto}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}svg{display:block;margin:8px 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>BMS log analysis</title><style>{style}</style>"
            f"</head><body>{render_section(r)}</body></html>")
