"""Duty-cycle files: power against time, the one format plans replay and `bench dispatch` writes.

A duty cycle is a CSV text file with `#` header lines and three columns at most:

    # ess-bench duty-cycle 1
    # name: peak shaving, 2026-07-14
    # source: bench dispatch --load site.csv --tariff tou.toml (run 2026-11-30T10:00Z)
    # end: 86400 s
    t[s],power[kW],soc[%]
    0,0,50
    900,-50,50
    ...

- `t` is the start of each interval, from 0, strictly increasing; the power is held until the
  next row (zero-order hold) and the last row until `end` (default: last t plus the last step).
- `power` is positive when the system discharges (exports, SunSpec `W` > 0) and negative when it
  charges. Its unit is any power unit, or a dimensionless one (`1`, `%`) meaning a fraction of
  the rated power of the system it is replayed on (normalised signals such as frequency
  regulation).
- `soc` (optional) is the state of charge the schedule expects at the start of each interval;
  plans compare it with what they measure.
Every number is parsed and range-checked at load time (non-finite values refused) with the
file, line and column in the error, before anything is energised.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pint

from bench.errors import ConfigError
from bench.units import Q_, parse_quantity, ureg

MAGIC = "ess-bench duty-cycle 1"
MAX_ROWS = 5_000_000  # a year at 10 s; anything longer is a mistake, not a duty cycle
MAX_POWER_W = 1e10  # 10 GW: above this the unit is wrong
_COLUMN = re.compile(r"^\s*(t|power|soc)\s*\[\s*([^\]]*)\s*\]\s*$")


@dataclass
class DutyCycle:
    """Intervals starting at `t_s` (s) with `power` held over each; `end_s` closes the last one."""

    name: str
    t_s: np.ndarray
    power: np.ndarray  # magnitudes in `power_unit`
    power_unit: pint.Unit
    end_s: float
    soc_pct: np.ndarray | None = None
    meta: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def normalised(self) -> bool:
        """True when power is a fraction of rated power (dimensionless column)."""
        return self.power_unit.dimensionality == ureg.dimensionless.dimensionality

    @property
    def duration(self) -> pint.Quantity:
        return Q_(self.end_s, "s")

    @property
    def steps_s(self) -> np.ndarray:
        """Length of each interval (s)."""
        return np.diff(np.append(self.t_s, self.end_s))

    def power_w(self, rated: pint.Quantity | None = None) -> np.ndarray:
        """Power of each interval in W; a normalised cycle needs the rated power to scale by."""
        if self.normalised:
            if rated is None:
                raise ConfigError(
                    "this duty cycle is normalised (power as a fraction of rated); give the rated power to replay it",
                    source=self.source,
                    key="power",
                )
            frac = Q_(self.power, self.power_unit).to("").magnitude
            return np.asarray(frac * float(rated.to("W").magnitude), dtype=float)
        return np.asarray(Q_(self.power, self.power_unit).to("W").magnitude, dtype=float)

    def power_at(self, t: pint.Quantity, rated: pint.Quantity | None = None) -> pint.Quantity:
        """The commanded power at time `t` from the start (zero after the end)."""
        ts = float(t.to("s").magnitude)
        if ts < 0 or ts >= self.end_s:
            return Q_(0.0, "W")
        i = int(np.searchsorted(self.t_s, ts, side="right") - 1)
        return Q_(float(self.power_w(rated)[i]), "W")

    def energy(self, rated: pint.Quantity | None = None) -> tuple[pint.Quantity, pint.Quantity]:
        """(discharged, charged) energy the cycle asks for, both positive."""
        e = self.power_w(rated) * self.steps_s  # J per interval
        return Q_(float(e[e > 0].sum()), "J").to("kWh"), Q_(float(-e[e < 0].sum()), "J").to("kWh")


def _err(source: str, line: int | None, message: str, column: str | None = None) -> ConfigError:
    key = f"line {line}" + (f" column {column}" if column else "") if line is not None else column
    return ConfigError(message, source=source, key=key)


def _number(text: str, source: str, line: int, column: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise _err(source, line, f"expected a number, got {text!r}", column) from None
    if not math.isfinite(x):
        raise _err(source, line, f"non-finite value {text!r} refused", column)
    return x


def parse_duty_cycle(text: str, *, source: str = "<duty cycle>") -> DutyCycle:
    """Parse duty-cycle text; every problem is a ConfigError naming the file, line and column."""
    meta: dict[str, str] = {}
    lines = text.splitlines()
    body_start = 0
    for i, raw in enumerate(lines):
        s = raw.strip()
        if not s:
            continue
        if not s.startswith("#"):
            body_start = i
            break
        s = s[1:].strip()
        if i == 0 and s.startswith("ess-bench duty-cycle"):
            if s != MAGIC:
                raise _err(source, 1, f"unsupported duty-cycle format {s!r}; this bench reads {MAGIC!r}")
            meta["format"] = s
            continue
        if ":" in s:
            k, _, v = s.partition(":")
            meta[k.strip().lower()] = v.strip()
    else:
        raise _err(source, None, "no header row (expected t[s],power[kW] and optionally soc[%])")
    reader = csv.reader(io.StringIO("\n".join(lines[body_start:])))
    header = next(reader)
    hline = body_start + 1
    cols: dict[str, tuple[int, pint.Unit]] = {}
    for j, h in enumerate(header):
        m = _COLUMN.match(h)
        if not m:
            raise _err(source, hline, f"column header {h!r}: expected name[unit], e.g. t[s], power[kW], soc[%]")
        name, unit_text = m.group(1), m.group(2) or "1"
        if name in cols:
            raise _err(source, hline, f"column {name!r} given twice")
        try:
            unit = ureg.Unit(unit_text)
        except Exception as exc:  # noqa: BLE001 - pint raises assorted errors on garbage
            raise _err(source, hline, f"unknown unit {unit_text!r}: {exc}", name) from None
        cols[name] = (j, unit)
    for need in ("t", "power"):
        if need not in cols:
            raise _err(source, hline, f"missing column {need}[unit] (have {', '.join(header)})")
    t_unit, p_unit = cols["t"][1], cols["power"][1]
    if t_unit.dimensionality != ureg.s.dimensionality:
        raise _err(source, hline, f"t must be in a time unit, got {t_unit:~P}", "t")
    if p_unit.dimensionality not in (ureg.W.dimensionality, ureg.dimensionless.dimensionality):
        raise _err(
            source, hline, f"power must be in a power unit or a fraction of rated (1, %), got {p_unit:~P}", "power"
        )
    soc_col = cols.get("soc")
    if soc_col is not None and soc_col[1].dimensionality != ureg.dimensionless.dimensionality:
        raise _err(source, hline, f"soc must be dimensionless (%), got {soc_col[1]:~P}", "soc")
    t_list: list[float] = []
    p_list: list[float] = []
    soc_list: list[float] = []
    t_factor = float(Q_(1.0, t_unit).to("s").magnitude)
    p_factor_w = float(Q_(1.0, p_unit).to("W" if p_unit.dimensionality == ureg.W.dimensionality else "").magnitude)
    soc_factor = float(Q_(1.0, soc_col[1]).to("percent").magnitude) if soc_col else 1.0
    width = len(header)
    for n, row in enumerate(reader, start=hline + 1):
        if not row or all(not c.strip() for c in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if len(row) != width:
            raise _err(source, n, f"expected {width} columns, got {len(row)}")
        if len(t_list) >= MAX_ROWS:
            raise _err(source, n, f"more than {MAX_ROWS} rows")
        t = _number(row[cols["t"][0]], source, n, "t") * t_factor
        p = _number(row[cols["power"][0]], source, n, "power")
        if t_list and t <= t_list[-1]:
            raise _err(source, n, f"t must increase strictly ({t:g} s after {t_list[-1]:g} s)", "t")
        if not t_list and t != 0.0:
            raise _err(source, n, f"the first interval must start at t = 0, got {t:g} s", "t")
        if p_unit.dimensionality == ureg.W.dimensionality and abs(p * p_factor_w) > MAX_POWER_W:
            raise _err(source, n, f"power {p:g} {p_unit:~P} is beyond any storage system (check the unit)", "power")
        if p_unit.dimensionality != ureg.W.dimensionality and abs(p * p_factor_w) > 10.0:
            raise _err(source, n, f"normalised power {p:g} {p_unit:~P} is more than 10 x rated", "power")
        t_list.append(t)
        p_list.append(p)
        if soc_col is not None:
            s = _number(row[soc_col[0]], source, n, "soc") * soc_factor
            if not 0.0 <= s <= 100.0:
                raise _err(source, n, f"soc {s:g} % outside 0..100 %", "soc")
            soc_list.append(s)
    if not t_list:
        raise _err(source, None, "no intervals")
    t_s = np.asarray(t_list, dtype=float)
    if "end" in meta:
        end_s = float(parse_quantity(meta["end"], source=source, key="end", dimension="time").to("s").magnitude)
        if not math.isfinite(end_s) or end_s <= t_s[-1]:
            raise _err(
                source,
                None,
                f"end {meta['end']!r} must be finite and after the last interval start ({t_s[-1]:g} s)",
                "end",
            )
    elif len(t_s) > 1:
        end_s = float(t_s[-1] + (t_s[-1] - t_s[-2]))
    else:
        raise _err(source, None, "a single interval needs '# end: <duration>' in the header", "end")
    return DutyCycle(
        name=meta.get("name", Path(source).stem),
        t_s=t_s,
        power=np.asarray(p_list, dtype=float),
        power_unit=p_unit,
        end_s=end_s,
        soc_pct=np.asarray(soc_list) if soc_col else None,
        meta=meta,
        source=source,
    )


def load_duty_cycle(path: str | Path) -> DutyCycle:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("duty-cycle file not found", source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read duty-cycle file: {exc}", source=str(p)) from exc
    return parse_duty_cycle(text, source=str(p))


def format_duty_cycle(cycle: DutyCycle, **meta: Any) -> str:
    """The file text for `cycle`; `meta` adds header lines (name, source, ...)."""
    head = {"name": cycle.name, **cycle.meta, **{k: str(v) for k, v in meta.items()}, "end": f"{cycle.end_s:.10g} s"}
    head.pop("format", None)
    out = io.StringIO()
    out.write(f"# {MAGIC}\n")
    for k, v in head.items():
        out.write(f"# {k}: {str(v).replace(chr(10), ' ')}\n")
    unit = f"{cycle.power_unit:~P}" or "1"
    cols = ["t[s]", f"power[{unit}]"] + (["soc[%]"] if cycle.soc_pct is not None else [])
    out.write(",".join(cols) + "\n")
    for i in range(len(cycle.t_s)):
        row = [f"{cycle.t_s[i]:.10g}", f"{cycle.power[i]:.10g}"]
        if cycle.soc_pct is not None:
            row.append(f"{cycle.soc_pct[i]:.6g}")
        out.write(",".join(row) + "\n")
    return out.getvalue()


def write_duty_cycle(path: str | Path, cycle: DutyCycle, **meta: Any) -> Path:
    p = Path(path)
    p.write_text(format_duty_cycle(cycle, **meta), encoding="utf-8")
    return p
