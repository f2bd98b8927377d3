"""`[telemetry]`: what high-rate capture records, how fast, and how the anomaly detectors judge it.

The section may sit in a station file (what the bench can capture: which CAN roles, which polled
channels) and in a plan's plan.toml (what the plan wants: rate, channels, detector settings); the
plan's keys override the station's key by key. Everything is parsed and range-checked when the
file loads, non-finite values and unknown keys refused, every problem named by file and key:

    [telemetry]
    rate = "100 Hz"                 # polled channels (0.01 Hz .. 1 kHz)
    flush = "0.5 s"                 # wall-time flush: a kill loses at most this (<= 1 s)
    segment = "1 h"                 # run-time length of one Parquet file (files are also cut per step)
    csv = false                     # the report also writes attachments/telemetry.csv (every sample)
    [telemetry.can]                 # the BMS broadcast at bus rate (default: every subscribable role)
    roles = ["bms_can"]
    messages = ["0x220", "0x233", "0x240", "0x250", "0x260"]    # default: every cyclic message
    [telemetry.channels."psu.voltage"]                           # polled SCPI/Modbus channels
    role = "psu"
    read = "measure_voltage"        # driver method returning a quantity
    unit = "V"
    resolution = "1 mV"             # stored as integers of this step (default by dimension)
    [telemetry.detectors]           # see DetectorSettings
    k = 10
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pint

from bench.errors import ConfigError
from bench.tomlfile import unknown_keys
from bench.units import Q_, parse_quantity

TOP_KEYS = {"enabled", "rate", "flush", "segment", "csv", "levels", "can", "channels", "detectors"}
CAN_KEYS = {"enabled", "roles", "messages"}
CHANNEL_KEYS = {"role", "read", "unit", "resolution", "family", "index", "count", "description"}
MAX_BLOCK = 4096
FAMILIES = ("cell_voltage", "cell_temperature", "pack_current")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,64}$")
# (key, default, dimension, low, high) of the scalar settings
RANGES: dict[str, tuple[str, str, str, str]] = {
    "rate": ("10 Hz", "frequency", "0.01 Hz", "1 kHz"),
    "flush": ("0.5 s", "time", "0.05 s", "1 s"),
    "segment": ("1 h", "time", "10 s", "24 h"),
}
DEFAULT_LEVELS = ("1 s", "10 s", "100 s", "1000 s")
# Quantisation step of a polled channel when the file gives none, by dimension of its unit.
DEFAULT_RESOLUTION = (
    ("[electric_potential]", "0.1 mV"),
    ("[current]", "1 mA"),
    ("[temperature]", "0.01 K"),
    ("[power]", "1 mW"),
    ("[resistance]", "1 uohm"),
    ("[pressure]", "0.1 Pa"),
)
OFFSET_UNITS = {"degree_Celsius": "delta_degC", "degree_Fahrenheit": "delta_degF"}  # absolute -> difference unit


@dataclass(frozen=True)
class DetectorSettings:
    """Robust anomaly detectors on captured cell data (SI floats: V, K, s, A).

    deviation: |x_i - median| > max(k * 1.4826 * MAD, floor) for `persist`;
    rate: |dx_i/dt - median rate| over `*_rate_window` > max(k * 1.4826 * MAD, rate floor) for `*_rate_persist`;
    relaxation: after a pack current step >= `current_step`, each cell's dV/dI at every delay differs from
    the median of its `neighbours` on each side by > max(relaxation_k * 1.4826 * MAD, relaxation_floor / dI).
    """

    enabled: bool = True
    k: float = 10.0
    persist_s: float = 5.0
    voltage_floor_V: float = 0.010
    temperature_floor_K: float = 3.0
    voltage_rate_window_s: float = 2.0
    voltage_rate_floor_V_per_s: float = 0.020
    voltage_rate_persist_s: float = 1.0
    temperature_rate_window_s: float = 30.0
    temperature_rate_floor_K_per_s: float = 3.0 / 60.0
    temperature_rate_persist_s: float = 2.0
    current_step_A: float = 10.0
    relaxation_delays_s: tuple[float, ...] = (2.0, 10.0)
    relaxation_k: float = 8.0
    relaxation_floor_V: float = 0.005
    neighbours: int = 3
    max_age_s: float = 5.0
    rearm_s: float = 60.0

    def describe(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


# detector key -> (attribute, dimension / "number" / "integer", unit of the attribute, low, high)
DETECTOR_KEYS: dict[str, tuple[str, str, str, str, str]] = {
    "k": ("k", "number", "", "2", "1000"),
    "persist": ("persist_s", "time", "s", "0 s", "1 h"),
    "voltage_floor": ("voltage_floor_V", "voltage", "V", "0.1 mV", "5 V"),
    "temperature_floor": ("temperature_floor_K", "temperature", "K", "0.05 K", "100 K"),
    "voltage_rate_window": ("voltage_rate_window_s", "time", "s", "0.1 s", "1 h"),
    "voltage_rate_floor": ("voltage_rate_floor_V_per_s", "[electric_potential]/[time]", "V/s", "0.01 mV/s", "100 V/s"),
    "voltage_rate_persist": ("voltage_rate_persist_s", "time", "s", "0 s", "1 h"),
    "temperature_rate_window": ("temperature_rate_window_s", "time", "s", "1 s", "1 h"),
    "temperature_rate_floor": ("temperature_rate_floor_K_per_s", "temperature_rate", "K/s", "0.01 K/min", "100 K/s"),
    "temperature_rate_persist": ("temperature_rate_persist_s", "time", "s", "0 s", "1 h"),
    "current_step": ("current_step_A", "current", "A", "0.01 A", "10 kA"),
    "relaxation_k": ("relaxation_k", "number", "", "2", "1000"),
    "relaxation_floor": ("relaxation_floor_V", "voltage", "V", "0.1 mV", "5 V"),
    "neighbours": ("neighbours", "integer", "", "1", "64"),
    "max_age": ("max_age_s", "time", "s", "0.1 s", "1 h"),
    "rearm": ("rearm_s", "time", "s", "0 s", "24 h"),
}
DETECTOR_ALL_KEYS = {"enabled", "relaxation_delays", *DETECTOR_KEYS}


@dataclass(frozen=True)
class PolledChannel:
    """A channel read by calling `role`'s driver method `read` at the capture rate. With `count`, the
    method returns that many values at once (a quantity array or a list of quantities: a DAQ scan,
    the cell voltages of a BMS) stored as channels `name[0]`..`name[count-1]` (cells index..index+count-1)."""

    name: str
    role: str
    read: str
    unit: str
    resolution: float  # in `unit`
    family: str = ""
    index: int | None = None
    count: int | None = None

    def names(self) -> list[str]:
        return [self.name] if self.count is None else [f"{self.name}[{i}]" for i in range(self.count)]

    def indices(self) -> list[int | None]:
        if self.count is None:
            return [self.index]
        return [(self.index or 0) + i for i in range(self.count)]


@dataclass(frozen=True)
class CanCapture:
    enabled: bool = True
    roles: tuple[str, ...] | None = None  # None: every role whose driver can subscribe to frames
    messages: tuple[int, ...] | None = None  # None: every cyclic message of the DBC


@dataclass(frozen=True)
class TelemetrySettings:
    enabled: bool = True
    rate_hz: float = 10.0
    flush_s: float = 0.5
    segment_s: float = 3600.0
    csv: bool = False
    levels_s: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    can: CanCapture = field(default_factory=CanCapture)
    channels: tuple[PolledChannel, ...] = ()
    detectors: DetectorSettings = field(default_factory=DetectorSettings)
    sources: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """Plain JSON for the journal event that opens a capture (and the report)."""
        return {
            "rate_hz": self.rate_hz,
            "flush_s": self.flush_s,
            "segment_s": self.segment_s,
            "csv": self.csv,
            "levels_s": list(self.levels_s),
            "can": {
                "enabled": self.can.enabled,
                "roles": None if self.can.roles is None else list(self.can.roles),
                "messages": None if self.can.messages is None else [f"0x{m:03X}" for m in self.can.messages],
            },
            "channels": [
                {
                    "name": c.name,
                    "role": c.role,
                    "read": c.read,
                    "unit": c.unit,
                    "resolution": c.resolution,
                    "family": c.family,
                    "index": c.index,
                }
                for c in self.channels
            ],
            "detectors": self.detectors.describe(),
            "sources": list(self.sources),
        }


def _q(
    value: Any, dimension: str, low: str, high: str, src: str, key: str, errors: list[ConfigError]
) -> pint.Quantity | None:
    try:
        q = parse_quantity(value, source=src, key=key, dimension=dimension)
    except ConfigError as exc:
        errors.append(exc)
        return None
    lo, hi = Q_(low), Q_(high)
    if not lo <= q <= hi:
        errors.append(ConfigError(f"{q:~P} outside {lo:~P}..{hi:~P}", source=src, key=key))
        return None
    return q


def _bool(table: dict[str, Any], key: str, default: bool, src: str, prefix: str, errors: list[ConfigError]) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        errors.append(ConfigError(f"expected true or false, got {value!r}", source=src, key=f"{prefix}.{key}"))
        return default
    return value


def _number(value: Any, kind: str, low: str, high: str, src: str, key: str, errors: list[ConfigError]) -> float | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (kind == "integer" and not isinstance(value, int))
        or not math.isfinite(value)
    ):
        errors.append(
            ConfigError(
                f"expected {'a whole number' if kind == 'integer' else 'a number'}, got {value!r}", source=src, key=key
            )
        )
        return None
    if not float(low) <= float(value) <= float(high):
        errors.append(ConfigError(f"{value!r} outside {low}..{high}", source=src, key=key))
        return None
    return float(value)


def parse_frame_id(value: Any, src: str, key: str, errors: list[ConfigError]) -> int | None:
    """A CAN id as "0x250" or 592 (standard 11-bit ids)."""
    try:
        n = (
            int(value, 0)
            if isinstance(value, str)
            else int(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else None
        )
    except ValueError:
        n = None
    if n is None or not 0 <= n <= 0x7FF:
        errors.append(ConfigError(f'expected a standard CAN id such as "0x250", got {value!r}', source=src, key=key))
        return None
    return n


def _detectors(table: Any, src: str, errors: list[ConfigError]) -> DetectorSettings:
    base = "telemetry.detectors"
    if not isinstance(table, dict):
        errors.append(ConfigError("expected a table", source=src, key=base))
        return DetectorSettings()
    for k in unknown_keys(table, DETECTOR_ALL_KEYS):
        errors.append(
            ConfigError(f"unknown key; expected some of {sorted(DETECTOR_ALL_KEYS)}", source=src, key=f"{base}.{k}")
        )
    values: dict[str, Any] = {"enabled": _bool(table, "enabled", True, src, base, errors)}
    for key, (attr, dim, unit, lo, hi) in DETECTOR_KEYS.items():
        if key not in table:
            continue
        if dim in ("number", "integer"):
            n = _number(table[key], dim, lo, hi, src, f"{base}.{key}", errors)
            if n is not None:
                values[attr] = int(n) if dim == "integer" else n
        else:
            q = _q(table[key], dim, lo, hi, src, f"{base}.{key}", errors)
            if q is not None:
                values[attr] = float(q.to(unit).magnitude)
    if "relaxation_delays" in table:
        raw = table["relaxation_delays"]
        if not isinstance(raw, list) or not raw or len(raw) > 8:
            errors.append(
                ConfigError(
                    'expected a list of 1 to 8 durations such as ["2 s", "10 s"]',
                    source=src,
                    key=f"{base}.relaxation_delays",
                )
            )
        else:
            delays = [
                _q(v, "time", "0.1 s", "1 h", src, f"{base}.relaxation_delays[{i}]", errors) for i, v in enumerate(raw)
            ]
            if all(d is not None for d in delays):
                values["relaxation_delays_s"] = tuple(sorted(float(d.to("s").magnitude) for d in delays if d))
    return DetectorSettings(**values)


def _resolution(text: Any, q_unit: pint.Quantity, src: str, key: str, errors: list[ConfigError]) -> float | None:
    """The quantisation step in the channel's unit (a temperature step is a difference: K or delta_degC)."""
    try:
        r = parse_quantity(text, source=src, key=key, dimension=q_unit)
    except ConfigError as exc:
        errors.append(exc)
        return None
    if q_unit.check("[temperature]"):
        if _unit_name(r) in OFFSET_UNITS:  # an absolute degC/degF is a temperature, not a step
            errors.append(
                ConfigError(f"write a temperature step in K or delta_degC, got {text!r}", source=src, key=key)
            )
            return None
        step_K = float(r.to("K").magnitude)
        unit_K = float(Q_(1.0, "K").to(_delta(q_unit)).magnitude)
        value = step_K * unit_K
    else:
        value = float(r.to(q_unit.units).magnitude)
    if not value > 0:
        errors.append(ConfigError(f"resolution must be positive, got {text!r}", source=src, key=key))
        return None
    return value


