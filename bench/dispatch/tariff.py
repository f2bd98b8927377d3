"""Tariffs: time-of-use energy prices, monthly demand charges, export, grid limits (a TOML file).

Every minute of every month and day type must be priced by exactly one energy period; the check is
made on the whole calendar (12 months x 7 days x 1,440 minutes), not just on the load's dates, so
a tariff file is known to be complete before any load is read. Periods are in local wall-clock
time (`[tariff] timezone`); an interval is priced at the mean of the prices of its minutes, so
hourly data meet a 08:30 boundary correctly. See docs/dispatch.md for the file format.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bench.dispatch.errors import TariffCoverageError
from bench.dispatch.fields import TomlReader
from bench.dispatch.load import LoadSeries
from bench.tomlfile import read_toml, sha256_hex

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS = {"all": set(range(7)), "weekday": set(range(5)), "weekend": {5, 6}}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_PRICE = 100.0  # currency per kWh: above this the unit is wrong
MAX_DEMAND = 10_000.0  # currency per kW per month


@dataclass
class Window:
    """When a period applies: months (1..12), days (0 = Monday), minutes of the day (bool[1440])."""

    months: set[int]
    days: set[int]
    minutes: np.ndarray

    def grid(self) -> np.ndarray:
        """bool[12, 7, 1440]: month, weekday, minute."""
        m = np.zeros(12, bool)
        m[[k - 1 for k in self.months]] = True
        d = np.zeros(7, bool)
        d[list(self.days)] = True
        return m[:, None, None] & d[None, :, None] & self.minutes[None, None, :]


@dataclass
class EnergyPeriod:
    name: str
    price: float  # currency per kWh imported
    export_price: float | None  # currency per kWh exported, overriding [export] price
    window: Window


@dataclass
class DemandCharge:
    name: str
    charge: float  # currency per kW of the month's highest interval import in the window
    window: Window


@dataclass
class Tariff:
    source: str
    name: str
    currency: str
    timezone: str | None
    energy: list[EnergyPeriod]
    demand: list[DemandCharge]
    export_allowed: bool
    export_price: float  # currency per kWh
    export_limit_kw: float | None
    import_limit_kw: float | None
    fixed_per_month: float
    holidays: set[date] = field(default_factory=set)
    sha256: str = ""

    def steps(self, load: LoadSeries) -> TariffSteps:
        """Per-interval prices and demand windows for the load's intervals."""
        local = load.local_us.astype("datetime64[us]")
        days = local.astype("datetime64[D]")
        month = (local.astype("datetime64[M]").astype(np.int64) % 12).astype(np.intp)  # 0 = January
        weekday = ((days.astype(np.int64) + 3) % 7).astype(np.intp)  # 1970-01-01 was a Thursday
        if self.holidays:
            hol = np.isin(days, np.array(sorted(self.holidays), dtype="datetime64[D]"))
            weekday[hol] = 6  # a holiday is priced as a Sunday
        minute = ((local - days).astype("timedelta64[m]").astype(np.int64)).astype(np.intp)
        span = max(int(round(load.step_s / 60)), 1)
        offsets = np.arange(span)
        mins = (minute[:, None] + offsets[None, :]) % 1440
        period = np.empty((12, 7, 1440), np.intp)
        grid = np.stack([p.window.grid() for p in self.energy])
        period[:] = np.argmax(grid, axis=0)
        per_min = period[month[:, None], weekday[:, None], mins]
        price = np.array([p.price for p in self.energy])[per_min].mean(axis=1)
        exp = np.array([self.export_price if p.export_price is None else p.export_price for p in self.energy])
        export_price = exp[per_min].mean(axis=1) if self.export_allowed else None
        windows = np.zeros((len(self.demand), load.n), bool)
        for k, dc in enumerate(self.demand):
            windows[k] = dc.window.grid()[month, weekday, minute]
        return TariffSteps(
            price=price,
            export_price=export_price,
            period=per_min[:, 0],
            demand_windows=windows,
            demand_charge=np.array([d.charge for d in self.demand]),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.sha256,
            "currency": self.currency,
            "timezone": self.timezone,
            "energy_periods": [{"name": p.name, "price": f"{p.price:g} {self.currency}/kWh"} for p in self.energy],
            "demand_charges": [{"name": d.name, "charge": f"{d.charge:g} {self.currency}/kW"} for d in self.demand],
            "export": (f"{self.export_price:g} {self.currency}/kWh" if self.export_allowed else "not allowed"),
            "import_limit": None if self.import_limit_kw is None else f"{self.import_limit_kw:g} kW",
            "export_limit": None if self.export_limit_kw is None else f"{self.export_limit_kw:g} kW",
        }


