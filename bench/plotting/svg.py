"""SVG text: escaping, colour checks, number formatting and element writing.

Reports are hashed and signed, so the same figure must give the same bytes on every render:
attributes are written in the order given, numbers at a fixed 0.1 px resolution (no "-0"), and
every piece of text goes through one escape. Nothing here can emit a script, an event handler or
an external reference: the element and attribute names are the module's own, never the caller's.
"""

from __future__ import annotations

import re
from html import escape

import numpy as np

from bench.plotting.errors import PlotError

_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-z]{3,20}")
_NAME = re.compile(r"[a-z][a-z0-9-]*")  # element and attribute names (ours, checked anyway)


def text(value: object) -> str:
    """Escaped text or attribute value (quotes too)."""
    return escape(str(value), quote=True)


def color(value: str, what: str) -> str:
    """A colour as '#rgb', '#rrggbb', '#rrggbbaa' or a CSS name; anything else is refused by name."""
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise PlotError(f"{what}: colour {value!r} is not '#rrggbb' or a CSS colour name")
    return value


def num(value: float) -> str:
    """A coordinate at 0.1 px: '12.3', '12', never '-0' or an exponent."""
    r = round(float(value), 1) + 0.0
    out = f"{r:.1f}"
    return out[:-2] if out.endswith(".0") else out


def points(xs: np.ndarray, ys: np.ndarray) -> str:
    """'x,y x,y ...' for a polyline or polygon, at 0.1 px (vectorised; -0 folded into 0)."""
    xy = np.round(np.column_stack([xs, ys]).astype(float), 1) + 0.0
    return " ".join(f"{num(x)},{num(y)}" for x, y in xy.tolist())


class Svg:
    """An SVG document written element by element: `add("line", x1=0, stroke="#444")`.

    Keyword names map to attributes with '_' read as '-' (`stroke_width`); floats are written with
    `num`, strings escaped. `text` is the element's escaped character content.
    """

    def __init__(self, width: int, height: int, label: str, css_class: str = "plot") -> None:
        self.width, self.height = width, height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="{text(css_class)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{text(label)}">'
        ]

    def add(self, tag: str, content: str | None = None, *, title: str | None = None, **attrs: object) -> None:
        if not _NAME.fullmatch(tag) or tag == "script":
            raise PlotError(f"SVG element {tag!r} is not allowed")
        out = [f"<{tag}"]
        for key, value in attrs.items():
            name = key.rstrip("_").replace("_", "-")
            if value is None:
                continue
            if not _NAME.fullmatch(name) or name.startswith("on") or name in ("href", "xlink-href", "style"):
                raise PlotError(f"SVG attribute {name!r} is not allowed")
            shown = num(value) if isinstance(value, float) else text(value)
            out.append(f' {name}="{shown}"')
        inner = (f"<title>{text(title)}</title>" if title is not None else "") + (
            text(content) if content is not None else ""
        )
        self.parts.append("".join(out) + (f">{inner}</{tag}>" if inner else "/>"))

    def to_string(self) -> str:
        return "".join(self.parts) + "</svg>"
