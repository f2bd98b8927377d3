"""Shared helpers for the SCPI driver tests: a plant + SimClock + one simulated instrument.

Plain functions rather than pytest fixtures, so test modules import them explicitly (no
conftest.py is shared here) and wrap them in their own small fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.clock import SimClock
from bench.station import RoleConfig
from bench.units import Q_
from instruments.sim.plant import Plant, get_preset


@dataclass
class SimRig:
    plant: Any
    clock: SimClock
    server: Any

    @property
    def resource(self) -> str:
        return self.server.resource

    def advance(self, seconds: float) -> None:
        self.clock.sleep(Q_(seconds, "s"))

    def wait(self, seconds: float) -> None:
        """What a plan passes to drivers that must let time pass (virtual time here)."""
        self.clock.sleep(Q_(seconds, "s"))

    def close_contactor(self) -> None:
        """Ask the simulated BMS for discharge so the pack is on the bus (precharge then close)."""
        with self.clock.lock:
            self.plant.bms.request_state("discharge")
        self.advance(2.0)
        assert self.plant.bms.contactor_closed

    def stop(self) -> None:
        self.server.stop()


def start_sim(
    serve: Callable[[Any, Any, Any], Any],
    role: str,
    *,
    model: str = "",
    serial: str = "SIM0001",
    firmware: str = "",
    options: dict[str, Any] | None = None,
    preset: str = "lfp_16s5p",
    seed: int = 1,
) -> SimRig:
    """Plant from a preset, a SimClock stepping it, and the instrument's simulator on 127.0.0.1."""
    plant = Plant.from_config(get_preset(preset), seed=seed)
    clock = SimClock(max_step=Q_(1, "s"))
    clock.add_listener(lambda t, dt: plant.step(dt))
    cfg = RoleConfig(
        role=role,
        driver="",
        resource="sim",
        timeout=Q_(2, "s"),
        model=model,
        serial=serial,
        firmware=firmware,
        options=dict(options or {}),
    )
    return SimRig(plant, clock, serve(plant, cfg, clock))