def _unit_name(q: pint.Quantity) -> str:
    return format(q.units, "D")


def _delta(q_unit: pint.Quantity) -> str:
    """The difference unit of a temperature unit (degC -> delta_degC)."""
    name = _unit_name(q_unit)
    return OFFSET_UNITS.get(name, name)


def _channels(table: Any, src: str, errors: list[ConfigError]) -> tuple[PolledChannel, ...]:
    if not isinstance(table, dict):
        errors.append(ConfigError('expected tables [telemetry.channels."name"]', source=src, key="telemetry.channels"))
        return ()
    out = []
    for name, spec in table.items():
        key = f"telemetry.channels.{name}"
        if not CHANNEL_NAME.match(str(name)):
            errors.append(
                ConfigError("channel names are 1-64 characters of letters, digits and ._-[]", source=src, key=key)
            )
        if not isinstance(spec, dict):
            errors.append(ConfigError("expected a table with role, read, unit", source=src, key=key))
            continue
        for k in unknown_keys(spec, CHANNEL_KEYS):
            errors.append(
                ConfigError(f"unknown key; expected some of {sorted(CHANNEL_KEYS)}", source=src, key=f"{key}.{k}")
            )
        role, read, unit = spec.get("role"), spec.get("read"), spec.get("unit")
        ok = True
        for k, v in (("role", role), ("read", read)):
            if not isinstance(v, str) or not IDENT.match(v):
                errors.append(
                    ConfigError(
                        f"expected an identifier (a station role / driver method), got {v!r}",
                        source=src,
                        key=f"{key}.{k}",
                    )
                )
                ok = False
        try:
            q_unit = Q_(1.0, str(unit)) if isinstance(unit, str) and unit.strip() else None
        except Exception:  # noqa: BLE001 - pint raises several types for unknown units
            q_unit = None
        if q_unit is None:
            errors.append(ConfigError(f'expected a unit such as "V", got {unit!r}', source=src, key=f"{key}.unit"))
            continue
        default = next((text for dim, text in DEFAULT_RESOLUTION if q_unit.check(dim)), None)
        res_text = spec.get("resolution", default)
        resolution = None
        if res_text is None:
            errors.append(
                ConfigError(
                    f'no default resolution for unit {unit!r}; give resolution = "..."',
                    source=src,
                    key=f"{key}.resolution",
                )
            )
        else:
            resolution = _resolution(res_text, q_unit, src, f"{key}.resolution", errors)
        family = spec.get("family", "")
        if family and family not in FAMILIES:
            errors.append(
                ConfigError(f"expected one of {list(FAMILIES)}, got {family!r}", source=src, key=f"{key}.family")
            )
        index = spec.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 4096):
            errors.append(ConfigError(f"expected a cell index 0..4095, got {index!r}", source=src, key=f"{key}.index"))
            index = None
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BLOCK):
            errors.append(
                ConfigError(
                    f"expected a number of values 1..{MAX_BLOCK}, got {count!r}", source=src, key=f"{key}.count"
                )
            )
            count = None
        if family in ("cell_voltage", "cell_temperature") and index is None and count is None:
            errors.append(
                ConfigError(
                    f"family {family!r} needs index = <cell number> (or count = <cells>)",
                    source=src,
                    key=f"{key}.index",
                )
            )
        if ok and resolution is not None:
            out.append(PolledChannel(str(name), str(role), str(read), str(unit), resolution, str(family), index, count))
    return tuple(out)


