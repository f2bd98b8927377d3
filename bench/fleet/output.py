"""Query results as a terminal table, CSV or JSON (one function each, same columns)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.timedelta):
        return f"{value.days} d" if value.days else f"{value.seconds // 3600} h"
    return str(value)


def table(columns: list[str], rows: list[list[Any]], *, title: str = "", max_width: int = 48) -> str:
    """Aligned columns for a terminal; long text is cut with an ellipsis (CSV/JSON keep everything)."""
    cells = [[_cell(v) for v in r] for r in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in r] for r in cells]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(columns)]
    numeric = [
        all(isinstance(r[i], int | float | decimal.Decimal) or r[i] is None for r in rows) and rows
        for i in range(len(columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [title] if title else []
    out += [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def to_csv(columns: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if v is None else _plain(v) for v in r])
    return buf.getvalue()


def to_json(columns: list[str], rows: list[list[Any]]) -> str:
    data = [{c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows]
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def render(columns: list[str], rows: list[list[Any]], fmt: str, *, title: str = "") -> str:
    if fmt == "csv":
        return to_csv(columns, rows)
    if fmt == "json":
        return to_json(columns, rows)
    return table(columns, rows, title=title)
