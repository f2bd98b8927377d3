"""Small self-contained SVG line plots of the capacity and pulse tests, attached to the run.

Why hand-written SVG: the bench ships no plotting library, and an SVG attachment is text whose
hash goes into the signed manifest like any other artifact. One plot, up to two y axes.
"""

from __future__ import annotations

from html import escape

W, H, ML, MR, MT, MB = 720, 300, 60, 60, 30, 40


def _scale(vals: list[float], lo_px: float, hi_px: float) -> tuple[float, float, callable]:
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    return lo, hi, lambda v: lo_px + (v - lo) / (hi - lo) * (hi_px - lo_px)


def line_plot(title: str, t: list[float], left: tuple[str, list[float]],
              right: tuple[str, list[float]] | None = None, t_unit: str = "h") -> bytes:
    """SVG with time on x (in `t_unit`: 's' or 'h'), `left` (label, values) and optional `right`."""
    div = 3600.0 if t_unit == "h" else 1.0
    x = [v / div for v in t]
    x0, x1, sx = _scale(x, ML, W - MR)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
             f'font-size="11"><rect width="{W}" height="{H}" fill="white"/>',
             f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
             f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="none" stroke="#888"/>',
             f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">time ({t_unit})</text>',
             f'<text x="{ML}" y="{H - MB + 14}" text-anchor="middle">{x0:.3g}</text>',
             f'<text x="{W - MR}" y="{H - MB + 14}" text-anchor="middle">{x1:.3g}</text>']
    for (label, vals), colour, side in ((left, "#1f5fbf", "l"), (right, "#c0392b", "r")):
        if not vals or label is None:
            continue
        lo, hi, sy = _scale(vals, H - MB, MT)
        pts = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(x, vals, strict=False))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        ax = ML - 4 if side == "l" else W - MR + 4
        anchor = "end" if side == "l" else "start"
        parts.append(f'<text x="{ax}" y="{MT + 10}" text-anchor="{anchor}" fill="{colour}">{hi:.4g}</text>')
        parts.append(f'<text x="{ax}" y="{H - MB}" text-anchor="{anchor}" fill="{colour}">{lo:.4g}</text>')
        parts.append(f'<text x="{ax}" y="{(H - MB + MT) / 2}" text-anchor="{anchor}" fill="{colour}">'
                     f'{escape(label)}</text>')
        if right is None:
            break
    parts.append("</svg>")
    return "\n".join(parts).encode("utf-8")
