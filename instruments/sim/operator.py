"""The simulated operator: on a simulated station, the hands that do what the operator was asked.

A station may declare the hardware stimulus backend on a simulated station
(`[roles.stimulus] driver = "instruments.operator_stimulus:OperatorStimulus"`,
`resource = "operator"`), to run a plan's operator prompts in CI. The simulated station then
calls this `serve` (the driver's SIMULATOR) like any role's simulator: it starts the stimulus
device on the plant's stimulus target (the same server as the HIL simulation,
instruments/sim/scpi_stimulus.py) and hands the driver `operator+<VISA resource>`. The driver
still asks every question through the bench prompt and journals the answers; once the
confirmation and the witness are in, it sends the same stimulus to these hands, which act on the
plant. A refused prompt therefore changes nothing in the plant, as at a bench. Plans never see
any of this: they call the `stimulus` fixture.
"""

from __future__ import annotations

from typing import Any

from instruments.sim.scpi_server import ScpiTcpServer, serve_instrument
from instruments.sim.scpi_stimulus import SimStimulus


class SimulatedOperator:
    """Handle of the simulated operator's stimulus device, as SimulatedStation expects one."""

    def __init__(self, server: ScpiTcpServer) -> None:
        self.server = server

    @property
    def resource(self) -> str:
        return f"operator+{self.server.resource}"

    def stop(self) -> None:
        self.server.stop()


def serve(plant: Any, role: Any, clock: Any) -> SimulatedOperator:
    """Start the simulated operator's hands for a station role (resource "operator")."""
    return SimulatedOperator(
        serve_instrument(
            SimStimulus,
            plant.stimulus_target(),
            plant,
            role,
            clock,
            serial="SIM-OPERATOR",
            model="SIMULATED-OPERATOR",
            firmware="1.0",
        )
    )