def parse_telemetry(table: Any, src: str, errors: list[ConfigError]) -> TelemetrySettings | None:
    """The settings of one `[telemetry]` table (None when absent), problems appended to `errors`."""
    if table is None:
        return None
    if not isinstance(table, dict):
        errors.append(ConfigError("expected a table", source=src, key="telemetry"))
        return None
    for k in unknown_keys(table, TOP_KEYS):
        errors.append(
            ConfigError(f"unknown key; expected some of {sorted(TOP_KEYS)}", source=src, key=f"telemetry.{k}")
        )
    values: dict[str, Any] = {
        "enabled": _bool(table, "enabled", True, src, "telemetry", errors),
        "csv": _bool(table, "csv", False, src, "telemetry", errors),
        "sources": (src,),
    }
    for key, (default, dim, lo, hi) in RANGES.items():
        q = _q(table.get(key, default), dim, lo, hi, src, f"telemetry.{key}", errors)
        if q is not None:
            values[{"rate": "rate_hz", "flush": "flush_s", "segment": "segment_s"}[key]] = float(
                q.to("Hz" if key == "rate" else "s").magnitude
            )
    if "levels" in table:
        raw = table["levels"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= 8:
            errors.append(
                ConfigError(
                    'expected a list of 1 to 8 bucket lengths such as ["1 s", "10 s"]',
                    source=src,
                    key="telemetry.levels",
                )
            )
        else:
            levels = [_q(v, "time", "1 ms", "1 d", src, f"telemetry.levels[{i}]", errors) for i, v in enumerate(raw)]
            if all(q is not None for q in levels):
                secs = sorted({round(float(q.to("s").magnitude), 6) for q in levels if q is not None})
                if any(b % a > 1e-9 and b / a % 1 > 1e-9 for a, b in zip(secs, secs[1:], strict=False)):
                    errors.append(
                        ConfigError(
                            "each level must be a whole multiple of the one below it",
                            source=src,
                            key="telemetry.levels",
                        )
                    )
                values["levels_s"] = tuple(secs)
    can = table.get("can", {})
    if isinstance(can, bool):
        values["can"] = CanCapture(enabled=can)
    elif not isinstance(can, dict):
        errors.append(ConfigError("expected a table (roles, messages) or true/false", source=src, key="telemetry.can"))
    else:
        for k in unknown_keys(can, CAN_KEYS):
            errors.append(
                ConfigError(f"unknown key; expected some of {sorted(CAN_KEYS)}", source=src, key=f"telemetry.can.{k}")
            )
        roles = can.get("roles")
        if roles is not None and (not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)):
            errors.append(ConfigError("expected a list of role names", source=src, key="telemetry.can.roles"))
            roles = None
        messages = can.get("messages")
        ids: list[int] | None = None
        if messages is not None:
            if not isinstance(messages, list) or not messages:
                errors.append(
                    ConfigError(
                        'expected a list of CAN ids such as ["0x233", "0x250"]',
                        source=src,
                        key="telemetry.can.messages",
                    )
                )
            else:
                parsed = [
                    parse_frame_id(m, src, f"telemetry.can.messages[{i}]", errors) for i, m in enumerate(messages)
                ]
                ids = [m for m in parsed if m is not None]
        values["can"] = CanCapture(
            enabled=_bool(can, "enabled", True, src, "telemetry.can", errors),
            roles=None if roles is None else tuple(roles),
            messages=None if ids is None else tuple(ids),
        )
    values["channels"] = _channels(table.get("channels", {}), src, errors)
    values["detectors"] = _detectors(table.get("detectors", {}), src, errors)
    return TelemetrySettings(**values)


def merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The plan's `[telemetry]` over the station's, key by key (tables merged, other values replaced)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            merge_tables(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def check_roles(
    settings: TelemetrySettings, roles: dict[str, Any], src: str, *, check_drivers: bool = True
) -> list[ConfigError]:
    """Roles named by `[telemetry]` exist, and polled methods exist on their drivers (load time)."""
    from bench.station import resolve_driver

    errors = []
    for r in settings.can.roles or ():
        if r not in roles:
            errors.append(
                ConfigError(
                    f"role {r!r} is not a role of this station (roles: {', '.join(sorted(roles))})",
                    source=src,
                    key="telemetry.can.roles",
                )
            )
        elif check_drivers:
            cls = _driver_class(roles[r], resolve_driver)
            if cls is not None and not callable(getattr(cls, "subscribe_frames", None)):
                errors.append(
                    ConfigError(
                        f"driver {roles[r].driver} of role {r!r} offers no frame subscription (subscribe_frames)",
                        source=src,
                        key="telemetry.can.roles",
                    )
                )
    for ch in settings.channels:
        key = f"telemetry.channels.{ch.name}"
        if ch.role not in roles:
            errors.append(
                ConfigError(
                    f"role {ch.role!r} is not a role of this station (roles: {', '.join(sorted(roles))})",
                    source=src,
                    key=f"{key}.role",
                )
            )
            continue
        if check_drivers:
            cls = _driver_class(roles[ch.role], resolve_driver)
            if cls is not None and not callable(getattr(cls, ch.read, None)):
                errors.append(
                    ConfigError(
                        f"driver {roles[ch.role].driver} has no method {ch.read!r}", source=src, key=f"{key}.read"
                    )
                )
    return errors


def _driver_class(role: Any, resolve: Any) -> type | None:
    try:
        return resolve(role.driver)
    except Exception:  # noqa: BLE001 - an unloadable driver is reported by the station loader itself
        return None
