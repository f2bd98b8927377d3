"""SVG figures of the site plan (attached to the run like the intake plan's plots).

Several series on one shared y axis (command against measured power), time on x. Plain SVG
text: its hash goes into the signed manifest like any artifact; no plotting library needed.
"""

from __future__ import annotations

from html import escape

W, H, ML, MR, MT, MB = 760, 330, 70, 30, 42, 44
COLOURS = ("#1f5fbf", "#c0392b", "#2e8b57", "#8e44ad")


def _span(vals: list[float]) -> tuple[float, float]:
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def series_plot(title: str, series: list[tuple[str, list[float], list[float]]], y_label: str,
                t_unit: str = "s", step: set[str] | None = None) -> bytes:
    """`series`: (label, t in s, values); labels in `step` are drawn as zero-order holds (commands)."""
    div = {"s": 1.0, "min": 60.0, "h": 3600.0}[t_unit]
    xs_all = [x / div for _, t, _ in series for x in t]
    ys_all = [y for _, _, v in series for y in v]
    x0, x1 = _span(xs_all)
    y0, y1 = _span(ys_all)

    def sx(x: float) -> float:
        return ML + (x - x0) / (x1 - x0) * (W - ML - MR)

    def sy(y: float) -> float:
        return H - MB - (y - y0) / (y1 - y0) * (H - MT - MB)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           f'font-size="11"><rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
           f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="none" stroke="#888"/>',
           f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">time ({t_unit})</text>',
           f'<text x="{ML}" y="{H - MB + 14}" text-anchor="middle">{x0:.4g}</text>',
           f'<text x="{W - MR}" y="{H - MB + 14}" text-anchor="middle">{x1:.4g}</text>',
           f'<text x="{ML - 4}" y="{MT + 10}" text-anchor="end">{y1:.4g}</text>',
           f'<text x="{ML - 4}" y="{H - MB}" text-anchor="end">{y0:.4g}</text>',
           f'<text x="14" y="{(H - MB + MT) / 2}" transform="rotate(-90 14 {(H - MB + MT) / 2})" '
           f'text-anchor="middle">{escape(y_label)}</text>']
    if y0 < 0 < y1:
        out.append(f'<line x1="{ML}" x2="{W - MR}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" stroke="#ccc"/>')
    for k, (label, t, v) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        pts: list[str] = []
        for i, (a, b) in enumerate(zip(t, v, strict=False)):
            if step and label in step and i:
                pts.append(f"{sx(a / div):.1f},{sy(v[i - 1]):.1f}")
            pts.append(f"{sx(a / div):.1f},{sy(b):.1f}")
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" points="{" ".join(pts)}"/>')
        out.append(f'<text x="{ML + 8 + 220 * k}" y="{MT - 6}" fill="{colour}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out).encode("utf-8")
