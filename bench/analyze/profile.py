"""Log-format profiles: how one BMS writes its log (columns, units, sign, clock, chemistry).

Every BMS exports differently, so nothing about a layout is hard-coded in the analysis. A profile
is a small TOML file; it is validated in one pass and each problem names the file and key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pint

from bench.errors import ConfigError, ConfigErrors
from bench.units import Q_, parse_quantity

PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "study_lfp_16s5p"

# Internal units every channel is converted to on load.
BASE_UNITS = {"pack_voltage": "V", "current": "A", "cell_voltage": "V", "temperature": "degC"}
DIMENSION = {"pack_voltage": "voltage", "current": "current", "cell_voltage": "voltage", "temperature": "temperature"}


@dataclass(frozen=True)
class Linear:
    """y = scale * x + offset, the conversion of a logged number to the internal unit."""

    scale: float = 1.0
    offset: float = 0.0


@dataclass
class LogProfile:
    """A validated log-format profile; quantities are pint quantities."""

    name: str
    source: str
    delimiter: str
    ts_column: str
    ts_format: str
    timezone: str | None
    pack_voltage: str
    current: str
    cells: list[str]
    temperatures: list[str]
    conversions: dict[str, Linear]
    current_sign: float  # multiply logged current (after unit conversion) to get charge-positive
    chemistry: str
    nominal_capacity: pint.Quantity
    nominal_voltage: pint.Quantity
    series: int
    parallel: int
    cell_window: tuple[pint.Quantity, pint.Quantity]
    valid_range: dict[str, tuple[float, float]]  # internal units
    nominal_interval: pint.Quantity
    gap_threshold: pint.Quantity
    stuck_duration: pint.Quantity
    rest_current: pint.Quantity
    spread_limit: pint.Quantity
    crate_bin: float
    temperature_bin: float
    drift_event: str
    drift_correction: str
    pattern_clusters: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def numeric_columns(self) -> list[str]:
        return [self.pack_voltage, *self.cells, self.current, *self.temperatures]

    @property
    def all_columns(self) -> list[str]:
        return [self.ts_column, *self.numeric_columns]

    def channel_kind(self, column: str) -> str:
        if column == self.pack_voltage:
            return "pack_voltage"
        if column == self.current:
            return "current"
        if column in self.cells:
            return "cell_voltage"
        return "temperature"


def resolve_profile_path(name_or_file: str | Path | None) -> Path:
    """A shipped profile by name (`study_lfp_16s5p`) or a path to a TOML file."""
    if name_or_file is None:
        name_or_file = DEFAULT_PROFILE
    p = Path(name_or_file)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise ConfigError(f"profile file not found: {p}")
        return p
    shipped = PROFILE_DIR / f"{name_or_file}.toml"
    if shipped.exists():
        return shipped
    names = ", ".join(sorted(x.stem for x in PROFILE_DIR.glob("*.toml")))
    raise ConfigError(f"no profile named {str(name_or_file)!r}; shipped profiles: {names}; or give a .toml path")


def load_profile(name_or_file: str | Path | None = None, **overrides: Any) -> LogProfile:
    """Read and validate a profile. `overrides` replace [battery]/[analysis] values (CLI flags)."""
    path = resolve_profile_path(name_or_file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from exc
    return profile_from_dict(data, source=str(path), **overrides)


class _Reader:
    """Collects every problem so a user fixes a profile in one pass."""

    def __init__(self, data: dict, source: str):
        self.data, self.source, self.errors = data, source, []

    def get(self, section: str, key: str, default: Any = ..., kind: type | tuple = object) -> Any:
        sec = self.data.get(section, {})
        if not isinstance(sec, dict):
            self.errors.append(ConfigError("expected a table", source=self.source, key=section))
            return None if default is ... else default
        if key not in sec:
            if default is ...:
                self.errors.append(ConfigError("missing required key", source=self.source, key=f"{section}.{key}"))
                return None
            return default
        value = sec[key]
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.errors.append(
                ConfigError(
                    f"expected {want}, got {type(value).__name__} {value!r}", source=self.source, key=f"{section}.{key}"
                )
            )
            return None
        return value

    def quantity(self, section: str, key: str, dimension: str, default: Any = ...) -> pint.Quantity | None:
        value = self.get(section, key, default)
        if value is None:
            return None
        try:
            return parse_quantity(value, source=self.source, key=f"{section}.{key}", dimension=dimension)
        except ConfigError as exc:
            self.errors.append(exc)
            return None

    def unit(self, key: str) -> Linear | None:
        text = self.get("units", key, BASE_UNITS[key], str)
        if text is None:
            return None
        try:
            zero = parse_quantity(f"0 {text}", source=self.source, key=f"units.{key}", dimension=DIMENSION[key])
            one = Q_(1.0, zero.units)
        except ConfigError as exc:
            self.errors.append(ConfigError(f"unit {text!r}: {exc}", source=self.source, key=f"units.{key}"))
            return None
        base = BASE_UNITS[key]
        off = float(zero.to(base).magnitude)
        return Linear(scale=float(one.to(base).magnitude) - off, offset=off)


def _columns(r: _Reader, key: str, count_key: str | None = None) -> list[str]:
    value = r.get("columns", key, ..., (list, dict, str))
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):  # {pattern = "Cell{:02d}", count = 16, first = 1}
        pattern, count = value.get("pattern"), value.get("count")
        first = value.get("first", 1)
        if not isinstance(pattern, str) or not isinstance(count, int) or count < 1:
            r.errors.append(
                ConfigError("expected a list of names or {pattern=..., count=N}", source=r.source, key=f"columns.{key}")
            )
            return []
        return [pattern.format(i) for i in range(first, first + count)]
    if not value or not all(isinstance(v, str) and v for v in value):
        r.errors.append(ConfigError("expected a non-empty list of column names", source=r.source, key=f"columns.{key}"))
        return []
    return list(value)


def profile_from_dict(data: dict, *, source: str = "<profile>", **overrides: Any) -> LogProfile:
    """Validate a parsed profile table; raises ConfigErrors listing every problem."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for key, value in overrides.items():
        if value is None:
            continue
        section = "battery" if key in ("nominal_capacity", "nominal_voltage", "chemistry") else "analysis"
        if key == "timezone":
            section = "timestamp"
        data.setdefault(section, {})[key] = value
    r = _Reader(data, source)
    name = r.get("profile", "name", Path(source).stem, str) or "profile"
    delimiter = r.get("file", "delimiter", ",", str) or ","
    if len(delimiter) != 1:
        r.errors.append(
            ConfigError(f"delimiter must be one character, got {delimiter!r}", source=source, key="file.delimiter")
        )
    ts_column = r.get("timestamp", "column", ..., str)
    ts_format = r.get("timestamp", "format", "iso", str) or "iso"
    timezone = r.get("timestamp", "timezone", "", str) or None
    if timezone:
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(timezone)
        except Exception:
            r.errors.append(
                ConfigError(
                    f"unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)",
                    source=source,
                    key="timestamp.timezone",
                )
            )
    pack = r.get("columns", "pack_voltage", ..., str)
    current = r.get("columns", "current", ..., str)
    cells = _columns(r, "cell_voltages")
    temps = _columns(r, "temperatures")
    conversions = {k: r.unit(k) for k in BASE_UNITS}
    sign_text = r.get("sign", "positive_current", "charge", str)
    if sign_text not in ("charge", "discharge", None):
        r.errors.append(
            ConfigError(
                f'expected "charge" or "discharge", got {sign_text!r}', source=source, key="sign.positive_current"
            )
        )
    cap = r.quantity("battery", "nominal_capacity", "charge")
    vnom = r.quantity("battery", "nominal_voltage", "voltage", "0 V")
    vmin = r.quantity("battery", "cell_voltage_min", "voltage")
    vmax = r.quantity("battery", "cell_voltage_max", "voltage")
    if cap is not None and cap.magnitude <= 0:
        r.errors.append(ConfigError(f"must be positive, got {cap:~P}", source=source, key="battery.nominal_capacity"))
    if vmin is not None and vmax is not None and vmin >= vmax:
        r.errors.append(
            ConfigError(
                "cell_voltage_min must be below cell_voltage_max", source=source, key="battery.cell_voltage_min"
            )
        )
    valid: dict[str, tuple[float, float]] = {}
    defaults = {
        "pack_voltage": ["0 V", "1500 V"],
        "current": ["-10000 A", "10000 A"],
        "cell_voltage": ["0 V", "6 V"],
        "temperature": ["-60 degC", "200 degC"],
    }
    for kind, default in defaults.items():
        pair = r.get("valid_range", kind, default, list)
        if pair is None:
            continue
        if len(pair) != 2:
            r.errors.append(ConfigError("expected [low, high]", source=source, key=f"valid_range.{kind}"))
            continue
        try:
            lo = parse_quantity(pair[0], source=source, key=f"valid_range.{kind}[0]", dimension=DIMENSION[kind])
            hi = parse_quantity(pair[1], source=source, key=f"valid_range.{kind}[1]", dimension=DIMENSION[kind])
            valid[kind] = (float(lo.to(BASE_UNITS[kind]).magnitude), float(hi.to(BASE_UNITS[kind]).magnitude))
        except ConfigError as exc:
            r.errors.append(exc)
    interval = r.quantity("quality", "nominal_interval", "time", "15 s")
    gap = r.quantity("quality", "gap_threshold", "time", "120 s")
    stuck = r.quantity("quality", "stuck_duration", "time", "6 h")
    rest = r.quantity("analysis", "rest_current", "current", "0 A")
    spread = r.quantity("analysis", "temperature_spread_limit", "temperature", "5 K")
    crate_bin = r.quantity("analysis", "crate_bin", "dimensionless", 0.02)
    temp_bin = r.quantity("analysis", "temperature_bin", "temperature", "1 K")
    drift_event = r.get("analysis", "drift_event", "charge_centroid", str)
    if drift_event not in ("charge_centroid", "charge_start", None):
        r.errors.append(
            ConfigError(
                f'expected "charge_centroid" or "charge_start", got {drift_event!r}',
                source=source,
                key="analysis.drift_event",
            )
        )
    drift_corr = r.get("analysis", "drift_correction", "auto", str)
    if drift_corr not in ("auto", "always", "never", None):
        r.errors.append(
            ConfigError(
                f'expected "auto", "always" or "never", got {drift_corr!r}',
                source=source,
                key="analysis.drift_correction",
            )
        )
    clusters = r.get("analysis", "pattern_clusters", 4, int)
    series = r.get("battery", "series", len(cells) or 1, int)
    parallel = r.get("battery", "parallel", 1, int)
    chemistry = r.get("battery", "chemistry", "", str) or ""
    named = [c for c in [ts_column, pack, current, *cells, *temps] if c]
    dupes = sorted({c for c in named if named.count(c) > 1})
    if dupes:
        r.errors.append(ConfigError(f"column(s) used twice: {', '.join(dupes)}", source=source, key="columns"))
    if r.errors:
        if len(r.errors) == 1:
            raise r.errors[0]
        raise ConfigErrors(r.errors)
    return LogProfile(
        name=name,
        source=source,
        delimiter=delimiter,
        ts_column=ts_column,
        ts_format=ts_format,
        timezone=timezone,
        pack_voltage=pack,
        current=current,
        cells=cells,
        temperatures=temps,
        conversions=conversions,  # type: ignore[arg-type]
        current_sign=1.0 if sign_text == "charge" else -1.0,
        chemistry=chemistry,
        nominal_capacity=cap.to("A*h"),
        nominal_voltage=vnom.to("V"),
        series=series,
        parallel=parallel,
        cell_window=(vmin.to("V"), vmax.to("V")),
        valid_range=valid,
        nominal_interval=interval,
        gap_threshold=gap,
        stuck_duration=stuck,
        rest_current=rest.to("A"),
        spread_limit=spread.to("K"),
        crate_bin=float(crate_bin.to("").magnitude),
        temperature_bin=float(temp_bin.to("K").magnitude),
        drift_event=drift_event,
        drift_correction=drift_corr,
        pattern_clusters=clusters,
    )
