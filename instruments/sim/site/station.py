"""The simulated site as a station backend: `[simulation] backend = "instruments.sim.site.station:SimulatedSite"`.

It builds one `SitePlant` from the station's `[simulation.site]` table (any key of
instruments/sim/site/config.py) and `[simulation] faults`, advances it on the bench clock, and
starts each role's simulator named by its driver (`SIMULATOR = "module:serve"`, called as
`serve(plant, role, clock)` like every simulated instrument), on 127.0.0.1 at a free port.
`[simulation] ledger = "path.json"` writes the plant's own energy accounting when it stops
(tests compare a plan's energies with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.station import Station
from instruments.sim.site.modbus_tcp import SiteModbusServer
from instruments.sim.site.plant import SitePlant
from instruments.sim.site.site_sunspec import MeterSunSpec, SiteSunSpec
from instruments.sim.station import SimulatedStation

SIM_KEYS = {"backend", "seed", "max_step", "site", "faults", "ledger", "prompts"}


class SimulatedSite(SimulatedStation):
    """Same life as the battery station (roles served by their drivers' simulators, plant on the
    clock, inject, stop); only the plant differs.

    Resume (`bench run --resume RUN_ID`): each session builds the plant afresh from the station's
    configuration and seed (SoC, temperatures and fault timers at their initial values; the run's
    clock continues). The plan never carries simulator state across sessions: each step brings the
    site to its own starting state from what it reads over SunSpec (site_ops.prepare / go_to_soc)."""

    def __init__(self, station: Station, clock: Any, dut: dict[str, Any] | None = None) -> None:
        self.station = station
        self.clock = clock
        self.dut = dut or {}
        src = str(station.path)
        self.plant, self.preset, self.seed = self.build_plant(station.simulation, src, self.dut)
        ledger = station.simulation.get("ledger")
        self.ledger_path = None if not ledger else (Path(src).parent / str(ledger))
        self.servers: dict[str, Any] = {}
        self._listener = lambda t, dt: self.plant.step(dt)

    @classmethod
    def check_config(cls, simulation: dict[str, Any], source: str, roles: dict[str, Any]) -> list[ConfigError]:
        """Load-time check of `[simulation]` for a site (called by the station loader): builds the plant once."""
        try:
            cls.build_plant(simulation, source, {})
        except ConfigError as exc:
            return [exc]
        return []

    @staticmethod
    def build_plant(cfg: dict[str, Any], src: str, dut: dict[str, Any]) -> tuple[SitePlant, str, int]:
        unknown = sorted(set(cfg) - SIM_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown}; expected some of {sorted(SIM_KEYS)}", source=src, key="simulation"
            )
        site = cfg.get("site", {}) or {}
        faults = cfg.get("faults", []) or []
        if not isinstance(site, dict):
            raise ConfigError("expected a table", source=src, key="simulation.site")
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ConfigError(
                "expected a list of fault tables ({type = ..., ...})", source=src, key="simulation.faults"
            )
        ledger = cfg.get("ledger")
        if ledger is not None and (not isinstance(ledger, str) or not ledger):
            raise ConfigError("expected a file name", source=src, key="simulation.ledger")
        site = dict(site)
        faults = list(faults) + list(dut.get("sim_faults", []) or [])
        if faults:
            site["faults"] = list(site.get("faults", [])) + faults
        seed = cfg.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"expected a whole number >= 0, got {seed!r}", source=src, key="simulation.seed")
        try:
            plant = SitePlant(site, seed=seed)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"invalid simulated site: {exc}", source=src, key="simulation.site") from None
        return plant, str(plant.config["name"]), seed

    def describe(self) -> str:
        b = self.plant.config["blocks"]
        return (
            f"site {self.preset} ({b['count']} blocks, {self.plant.pcs.rated_W / 1e3:g} kW PCS), "
            f"seed {self.seed}, roles " + ", ".join(f"{n}={s.resource}" for n, s in self.servers.items())
        )

    def stop(self) -> None:
        super().stop()
        if self.ledger_path is not None:
            self.plant.write_ledger(self.ledger_path)


def _site_plant(plant: Any, role: Any) -> SitePlant:
    if not isinstance(plant, SitePlant):
        raise ConfigError(
            f"role {role.role!r} needs the simulated site: set [simulation] backend = "
            '"instruments.sim.site.station:SimulatedSite"',
            source=role.source,
            key=f"roles.{role.role}",
        )
    return plant


def controller_server(site: SitePlant, lock: Any, device_id: int = 1) -> SiteModbusServer:
    """The controller's port as the plant's config describes it (not started)."""
    c = site.controller
    image = SiteSunSpec(site).image
    counter = [0]

    def drop() -> bool:
        n = site.drop_every_n
        if not n or site.t_s > site.drop_until_s:
            return False
        counter[0] += 1
        return counter[0] % n == 0

    server = SiteModbusServer(
        {device_id: image},
        name="site-controller",
        lock=lock,
        max_clients=int(c["max_clients"]),
        allow_write=list(c["allow_write"]),
        refuse_fc6=bool(c["refuse_fc6"]),
        drop=drop,
        mute_when=lambda: site.link_cut,
    )
    server.image = image  # type: ignore[attr-defined]
    return server


def serve_controller(plant: Any, role: Any, clock: Any) -> SiteModbusServer:
    """The site controller's Modbus TCP port (one client, write allow-list, optional FC06 refusal)."""
    site = _site_plant(plant, role)
    opts = dict(getattr(role, "options", {}) or {})
    return controller_server(site, clock.lock, int(opts.get("device_id", 1))).start()


def serve_meter(plant: Any, role: Any, clock: Any) -> SiteModbusServer:
    """The site meter (POI and auxiliary feeder metering points) on its own endpoint."""
    site = _site_plant(plant, role)
    opts = dict(getattr(role, "options", {}) or {})
    image = MeterSunSpec(site, seed=site.seed).image
    return SiteModbusServer({int(opts.get("device_id", 1)): image}, name="site-meter", lock=clock.lock).start()
