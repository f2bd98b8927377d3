"""Interlocks: limits the bench watches on its own, whatever the plan is doing.

Declared in the station file's `[interlocks]` (the bench's hardware limits) and in a limit set's
`[interlocks]` (the DUT's limits); where both bound the same quantity the tighter bound wins, so
neither file can loosen the other. Shape (every table optional):

    [interlocks]
    period = "1 s"            # watch rate (virtual time in simulation, wall time on hardware)
    link_timeout = "5 s"      # a watched source that does not answer this long trips too
    [interlocks.cell_voltage]      min = "2.5 V"     max = "3.70 V"
    [interlocks.cell_temperature]  min = "-20 degC"  max = "65 degC"   persist = 2
    [interlocks.temperature_rate]  max = "10 K/min"  window = "60 s"
    [interlocks.gas_stage]         max = 1           # stage 2 trips
    [interlocks.pack_current]      min = "-150 A"    max = "300 A"

Readings come from the BMS (`status()`: cell voltage and temperature extremes, pack current),
the gas detector (`read().stage`, else the BMS gas alarms) and, without a BMS, the supply
current. The rate of rise is the bench's own computation over `window`, not the BMS's, so a BMS
that misjudges it is still caught. A trip calls `on_trip(trip)` once (the session journals it
and drives the safe state), stops the watch, and raises `InterlockTrip` in the plan.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pint

from bench.bindings import Bindings
from bench.errors import ConfigError
from bench.safety.timeouts import BenchAbort, Interrupter, parse_duration
from bench.units import Q_, fmt, is_finite, parse_quantity

KINDS: dict[str, str] = {
    "cell_voltage": "V",
    "cell_temperature": "degC",
    "temperature_rate": "delta_degC/min",
    "gas_stage": "dimensionless",
    "pack_current": "A",
}
KIND_KEYS = {"min", "max", "persist", "window", "role", "source", "description", "enabled"}
TOP_KEYS = {"period", "link_timeout", "enabled", *KINDS}
PERIOD_RANGE_S = (0.01, 60.0)
LINK_TIMEOUT_RANGE_S = (0.05, 600.0)
WINDOW_RANGE_S = (1.0, 3600.0)


class InterlockTrip(BenchAbort):
    """Raised in the plan when an interlock trips; the safe state has already been driven."""

    def __init__(self, trip: Trip) -> None:
        super().__init__(trip.message)
        self.trip = trip
        self.reason = f"interlock {trip.name} tripped: {trip.message}"


@dataclass
class Interlock:
    """One watched quantity with its bounds and where each bound came from."""

    name: str
    unit: str
    low: pint.Quantity | None = None
    high: pint.Quantity | None = None
    persist: int = 1
    window_s: float = 60.0
    role: str | None = None
    origin: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "min": None if self.low is None else fmt(self.low),
            "max": None if self.high is None else fmt(self.high),
            "persist": self.persist,
            "origin": dict(self.origin),
        }


@dataclass
class Trip:
    name: str
    message: str
    value: pint.Quantity | None
    bound: pint.Quantity | None
    t_s: float
    wall: float
    readings: dict[str, str]

    def data(self) -> dict[str, Any]:
        return {
            "interlock": self.name,
            "value": None if self.value is None else fmt(self.value),
            "bound": None if self.bound is None else fmt(self.bound),
            "t_s": self.t_s,
            "readings": self.readings,
        }


@dataclass
class InterlockConfig:
    interlocks: dict[str, Interlock]
    period_s: float = 1.0
    link_timeout_s: float = 5.0
    enabled: bool = True


def _quantity(value: Any, unit: str, src: str, key: str) -> pint.Quantity:
    if unit == "dimensionless":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"expected a finite number, got {value!r}", source=src, key=key)
        return Q_(float(value), "")
    q = parse_quantity(value, source=src, key=key)
    try:
        return q.to(unit)
    except pint.DimensionalityError:
        raise ConfigError(f"{value!r} is not a {unit} quantity", source=src, key=key) from None


def _duration(value: Any, src: str, key: str, bounds: tuple[float, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f'expected a duration such as "2 s", got {value!r}', source=src, key=key)
    seconds = parse_duration(value, source=src, key=key)
    if not bounds[0] <= seconds <= bounds[1]:  # also refuses NaN
        raise ConfigError(f"{value!r} outside {bounds[0]:g}..{bounds[1]:g} s", source=src, key=key)
    return seconds


def _tighter(a: pint.Quantity | None, b: pint.Quantity | None, high: bool) -> tuple[pint.Quantity | None, bool]:
    """The tighter of two bounds, and whether `b` won."""
    if b is None:
        return a, False
    if a is None:
        return b, True
    return (b, True) if (b < a if high else b > a) else (a, False)


def merge_config(tables: list[tuple[str, dict[str, Any]]]) -> InterlockConfig:
    """Merge `[interlocks]` tables (origin name, table); the tighter bound wins; errors name file and key."""
    cfg = InterlockConfig(interlocks={})
    period: float | None = None
    link: float | None = None
    for origin, table in tables:
        if not table:
            continue
        unknown = sorted(set(table) - TOP_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown interlock key(s) {unknown}; expected some of {sorted(TOP_KEYS)}",
                source=origin,
                key="interlocks",
            )
        if table.get("enabled") is False:
            cfg.enabled = False
        if "period" in table:
            p = _duration(table["period"], origin, "interlocks.period", PERIOD_RANGE_S)
            period = p if period is None else min(period, p)
        if "link_timeout" in table:
            lt = _duration(table["link_timeout"], origin, "interlocks.link_timeout", LINK_TIMEOUT_RANGE_S)
            link = lt if link is None else min(link, lt)
        for kind, unit in KINDS.items():
            t = table.get(kind)
            if t is None:
                continue
            base = f"interlocks.{kind}"
            if not isinstance(t, dict):
                raise ConfigError("expected a table with min and/or max", source=origin, key=base)
            bad = sorted(set(t) - KIND_KEYS)
            if bad:
                raise ConfigError(
                    f"unknown key(s) {bad}; expected some of {sorted(KIND_KEYS)}", source=origin, key=base
                )
            if t.get("enabled") is False:
                continue
            il = cfg.interlocks.setdefault(kind, Interlock(kind, unit))
            for key, high in (("min", False), ("max", True)):
                if key in t:
                    q = _quantity(t[key], unit, origin, f"{base}.{key}")
                    new, won = _tighter(il.high if high else il.low, q, high)
                    if high:
                        il.high = new
                    else:
                        il.low = new
                    if won:
                        il.origin[key] = origin
            if il.low is not None and il.high is not None and il.low > il.high:
                raise ConfigError(
                    f"min {fmt(il.low)} (from {il.origin.get('min', '?')}) is above max {fmt(il.high)} "
                    f"(from {il.origin.get('max', '?')}) after merging",
                    source=origin,
                    key=base,
                )
            if "persist" in t:
                n = t["persist"]
                if not isinstance(n, int) or n < 1 or n > 100:
                    raise ConfigError("persist is a sample count 1..100", source=origin, key=f"{base}.persist")
                il.persist = n if "persist" not in il.origin else min(il.persist, n)
                il.origin["persist"] = origin
            if "window" in t:
                il.window_s = _duration(t["window"], origin, f"{base}.window", WINDOW_RANGE_S)
            if "role" in t:
                if not isinstance(t["role"], str) or not t["role"]:
                    raise ConfigError("expected a station role name", source=origin, key=f"{base}.role")
                il.role = t["role"]
    cfg.period_s = period if period is not None else 1.0
    cfg.link_timeout_s = link if link is not None else max(5.0, 3 * cfg.period_s)
    if cfg.period_s <= 0 or cfg.link_timeout_s <= 0:
        raise ConfigError("interlock period and link_timeout must be positive", key="interlocks")
    return cfg


class InterlockWatcher:
    """Polls the sources every period and trips on the first bound exceeded for `persist` samples."""

    def __init__(
        self,
        config: InterlockConfig,
        bindings: Bindings | dict[str, Any],
        clock: Any,
        *,
        on_trip: Callable[[Trip], None],
        interrupter: Interrupter | None = None,
        on_sample: Callable[[dict[str, pint.Quantity]], None] | None = None,
    ) -> None:
        self.config = config
        if not isinstance(bindings, Bindings):
            bindings = Bindings(bindings)
        self.instruments = bindings.instruments
        self.clock = clock
        self.on_trip = on_trip
        self.on_sample = on_sample
        self.interrupter = interrupter
        self.trip: Trip | None = None
        self.done = threading.Event()
        self.samples = 0
        self.inhibited: dict[str, str] = {}
        self._handle: Any = None
        self._busy = False
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._tmax_hist: deque[tuple[float, float]] = deque(maxlen=10_000)
        self._last_ok: dict[str, float] = {}
        self._errors: dict[str, str] = {}
        explicit = [il.role for il in config.interlocks.values() if il.role]
        self.bms_role = explicit[0] if explicit else bindings.role_for("bms")
        self.gas_role = bindings.role_for("gas")
        self.psu_role = bindings.role_for("psu")
        for role in explicit:
            if role not in self.instruments:
                raise ConfigError(
                    f"interlock source role {role!r} is not a role of this station "
                    f"(roles: {', '.join(self.instruments)})",
                    key="interlocks",
                )

    # -- life cycle --------------------------------------------------------------------------
    @property
    def sources(self) -> list[str]:
        needed: list[str] = []
        kinds = set(self.config.interlocks)
        if self.bms_role and kinds & {
            "cell_voltage",
            "cell_temperature",
            "temperature_rate",
            "pack_current",
            "gas_stage",
        }:
            needed.append(self.bms_role)
        if self.gas_role and "gas_stage" in kinds:
            needed.append(self.gas_role)
        if not self.bms_role and "pack_current" in kinds and self.psu_role:
            needed.append(self.psu_role)
        return needed

    def start(self) -> InterlockWatcher:
        now = self.clock.now_s()
        for role in self.sources:
            self._last_ok[role] = now
        self._handle = self.clock.every(Q_(self.config.period_s, "s"), self.tick, name="interlocks")
        return self

    def stop(self) -> None:
        if self._handle is not None:
            self.clock.cancel(self._handle)
            self._handle = None

    @property
    def running(self) -> bool:
        return self._handle is not None and self._handle.active

    def inhibit(self, names: list[str], reason: str) -> None:
        for n in names:
            self.inhibited[n] = reason

    def release(self, names: list[str] | None = None) -> None:
        for n in list(self.inhibited) if names is None else names:
            self.inhibited.pop(n, None)
            self._counts.pop(n, None)

    def _is_inhibited(self, name: str) -> bool:
        return name in self.inhibited or name.split(".")[0] in self.inhibited

    # -- reading -----------------------------------------------------------------------------
    def _read(self, role: str, fn: Callable[[], Any], now: float) -> Any:
        """One source's reading; a failed read or a non-finite value counts as no answer (link timeout),
        because a NaN compares false with every bound and would otherwise never trip."""
        try:
            value = fn()
            bad = [
                f
                for f in (
                    "cell_voltage_min",
                    "cell_voltage_max",
                    "cell_temperature_min",
                    "cell_temperature_max",
                    "pack_current",
                    "pressure",
                )
                if isinstance(getattr(value, f, None), pint.Quantity) and not is_finite(getattr(value, f))
            ]
            if isinstance(value, pint.Quantity) and not is_finite(value):
                bad.append("value")
            if bad:
                raise ValueError(f"non-finite reading of {', '.join(bad)}")
        except Exception as exc:  # a source that does not answer is watched by the link timeout
            self._errors[role] = f"{type(exc).__name__}: {exc}"
            return None
        self._last_ok[role] = now
        self._errors.pop(role, None)
        return value

    def read(self, now: float) -> dict[str, pint.Quantity]:
        """One sample of every watched quantity (missing sources leave gaps)."""
        out: dict[str, pint.Quantity] = {}
        if self.bms_role in self.sources:
            st = self._read(self.bms_role, self.instruments[self.bms_role].status, now)
            if st is not None:
                out["cell_voltage.min"] = st.cell_voltage_min
                out["cell_voltage.max"] = st.cell_voltage_max
                out["cell_temperature.min"] = st.cell_temperature_min
                out["cell_temperature.max"] = st.cell_temperature_max
                out["pack_current"] = st.pack_current
                alarms = getattr(st, "alarms", {}) or {}
                out["gas_stage.bms"] = Q_(
                    2.0 if alarms.get("gas_stage2") else 1.0 if alarms.get("gas_stage1") else 0.0, ""
                )
        if self.gas_role in self.sources:
            g = self._read(self.gas_role, self.instruments[self.gas_role].read, now)
            if g is not None:
                out["gas_stage"] = Q_(float(g.stage), "")
        if self.psu_role is not None and self.psu_role in self.sources:
            i = self._read(self.psu_role, self.instruments[self.psu_role].measure_current, now)
            if i is not None:
                out["pack_current"] = i
        if "cell_temperature.max" in out:
            self._tmax_hist.append((now, float(out["cell_temperature.max"].to("degC").magnitude)))
            rate = self._rate(now)
            if rate is not None:
                out["temperature_rate"] = rate
        return out

    def _rate(self, now: float) -> pint.Quantity | None:
        il = self.config.interlocks.get("temperature_rate")
        window = il.window_s if il else 60.0
        hist = self._tmax_hist
        while len(hist) > 2 and now - hist[1][0] >= window:
            hist.popleft()
        t0, T0 = hist[0]
        if now - t0 < 0.5 * window:
            return None
        return Q_((hist[-1][1] - T0) * 60.0 / (now - t0), "delta_degC/min")

    # -- evaluation --------------------------------------------------------------------------
    def _checks(self, r: dict[str, pint.Quantity]) -> list[tuple[str, pint.Quantity, pint.Quantity, str]]:
        """(interlock, value, bound, 'above'|'below') for every bound exceeded in this sample."""
        return [
            (name, value, bound, how)
            for name, value, bound, how in self.bounds(r)
            if ((value > bound) if how == "above" else (value < bound))
        ]

    def margins(self, readings: dict[str, pint.Quantity]) -> list[dict[str, Any]]:
        """For a sample (`read()` / `on_sample`): each watched reading, its bound and the margin left
        (bound minus reading for a maximum, reading minus bound for a minimum; negative = exceeded),
        with the fraction of the allowed band it leaves and whether the interlock is inhibited."""
        out = []
        for name, value, bound, how in self.bounds(readings):
            il = self.config.interlocks[name]
            margin = (bound - value) if how == "above" else (value - bound)
            band = (il.high - il.low) if il.low is not None and il.high is not None else None
            frac = float((margin / band).to("").magnitude) if band is not None and band.magnitude else None
            out.append(
                {
                    "interlock": name,
                    "side": "max" if how == "above" else "min",
                    "reading": fmt(value),
                    "bound": fmt(bound),
                    "margin": fmt(margin),
                    "margin_value": float(margin.magnitude),
                    "band_fraction": frac,
                    "inhibited": self._is_inhibited(name),
                    "origin": il.origin.get("max" if how == "above" else "min", ""),
                }
            )
        return out

    def bounds(self, r: dict[str, pint.Quantity]) -> list[tuple[str, pint.Quantity, pint.Quantity, str]]:
        """(interlock, value, bound, 'above'|'below') for every bound with a reading in this sample."""
        out = []
        for name, il in self.config.interlocks.items():
            if name in ("cell_voltage", "cell_temperature"):
                pairs = [(r.get(f"{name}.max"), il.high, "above"), (r.get(f"{name}.min"), il.low, "below")]
            elif name == "gas_stage":
                v = r.get("gas_stage", r.get("gas_stage.bms"))
                pairs = [(v, il.high, "above"), (v, il.low, "below")]
            else:
                v = r.get(name)
                pairs = [(v, il.high, "above"), (v, il.low, "below")]
            for value, bound, how in pairs:
                if value is None or bound is None:
                    continue
                out.append((name, value, bound, how))
        return out

    def tick(self, t: float | None = None) -> None:
        """One watch cycle (called by the clock); re-entrant calls are ignored."""
        with self._lock:
            if self._busy or self.trip is not None:
                return
            self._busy = True
        try:
            self._tick()
        finally:
            self._busy = False

    def _tick(self) -> None:
        now = self.clock.now_s()
        readings = self.read(now)
        self.samples += 1
        if self.on_sample is not None:
            self.on_sample(readings)
        exceeded: dict[str, tuple[pint.Quantity, pint.Quantity, str]] = {}
        for name, value, bound, how in self._checks(readings):
            exceeded.setdefault(name, (value, bound, how))
        for name in self.config.interlocks:
            if name in exceeded and not self._is_inhibited(name):
                self._counts[name] = self._counts.get(name, 0) + 1
            else:
                self._counts.pop(name, None)
        for name, (value, bound, how) in exceeded.items():
            il = self.config.interlocks[name]
            if self._counts.get(name, 0) >= il.persist:
                msg = (
                    f"{name.replace('_', ' ')} {fmt(value)} {how} the interlock limit {fmt(bound)}"
                    f" (set by {il.origin.get('max' if how == 'above' else 'min', '?')})"
                )
                self._fire(Trip(name, msg, value, bound, now, time.time(), self._shown(readings)))
                return
        for role, last in self._last_ok.items():
            name = f"link.{role}"
            if now - last >= self.config.link_timeout_s - 1e-9 and not self._is_inhibited(name):
                msg = (
                    f"{role} has not answered the interlock watch for {now - last:.3g} s "
                    f"(limit {self.config.link_timeout_s:g} s): {self._errors.get(role, 'no reply')}"
                )
                self._fire(
                    Trip(
                        name,
                        msg,
                        Q_(now - last, "s"),
                        Q_(self.config.link_timeout_s, "s"),
                        now,
                        time.time(),
                        self._shown(readings),
                    )
                )
                return

    @staticmethod
    def _shown(readings: dict[str, pint.Quantity]) -> dict[str, str]:
        """The readings as text for a trip's record (formatted only when a trip fires: ~25 per tick)."""
        return {k: fmt(v) for k, v in readings.items()}

    def _fire(self, trip: Trip) -> None:
        """Stop watching; stop the plan; let the session journal the trip and drive the safe state.

        In simulation the tick runs in the plan thread (inside `clock.sleep`): the safe state is
        driven there and `InterlockTrip` is raised out of the sleep. On hardware the tick runs on
        the clock's thread: the plan is interrupted first (so it stops talking to instruments),
        given a moment to unwind, and the safe state is driven from here without waiting for it.
        """
        self.trip = trip
        self.stop()
        exc = InterlockTrip(trip)
        in_plan = threading.current_thread() is threading.main_thread()
        if not in_plan and self.interrupter is not None and self.interrupter.interrupt(exc):
            self.interrupter.delivered.wait(0.5)
        try:
            self.on_trip(trip)
        finally:
            self.done.set()
            if in_plan:
                raise exc
