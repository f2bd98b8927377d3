"""The station's `[safety]` table, parsed and range-checked once, with built-in conservative defaults.

The safe state must never depend on parsing configuration when an interlock trips: a value
like `safe_state_action_timeout = "abc"` used to surface only then, and the safe state was not
driven at all. So the table is parsed at load time (a bad value is a load-time error naming the
file and key), and the session holds the parsed settings. Independently, `resolve()` never
raises: where a value is unusable it takes the built-in default and says so, so the session can
journal the fallback and still drive the safe state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from bench.declarations import ValueSpec
from bench.errors import ConfigError
from bench.units import Q_

# key -> (attribute, spec, built-in default). Durations are stored in seconds.
SPECS: dict[str, tuple[str, ValueSpec, Any]] = {
    "safe_state_retries": ("safe_state_retries", ValueSpec(type="integer", low=1, high=20), 3),
    "safe_state_retry_delay": (
        "safe_state_retry_delay_s",
        ValueSpec(dimension="time", low=Q_(0, "s"), high=Q_(60, "s")),
        0.2,
    ),
    "safe_state_action_timeout": (
        "safe_state_action_timeout_s",
        ValueSpec(dimension="time", low=Q_(0.1, "s"), high=Q_(10, "min")),
        10.0,
    ),
    "teardown_timeout": ("teardown_timeout_s", ValueSpec(dimension="time", low=Q_(1, "s"), high=Q_(1, "h")), 60.0),
    "step_timeout": ("step_timeout_s", ValueSpec(dimension="time", low=Q_(1, "s"), high=Q_(60, "day")), None),
    "step_wall_timeout": ("step_wall_timeout_s", ValueSpec(dimension="time", low=Q_(1, "s"), high=Q_(60, "day")), None),
    "bms_contactor_open_on_abort": ("bms_contactor_open_on_abort", ValueSpec(type="bool"), True),
    "trust_file": ("trust_file", ValueSpec(type="text"), None),
}


@dataclass(frozen=True)
class SafetySettings:
    """Parsed `[safety]` values (seconds for durations); the defaults are the built-in conservative ones."""

    safe_state_retries: int = 3
    safe_state_retry_delay_s: float = 0.2
    safe_state_action_timeout_s: float = 10.0
    teardown_timeout_s: float = 60.0
    step_timeout_s: float | None = None
    step_wall_timeout_s: float | None = None
    bms_contactor_open_on_abort: bool = True
    trust_file: str | None = None
    fallbacks: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fallbacks"}


def _value(key: str, raw: Any, source: str) -> Any:
    _attr, spec, _default = SPECS[key]
    v = spec.check(raw, source=source, key=f"safety.{key}")
    return float(v.to("s").magnitude) if spec.type == "quantity" else v


def parse_safety(table: Any, source: str) -> tuple[SafetySettings, list[ConfigError]]:
    """Strict parse for load time: (settings, every problem found). Unknown keys are errors."""
    if not isinstance(table, dict):
        return SafetySettings(), [ConfigError("expected a table", source=source, key="safety")]
    errors: list[ConfigError] = []
    values: dict[str, Any] = {}
    for key in sorted(table):
        if key not in SPECS:
            errors.append(
                ConfigError(f"unknown key; expected some of {sorted(SPECS)}", source=source, key=f"safety.{key}")
            )
            continue
        try:
            values[SPECS[key][0]] = _value(key, table[key], source)
        except ConfigError as exc:
            errors.append(exc)
    return SafetySettings(**values), errors


def resolve(table: Any, source: str) -> SafetySettings:
    """Never raises: every unusable value takes its built-in default, listed in `fallbacks`."""
    values: dict[str, Any] = {}
    fallbacks: list[str] = []
    items = table.items() if isinstance(table, dict) else []
    for key, raw in items:
        if key not in SPECS:
            fallbacks.append(f"safety.{key}: unknown key ignored")
            continue
        try:
            values[SPECS[key][0]] = _value(key, raw, source)
        except Exception as exc:  # noqa: BLE001 - a bad value must never stop the safe state
            fallbacks.append(f"safety.{key} = {raw!r} unusable ({exc}); built-in default {SPECS[key][2]!r} used")
    if not isinstance(table, dict) and table is not None:
        fallbacks.append(f"[safety] is not a table ({type(table).__name__}); built-in defaults used")
    return SafetySettings(**values, fallbacks=tuple(fallbacks))