@dataclass
class TariffSteps:
    price: np.ndarray  # currency per kWh imported, per interval
    export_price: np.ndarray | None  # currency per kWh exported, None when export is not allowed
    period: np.ndarray  # index of the energy period at each interval's start
    demand_windows: np.ndarray  # bool[K, T]: interval counts for demand charge k
    demand_charge: np.ndarray  # currency per kW per month, per demand charge


def _minutes(r: TomlReader, value: Any, key: str) -> np.ndarray:
    out = np.zeros(1440, bool)
    if value is None:
        out[:] = True
        return out
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        r.error('expected a list of local-time ranges such as ["08:00-12:00", "17:00-20:00"]', key)
        return out
    for text in value:
        m = _HOURS.match(text)
        if not m:
            r.error(f"time range {text!r}: expected HH:MM-HH:MM (end exclusive; 24:00 for midnight)", key)
            continue
        h0, m0, h1, m1 = (int(x) for x in m.groups())
        a, b = h0 * 60 + m0, h1 * 60 + m1
        if h0 > 23 or m0 > 59 or m1 > 59 or b > 1440 or a == b:
            r.error(f"time range {text!r} is not a valid range of the day", key)
            continue
        if a < b:
            out[a:b] = True
        else:  # wraps past midnight, e.g. 22:00-06:00
            out[a:] = True
            out[:b] = True
    return out


def _window(r: TomlReader, t: dict[str, Any], prefix: str, seasons: dict[str, set[int]]) -> Window:
    names = r.get(t, prefix, "seasons", list, None)
    months: set[int] = set(range(1, 13))
    if names is not None:
        months = set()
        for s in names:
            if s not in seasons:
                r.error(f"unknown season {s!r} (defined: {', '.join(sorted(seasons)) or 'none'})", f"{prefix}.seasons")
            else:
                months |= seasons[s]
    if "months" in t:
        months = _months(r, t["months"], f"{prefix}.months")
    days_value = r.get(t, prefix, "days", list, ["all"]) or []
    days: set[int] = set()
    for d in days_value:
        dn = str(d).lower()
        if dn in DAY_SETS:
            days |= DAY_SETS[dn]
        elif dn[:3] in DAY_NAMES:
            days.add(DAY_NAMES.index(dn[:3]))
        else:
            r.error(f"unknown day {d!r} (all, weekday, weekend, mon..sun)", f"{prefix}.days")
    return Window(months=months, days=days, minutes=_minutes(r, t.get("hours"), f"{prefix}.hours"))


def _months(r: TomlReader, value: Any, key: str) -> set[int]:
    out: set[int] = set()
    if not isinstance(value, list) or not value:
        r.error("expected a list of months (1..12 or jan..dec)", key)
        return out
    for m in value:
        if isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12:
            out.add(m)
        elif isinstance(m, str) and m[:3].lower() in MONTH_NAMES:
            out.add(MONTH_NAMES.index(m[:3].lower()) + 1)
        else:
            r.error(f"month {m!r}: expected 1..12 or jan..dec", key)
    return out


def _describe_cell(month: int, day: int, minute: int) -> str:
    return f"{MONTH_NAMES[month].capitalize()} {DAY_NAMES[day]} {minute // 60:02d}:{minute % 60:02d}"


def _check_coverage(energy: list[EnergyPeriod], source: str) -> None:
    grids = np.stack([p.window.grid() for p in energy])
    count = grids.sum(axis=0)
    holes = np.argwhere(count == 0)
    if holes.size:
        m, d, t = holes[0]
        months = sorted({MONTH_NAMES[k] for k in holes[:, 0]})
        raise TariffCoverageError(
            f"{len(holes)} minute(s) of the week-by-month calendar have no energy period, first "
            f"{_describe_cell(m, d, t)} (months affected: {', '.join(months)}); every time must be priced",
            source=source,
            key="energy",
        )
    overlap = np.argwhere(count > 1)
    if overlap.size:
        m, d, t = overlap[0]
        both = [p.name for p in energy if p.window.grid()[m, d, t]]
        raise TariffCoverageError(
            f"{len(overlap)} minute(s) are priced by more than one energy period, first {_describe_cell(m, d, t)} "
            f"({' and '.join(repr(b) for b in both)})",
            source=source,
            key="energy",
        )


