"""A whole simulated station: one physics plant, one protocol server per station role.

Each driver class names its simulator (`SIMULATOR = "module:serve"`); `serve(plant, role,
clock)` starts a server on 127.0.0.1 (a free port) or the in-process virtual CAN bus, and
returns a handle with `.resource` (what the driver is pointed at) and `.stop()`. The plant is
advanced by the simulated clock, so every reply follows virtual time.

The simulated DUT's own condition (a faded or leaking module of a batch) is station data, not DUT
data: `[simulation.module]` (seed, overrides, faults, description) applies over the station's
preset, overrides and faults. A batch writes one small station file per module that includes the
batch's station and sets this table, so the run's record keeps the DUT's identity apart from
what the simulator was told the module is.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.errors import ConfigError
from bench.station import Station, resolve_driver
from instruments.sim.plant import Plant
from instruments.sim.plant.presets import get_preset

SIM_KEYS = {
    "preset",
    "seed",
    "faults",
    "prompts",
    "max_step",
    "backend",
    "overrides",
    "bms_request",
    "dut_history",
    "module",
}
MODULE_KEYS = {"serial", "description", "seed", "overrides", "faults"}
DUT_SIM_KEYS = ("sim_overrides", "sim_faults", "sim_seed")


class SimulatedStation:
    def __init__(self, station: Station, clock: Any, dut: dict[str, Any] | None = None) -> None:
        self.station = station
        self.clock = clock
        self.dut = dut or {}
        self.plant, self.preset, self.seed = self.build_plant(station.simulation, str(station.path), self.dut)
        self.module_description = str(dict(station.simulation.get("module") or {}).get("description", ""))
        self.servers: dict[str, Any] = {}
        self._listener = lambda t, dt: self.plant.step(dt)

    @classmethod
    def check_config(cls, simulation: dict[str, Any], source: str, roles: dict[str, Any]) -> list[ConfigError]:
        """Load-time check of `[simulation]` (called by the station loader): builds the plant once."""
        try:
            cls.build_plant(simulation, source, {})
        except ConfigError as exc:
            return [exc]
        return []

    @staticmethod
    def build_plant(cfg: dict[str, Any], src: str, dut: dict[str, Any]) -> tuple[Plant, str, int]:
        """The plant a `[simulation]` table (with its simulated module's condition) describes."""
        unknown = sorted(set(cfg) - SIM_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown}; expected some of {sorted(SIM_KEYS)}", source=src, key="simulation"
            )
        name = cfg.get("preset", "lfp_16s5p")
        if not isinstance(name, str):
            raise ConfigError(f"expected a preset name, got {name!r}", source=src, key="simulation.preset")
        try:
            plant_cfg = get_preset(name)
        except ValueError as exc:
            raise ConfigError(str(exc), source=src, key="simulation.preset") from None
        overrides = cfg.get("overrides", {})
        if not isinstance(overrides, dict):
            raise ConfigError("expected a table", source=src, key="simulation.overrides")
        stale = [k for k in DUT_SIM_KEYS if k in dut]
        if stale:
            raise ConfigError(
                f"simulation settings {stale} in the DUT info are not read: a simulated module's "
                "condition goes in the station's [simulation.module] (seed, overrides, faults); "
                "`bench run --dut-list` writes it from the sim_profile/simulation columns",
                source=src,
                key="dut",
            )
        module = _module_condition(cfg.get("module", {}), src)
        plant_cfg = _merge(plant_cfg, overrides)
        plant_cfg = _merge(plant_cfg, module.get("overrides", {}))
        faults = cfg.get("faults", [])
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ConfigError(
                "expected a list of fault tables ({type = ..., ...})", source=src, key="simulation.faults"
            )
        faults = list(faults) + list(module.get("faults", []))
        seed = module.get("seed", cfg.get("seed", 0))
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            key = "simulation.module.seed" if "seed" in module else "simulation.seed"
            raise ConfigError(f"expected a whole number >= 0, got {seed!r}", source=src, key=key)
        try:
            plant = Plant.from_config({**plant_cfg, "faults": faults}, seed=seed)
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"invalid simulation config: {exc}", source=src, key="simulation") from exc
        request = cfg.get("bms_request")
        if request is not None:
            # A DUT whose own controller closes its contactor (no BMS link on this bench).
            try:
                plant.bms.request_state(request)
            except ValueError as exc:
                raise ConfigError(str(exc), source=src, key="simulation.bms_request") from None
        return plant, name, seed

    def start(self) -> dict[str, str]:
        self.clock.add_listener(self._listener)
        resources: dict[str, str] = {}
        # Station roles name the plant's links by their capability (a plan cuts `bms.name`).
        stimuli = self.plant.stimulus_target() if hasattr(self.plant, "stimulus_target") else None
        try:
            for name, role in self.station.roles.items():
                cls = resolve_driver(role.driver)
                if stimuli is not None:
                    stimuli.bind_role(name, getattr(cls, "fixture", None))
                target = getattr(cls, "SIMULATOR", None)
                if not target:
                    raise ConfigError(
                        f"driver {role.driver} has no simulator",
                        source=str(self.station.path),
                        key=f"roles.{name}.driver",
                    )
                module_name, _, fn_name = target.partition(":")
                serve = getattr(importlib.import_module(module_name), fn_name)
                server = serve(self.plant, role, self.clock)
                self.servers[name] = server
                resources[name] = server.resource
        except BaseException:
            self.stop()
            raise
        return resources

    def inject(self, fault: dict[str, Any]) -> None:
        """Inject a fault now (tests and plans proving they catch it)."""
        with self.clock.lock:
            self.plant.inject(fault)

    def server(self, role: str) -> Any:
        return self.servers[role]

    def describe(self) -> str:
        module = f", module condition: {self.module_description}" if self.module_description else ""
        return f"preset {self.preset}, seed {self.seed}{module}, roles " + ", ".join(
            f"{n}={s.resource}" for n, s in self.servers.items()
        )

    def stop(self) -> None:
        for server in self.servers.values():
            try:
                server.stop()
            except Exception:  # stopping the rest matters more than one failure here
                pass
        self.servers.clear()
        self.clock.remove_listener(self._listener)


def _module_condition(table: Any, src: str) -> dict[str, Any]:
    """Check `[simulation.module]`: known keys, a table of overrides and a list of fault tables."""
    if not isinstance(table, dict):
        raise ConfigError(
            "expected a table (seed, overrides, faults, description)", source=src, key="simulation.module"
        )
    unknown = sorted(set(table) - MODULE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown}; expected some of {sorted(MODULE_KEYS)}", source=src, key="simulation.module"
        )
    if not isinstance(table.get("overrides", {}), dict):
        raise ConfigError("expected a table of plant config sections", source=src, key="simulation.module.overrides")
    faults = table.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, dict) and isinstance(f.get("type"), str) for f in faults):
        raise ConfigError(
            "expected a list of fault tables, each with a 'type'", source=src, key="simulation.module.faults"
        )
    return table


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
