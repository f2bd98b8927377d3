"""Station files: which role is which instrument, at which address, with which calibration.

A role binds a driver class (dotted path "module:Class") to a resource (VISA string,
"host:port", CAN channel) or to "sim", which starts the simulated instrument on a free loopback
port and points the same driver at it. A station may `include` base files so near-identical
benches share one file; the including file wins key by key. Loading validates everything and
reports every problem at once, by file and key.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, ConfigErrors
from bench.fleet.config import FleetConfig, parse_fleet_table
from bench.safety.settings import SafetySettings, parse_safety
from bench.telemetry.config import TelemetrySettings, check_roles, parse_telemetry
from bench.tomlfile import read_toml, sha256_hex, unknown_keys
from bench.units import Q_, non_finite_errors, parse_quantity

STATION_KEYS = {"name", "mode", "site", "location", "include", "description", "operator_default"}
ROLE_KEYS = {
    "driver",
    "resource",
    "timeout",
    "make",
    "model",
    "serial",
    "firmware",
    "calibration",
    "options",
    "safe_state",
    "description",
}
CAL_KEYS = {"certificate", "due", "lab", "date", "uncertainty"}
TOP_KEYS = {"station", "roles", "simulation", "interlocks", "dut", "safety", "telemetry", "fleet"}
MODES = {"development", "production"}
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
OPERATOR = "operator"  # a role acted by a person (prompts), allowed beside simulated roles
DEFAULT_SIM_BACKEND = "instruments.sim.station:SimulatedStation"
# [simulation] keys the bench itself reads; the backend checks the rest (its `check_config`).
BENCH_SIM_KEYS = {"max_step", "backend", "prompts"}
TIMEOUT_RANGE = (Q_(1, "ms"), Q_(10, "min"))
MAX_STEP_RANGE = (Q_(1, "ms"), Q_(10, "min"))  # the plant sub-steps inside; this paces listeners and periodics


@dataclass(frozen=True)
class Calibration:
    certificate: str
    due: dt.date
    lab: str = ""
    date: dt.date | None = None

    def status_on(self, day: dt.date) -> str:
        from bench.calibration import calibration_status

        return calibration_status(self.due, day)


@dataclass
class RoleConfig:
    """One instrument of the station, as declared."""

    role: str
    driver: str
    resource: str
    timeout: Any
    make: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    calibration: Calibration | None = None
    options: dict[str, Any] = field(default_factory=dict)
    safe_state: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def simulated(self) -> bool:
        return self.resource == "sim"

    @property
    def operator(self) -> bool:
        """Acted by a person through prompts (e.g. the hardware stimulus backend)."""
        return self.resource == OPERATOR

    def identity(self) -> dict[str, Any]:
        cal = self.calibration
        return {
            "role": self.role,
            "driver": self.driver,
            "resource": self.resource,
            "make": self.make,
            "model": self.model,
            "serial": self.serial,
            "firmware": self.firmware,
            "calibration": None
            if cal is None
            else {"certificate": cal.certificate, "due": cal.due.isoformat(), "lab": cal.lab},
        }


@dataclass
class Station:
    name: str
    mode: str
    path: Path
    roles: dict[str, RoleConfig]
    site: str = ""
    location: str = ""
    simulation: dict[str, Any] = field(default_factory=dict)
    interlocks: dict[str, Any] = field(default_factory=dict)
    safety: dict[str, Any] = field(default_factory=dict)
    dut: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    sha256: str = ""
    safety_settings: SafetySettings = field(default_factory=SafetySettings)
    max_step_s: float = 1.0
    telemetry: dict[str, Any] = field(default_factory=dict)  # the [telemetry] table as written (plans merge over it)
    telemetry_settings: TelemetrySettings | None = None  # parsed; None: no high-rate capture
    fleet: FleetConfig | None = None  # [fleet]: where and how this station synchronises (bench/fleet/config.py)

    @property
    def simulated(self) -> bool:
        return any(r.simulated for r in self.roles.values())

    @property
    def production(self) -> bool:
        return self.mode == "production"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "site": self.site,
            "location": self.location,
            "files": self.sources,
            "sha256": self.sha256,
            "simulated": self.simulated,
            "roles": {name: r.identity() for name, r in self.roles.items()},
        }


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_with_includes(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[str], bytes]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"include cycle: {chain}", source=str(path), key="station.include")
    data, raw = read_toml(path)
    includes = data.get("station", {}).get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError("expected a file name or a list of file names", source=str(path), key="station.include")
    merged: dict[str, Any] = {}
    sources: list[str] = []
    blob = b""
    for inc in includes:
        inc_path = path.parent / inc
        if not inc_path.exists():
            raise ConfigError(
                f"included file {inc!r} not found (looked at {inc_path})", source=str(path), key="station.include"
            )
        sub, sub_sources, sub_raw = _load_with_includes(inc_path, (*seen, path))
        merged = _deep_merge(merged, sub)
        sources += sub_sources
        blob += sub_raw
    merged = _deep_merge(merged, data)
    sources.append(str(path))
    return merged, sources, blob + raw


def _date(value: Any, source: str, key: str, errors: list[ConfigError]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    errors.append(ConfigError(f"expected a date such as 2027-05-31, got {value!r}", source=source, key=key))
    return None


def _check_driver(path_text: str, source: str, key: str, errors: list[ConfigError]) -> None:
    if not isinstance(path_text, str) or ":" not in path_text:
        errors.append(ConfigError(f"expected 'package.module:ClassName', got {path_text!r}", source=source, key=key))
        return
    module_name, _, cls_name = path_text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        errors.append(ConfigError(f"cannot import driver module {module_name!r}: {exc}", source=source, key=key))
        return
    if not hasattr(module, cls_name):
        errors.append(ConfigError(f"module {module_name!r} has no class {cls_name!r}", source=source, key=key))


def resolve_driver(path_text: str) -> type:
    module_name, _, cls_name = path_text.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def load_station(path: str | Path, *, check_drivers: bool = True) -> Station:
    """Load and validate a station file; raise ConfigErrors listing every problem."""
    p = Path(path)
    data, sources, blob = _load_with_includes(p)
    src = str(p)
    errors: list[ConfigError] = []
    for key in unknown_keys(data, TOP_KEYS):
        errors.append(ConfigError(f"unknown section; expected one of {sorted(TOP_KEYS)}", source=src, key=key))
    st = data.get("station")
    if not isinstance(st, dict):
        errors.append(ConfigError("missing [station] table with at least 'name'", source=src, key="station"))
        st = {}
    for key in unknown_keys(st, STATION_KEYS):
        errors.append(
            ConfigError(f"unknown key; expected one of {sorted(STATION_KEYS)}", source=src, key=f"station.{key}")
        )
    name = st.get("name")
    if not isinstance(name, str) or not name:
        errors.append(ConfigError("expected a non-empty station name", source=src, key="station.name"))
    mode = st.get("mode", "development")
    if not isinstance(mode, str) or mode not in MODES:
        errors.append(ConfigError(f"expected one of {sorted(MODES)}, got {mode!r}", source=src, key="station.mode"))
    roles_raw = data.get("roles", {})
    if not isinstance(roles_raw, dict) or not roles_raw:
        errors.append(ConfigError("expected at least one [roles.<name>] table", source=src, key="roles"))
        roles_raw = {}
    roles: dict[str, RoleConfig] = {}
    for role, table in roles_raw.items():
        base = f"roles.{role}"
        if not ROLE_NAME.match(role):
            errors.append(ConfigError("role names are lower-case identifiers (psu, load, dmm2)", source=src, key=base))
        if not isinstance(table, dict):
            errors.append(ConfigError("expected a table", source=src, key=base))
            continue
        for key in unknown_keys(table, ROLE_KEYS):
            errors.append(
                ConfigError(f"unknown key; expected one of {sorted(ROLE_KEYS)}", source=src, key=f"{base}.{key}")
            )
        driver = table.get("driver")
        if driver is None:
            errors.append(ConfigError("missing driver ('package.module:ClassName')", source=src, key=f"{base}.driver"))
        elif check_drivers:
            _check_driver(driver, src, f"{base}.driver", errors)
        resource = table.get("resource")
        if not isinstance(resource, str) or not resource:
            errors.append(
                ConfigError(
                    'missing resource (VISA string, host:port, CAN channel, or "sim")',
                    source=src,
                    key=f"{base}.resource",
                )
            )
            resource = ""
        timeout = None
        try:
            timeout = parse_quantity(table.get("timeout", "2 s"), source=src, key=f"{base}.timeout", dimension="time")
            if not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]:
                errors.append(
                    ConfigError(
                        f"{timeout:~P} outside {TIMEOUT_RANGE[0]:~P}..{TIMEOUT_RANGE[1]:~P}",
                        source=src,
                        key=f"{base}.timeout",
                    )
                )
        except ConfigError as exc:
            errors.append(exc)
        cal = None
        cal_raw = table.get("calibration")
        if cal_raw is not None:
            if not isinstance(cal_raw, dict):
                errors.append(
                    ConfigError("expected a table with certificate and due", source=src, key=f"{base}.calibration")
                )
            else:
                for key in unknown_keys(cal_raw, CAL_KEYS):
                    errors.append(
                        ConfigError(
                            f"unknown key; expected one of {sorted(CAL_KEYS)}",
                            source=src,
                            key=f"{base}.calibration.{key}",
                        )
                    )
                cert = cal_raw.get("certificate")
                if not isinstance(cert, str) or not cert:
                    errors.append(
                        ConfigError(
                            "missing calibration certificate id", source=src, key=f"{base}.calibration.certificate"
                        )
                    )
                due = _date(cal_raw.get("due"), src, f"{base}.calibration.due", errors)
                cal_date = None
                if "date" in cal_raw:
                    cal_date = _date(cal_raw["date"], src, f"{base}.calibration.date", errors)
                if isinstance(cert, str) and due is not None:
                    cal = Calibration(cert, due, str(cal_raw.get("lab", "")), cal_date)
        for key in ("make", "model", "serial", "firmware"):
            if key in table and not isinstance(table[key], str):
                errors.append(ConfigError("expected text", source=src, key=f"{base}.{key}"))
        options = table.get("options", {})
        if not isinstance(options, dict):
            errors.append(ConfigError("expected a table", source=src, key=f"{base}.options"))
            options = {}
        errors += non_finite_errors(options, src, f"{base}.options")
        safe_state = table.get("safe_state", {})
        if not isinstance(safe_state, dict):
            errors.append(ConfigError("expected a table", source=src, key=f"{base}.safe_state"))
            safe_state = {}
        roles[role] = RoleConfig(
            role=role,
            driver=driver or "",
            resource=resource,
            timeout=timeout,
            make=str(table.get("make", "")),
            model=str(table.get("model", "")),
            serial=str(table.get("serial", "")),
            firmware=str(table.get("firmware", "")),
            calibration=cal,
            options=options,
            safe_state=dict(safe_state),
            source=src,
        )
    sim_roles = [r for r in roles.values() if r.simulated]
    if sim_roles and len(sim_roles) != len([r for r in roles.values() if not r.operator]):
        real = sorted(r.role for r in roles.values() if not r.simulated and not r.operator)
        errors.append(
            ConfigError(
                f"station mixes simulated and real roles (real: {', '.join(real)}); virtual time cannot drive "
                'real instruments: make every role "sim" or none',
                source=src,
                key="roles",
            )
        )
    if mode == "production" and sim_roles:
        errors.append(
            ConfigError("a production station cannot use simulated instruments", source=src, key="station.mode")
        )
    if mode == "production":
        for r in roles.values():
            if r.calibration is None and not r.operator:  # a person is not a calibrated instrument
                errors.append(
                    ConfigError(
                        "production mode needs a calibration record for every instrument",
                        source=src,
                        key=f"roles.{r.role}.calibration",
                    )
                )
    simulation = data.get("simulation", {})
    if not isinstance(simulation, dict):
        errors.append(ConfigError("expected a table", source=src, key="simulation"))
        simulation = {}
    errors += non_finite_errors(simulation, src, "simulation")
    max_step_s = 1.0
    if "max_step" in simulation:
        try:
            ms = parse_quantity(simulation["max_step"], source=src, key="simulation.max_step", dimension="time")
            if not MAX_STEP_RANGE[0] <= ms <= MAX_STEP_RANGE[1]:
                raise ConfigError(
                    f"{ms:~P} outside {MAX_STEP_RANGE[0]:~P}..{MAX_STEP_RANGE[1]:~P}",
                    source=src,
                    key="simulation.max_step",
                )
            max_step_s = float(ms.to("s").magnitude)
        except ConfigError as exc:
            errors.append(exc)
    prompts = simulation.get("prompts", {})
    if not isinstance(prompts, dict):
        errors.append(ConfigError("expected a table of prepared answers", source=src, key="simulation.prompts"))
    safety, safety_errors = parse_safety(data.get("safety", {}), src)
    errors += safety_errors
    interlocks = data.get("interlocks", {})
    if not isinstance(interlocks, dict):
        errors.append(ConfigError("expected a table", source=src, key="interlocks"))
        interlocks = {}
    elif interlocks:
        from bench.safety.interlocks import merge_config

        try:
            merge_config([(src, interlocks)])
        except ConfigError as exc:
            errors.append(exc)
    dut = data.get("dut", {})
    if not isinstance(dut, dict):
        errors.append(ConfigError("expected a table", source=src, key="dut"))
        dut = {}
    errors += non_finite_errors(dut, src, "dut")
    telemetry_raw = data.get("telemetry")
    telemetry = parse_telemetry(telemetry_raw, src, errors)
    if telemetry is not None:
        errors += check_roles(telemetry, roles, src, check_drivers=check_drivers)
    fleet, fleet_errors = parse_fleet_table(data.get("fleet"), source=src, station_name=name or "", base=p.parent)
    errors += fleet_errors
    if mode == "production" and not safety.trust_file:
        errors.append(
            ConfigError(
                'production mode needs [safety] trust_file = "..." to check limit-set signatures',
                source=src,
                key="safety.trust_file",
            )
        )
    if sim_roles and check_drivers and not errors:
        errors += _check_simulation(simulation, src, roles)
    if errors:
        raise ConfigErrors(errors)
    return Station(
        name=name,
        mode=mode,
        path=p,
        roles=roles,
        site=str(st.get("site", "")),
        location=str(st.get("location", "")),
        simulation=dict(simulation),
        interlocks=dict(interlocks),
        safety=dict(data.get("safety", {})),
        dut=dict(dut),
        sources=sources,
        sha256=sha256_hex(blob),
        safety_settings=safety,
        max_step_s=max_step_s,
        fleet=fleet,
        telemetry=dict(telemetry_raw) if isinstance(telemetry_raw, dict) else {},
        telemetry_settings=telemetry,
    )


def _check_simulation(simulation: dict[str, Any], src: str, roles: dict[str, RoleConfig]) -> list[ConfigError]:
    """The simulation backend checks its own keys (faults, presets, ...) at load time."""
    backend_path = simulation.get("backend", DEFAULT_SIM_BACKEND)
    errs: list[ConfigError] = []
    _check_driver(backend_path, src, "simulation.backend", errs)
    if errs:
        return errs
    backend = resolve_driver(backend_path)
    check = getattr(backend, "check_config", None)
    if check is None:
        return []
    try:
        return list(check(simulation, src, roles) or [])
    except ConfigErrors as exc:
        return list(exc.errors)
    except ConfigError as exc:
        return [exc]
