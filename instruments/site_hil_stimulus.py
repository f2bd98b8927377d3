"""Stimulus capability over a HIL-style SCPI device (CONTRACTS.md command set).

Interim driver of the site stream, until the stimulus stream's driver lands (same command set,
so a station changes only the `driver` of its stimulus role). Every command is followed by
`SYST:ERR?`; an error names the command and the device's reply. Values go on the wire with
their unit ("3.72 V", "310.15 K"). Its safe state releases every stimulus.
"""

from __future__ import annotations

from collections.abc import Mapping

import pint

from bench.units import Q_
from instruments.capabilities import Stimulus
from instruments.scpi_driver import ScpiDriver

_SI = ("V", "A", "K", "Pa", "W", "s", "ohm")


def _wire(q: pint.Quantity) -> str:
    """The value in its SI unit, as ASCII text ("3.72 V", "310.15 K", "100000.0 Pa")."""
    for unit in _SI:
        if q.dimensionality == Q_(1, unit).dimensionality:
            return f"{float(q.to(unit).magnitude)!r} {unit}"
    raise ValueError(f"no SI unit for {q:~P} on the stimulus wire")


class SiteHilStimulus(ScpiDriver, Stimulus):
    SIMULATOR = "instruments.sim.site.stimulus_server:serve"

    def __init__(self, resource: str, *, name: str = "stimulus", timeout: pint.Quantity = Q_(2, "s"),
                 visa_library: str = "@py") -> None:
        Stimulus.__init__(self, name)
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library)

    def available(self) -> set[str]:
        return {s for s in self.conn.query("STIM:CAT?").split(",") if s}

    def _send(self, command: str, what: str) -> str:
        self.conn.write_checked(command)
        return what

    def gas_release(self, source: str, rates: Mapping[str, pint.Quantity] | None) -> str:
        raise NotImplementedError("gas_release: not offered by this HIL device")

    def sensor_override(self, channel: str, value: pint.Quantity | None) -> str:
        arg = "OFF" if value is None else _wire(value)
        return self._send(f"STIM:SENS {channel},{arg}", f"sensor {channel} " + (
            "released" if value is None else f"forced to {value:~P}"))

    def ventilation(self, flow: pint.Quantity | None) -> str:
        raise NotImplementedError("ventilation: not offered by this HIL device")

    def heat(self, zone: str, rate: pint.Quantity | None) -> str:
        arg = "OFF" if rate is None else _wire(rate.to("W"))
        return self._send(f"STIM:HEAT {zone},{arg}", f"heat {zone} " + ("off" if rate is None else f"{rate:~P}"))

    def cut_link(self, role: str, cut: bool = True) -> str:
        return self._send(f"STIM:LINK {role},{'CUT' if cut else 'RESTORE'}", f"link {role} {'cut' if cut else 'restored'}")

    def cell_voltage_step(self, cell: int, value: pint.Quantity | None) -> str:
        arg = "OFF" if value is None else _wire(value.to("V"))
        return self._send(f"STIM:CELL {cell},{arg}", f"cell {cell} " + ("released" if value is None else f"{value:~P}"))

    def release_all(self) -> str:
        return self._send("STIM:REL:ALL", "every stimulus released")

    def safe_state(self) -> str:
        return self.release_all()
