"""A whole simulated station: one physics plant, one protocol server per station role.

Each driver class names its simulator (`SIMULATOR = "module:serve"`); `serve(plant, role,
clock)` starts a server on 127.0.0.1 (a free port) or the in-process virtual CAN bus, and
returns a handle with `.resource` (what the driver is pointed at) and `.stop()`. The plant is
advanced by the simulated clock, so every reply follows virtual time.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.errors import ConfigError
from bench.station import Station, resolve_driver
from instruments.sim.plant import Plant
from instruments.sim.plant.presets import get_preset

SIM_KEYS = {"preset", "seed", "faults", "prompts", "max_step", "backend", "overrides", "bms_request", "dut_history"}


class SimulatedStation:
    def __init__(self, station: Station, clock: Any, dut: dict[str, Any] | None = None) -> None:
        self.station = station
        self.clock = clock
        self.dut = dut or {}
        self.plant, self.preset, self.seed = self.build_plant(station.simulation, str(station.path), self.dut)
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
        """The plant a `[simulation]` table (plus a DUT's own simulated condition) describes."""
        unknown = sorted(set(cfg) - SIM_KEYS)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; expected some of {sorted(SIM_KEYS)}", source=src,
                              key="simulation")
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
        plant_cfg = _merge(plant_cfg, overrides)
        # A DUT may carry its own simulated condition (batch runs of seeded modules).
        plant_cfg = _merge(plant_cfg, dut.get("sim_overrides", {}))
        faults = cfg.get("faults", [])
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ConfigError("expected a list of fault tables ({type = ..., ...})", source=src,
                              key="simulation.faults")
        faults = list(faults) + list(dut.get("sim_faults", []))
        seed = dut.get("sim_seed", cfg.get("seed", 0))
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"expected a whole number >= 0, got {seed!r}", source=src, key="simulation.seed")
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
                    raise ConfigError(f"driver {role.driver} has no simulator", source=str(self.station.path),
                                      key=f"roles.{name}.driver")
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
        return f"preset {self.preset}, seed {self.seed}, roles " + ", ".join(
            f"{n}={s.resource}" for n, s in self.servers.items())

    def stop(self) -> None:
        for server in self.servers.values():
            try:
                server.stop()
            except Exception:  # stopping the rest matters more than one failure here
                pass
        self.servers.clear()
        self.clock.remove_listener(self._listener)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