def read_tariff(path: str | Path) -> Tariff:
    """Read and validate a tariff file; every problem at once, coverage checked on the whole calendar."""
    p = Path(path)
    data, raw = read_toml(p)
    source = str(p)
    r = TomlReader(data, source)
    r.unknown(data, "", {"tariff", "seasons", "energy", "demand", "export", "grid"})
    head = r.table("tariff")
    r.unknown(head, "tariff", {"name", "currency", "timezone", "holidays", "fixed_charge"})
    name = r.get(head, "tariff", "name", str, p.stem) or p.stem
    currency = r.get(head, "tariff", "currency", str) or "EUR"
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        r.error(f"expected a three-letter currency code such as EUR, got {currency!r}", "tariff.currency")
    tz = r.get(head, "tariff", "timezone", str, None)
    if tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except Exception:  # noqa: BLE001 - zoneinfo raises several types for bad keys
            r.error(f"unknown time zone {tz!r} (an IANA name such as Europe/Berlin)", "tariff.timezone")
            tz = None
    holidays: set[date] = set()
    for h in r.get(head, "tariff", "holidays", list, []) or []:
        try:
            holidays.add(h if isinstance(h, date) else date.fromisoformat(str(h)))
        except ValueError:
            r.error(f"holiday {h!r}: expected a date such as 2025-12-25", "tariff.holidays")
    fixed = r.money(head, "tariff", "fixed_charge", currency, "month", default=0.0, low=0.0, high=1e9) or 0.0
    seasons: dict[str, set[int]] = {}
    for s, months in r.table("seasons", required=False).items():
        seasons[s] = _months(r, months, f"seasons.{s}")
    energy: list[EnergyPeriod] = []
    periods = data.get("energy")
    if not isinstance(periods, list) or not periods:
        r.error(
            'expected one or more [[energy]] periods (name, price = "0.25 EUR/kWh", seasons, days, hours)', "energy"
        )
        periods = []
    export_t = r.table("export", required=False)
    r.unknown(export_t, "export", {"allowed", "price", "limit"})
    for i, t in enumerate(periods):
        prefix = f"energy[{i}]"
        if not isinstance(t, dict):
            r.error("expected a table", prefix)
            continue
        r.unknown(t, prefix, {"name", "price", "export_price", "seasons", "months", "days", "hours"})
        price = r.money(t, prefix, "price", currency, "kWh", low=-MAX_PRICE, high=MAX_PRICE)
        exp = r.money(t, prefix, "export_price", currency, "kWh", default=None, low=-MAX_PRICE, high=MAX_PRICE)
        energy.append(
            EnergyPeriod(
                name=str(t.get("name", f"period {i + 1}")),
                price=price or 0.0,
                export_price=exp,
                window=_window(r, t, prefix, seasons),
            )
        )
    demand: list[DemandCharge] = []
    charges = data.get("demand", [])
    if not isinstance(charges, list):
        r.error("expected [[demand]] tables", "demand")
        charges = []
    for i, t in enumerate(charges):
        prefix = f"demand[{i}]"
        if not isinstance(t, dict):
            r.error("expected a table", prefix)
            continue
        r.unknown(t, prefix, {"name", "charge", "seasons", "months", "days", "hours"})
        charge = r.money(t, prefix, "charge", currency, "kW", low=0.0, high=MAX_DEMAND)
        demand.append(
            DemandCharge(
                name=str(t.get("name", f"demand {i + 1}")), charge=charge or 0.0, window=_window(r, t, prefix, seasons)
            )
        )
    allowed = r.get(export_t, "export", "allowed", bool, "price" in export_t)
    export_price = r.money(export_t, "export", "price", currency, "kWh", default=0.0, low=-MAX_PRICE, high=MAX_PRICE)
    if allowed is False and "price" in export_t:
        r.error("an export price is given but allowed = false", "export.price")
    export_limit = r.quantity(
        export_t, "export", "limit", "power", default=None, low="0 kW", low_open=True, high="1 GW"
    )
    grid = r.table("grid", required=False)
    r.unknown(grid, "grid", {"import_limit"})
    import_limit = r.quantity(
        grid, "grid", "import_limit", "power", default=None, low="0 kW", low_open=True, high="1 GW"
    )
    r.raise_if_any()
    _check_coverage(energy, source)
    return Tariff(
        source=source,
        name=name,
        currency=currency.upper(),
        timezone=tz,
        energy=energy,
        demand=demand,
        export_allowed=bool(allowed),
        export_price=export_price or 0.0,
        export_limit_kw=None if export_limit is None else float(export_limit.to("kW").magnitude),
        import_limit_kw=None if import_limit is None else float(import_limit.to("kW").magnitude),
        fixed_per_month=fixed,
        holidays=holidays,
        sha256=sha256_hex(raw),
    )
