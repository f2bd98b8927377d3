"""A site power meter over SunSpec Modbus TCP: one 701 (AC measurement) model per metering point.

The meter is the independent measurement of the site: the point of interconnection ("poi")
and, where the auxiliaries have their own feeder, "aux". `channels` (station option) names the
701 instances in order. Energies come from the meter's own registers (TotWhInj / TotWhAbs, an
instrument-side integrator), never from host-side sampling. Signs: W > 0 = export to the grid.
A meter has nothing to switch: its safe state is a read that confirms it still answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import MeterReading, PowerMeter
from instruments.errors import InstrumentError
from instruments.sunspec_link import SunSpecLink, regs_to_bytes
from instruments.sunspec_point import to_site_point

_POINTS = ("W", "Var", "Hz", "LLV", "TotWhInj", "TotWhAbs", "W_SF", "Var_SF", "Hz_SF", "V_SF", "TotWh_SF")


class SunSpecMeter(PowerMeter):
    SIMULATOR = "instruments.sim.site.station:serve_meter"

    def __init__(
        self,
        resource: str,
        *,
        name: str = "meter",
        timeout: pint.Quantity = Q_(1, "s"),
        device_id: int = 1,
        retries: int = 2,
        channels: list[str] | None = None,
        model_defs: list[str] | None = None,
    ) -> None:
        super().__init__(name)
        self.link = SunSpecLink(
            resource,
            name=name,
            timeout_s=float(Q_(timeout).to("s").magnitude),
            device_id=device_id,
            retries=retries,
            model_defs=model_defs,
        )
        try:
            self.link.scan()
            n = self.link.model_counts().get(701, 0)
            names = list(channels or ["poi", "aux"][: max(n, 1)])
            if n < len(names):
                raise InstrumentError(
                    name,
                    f"station names {len(names)} metering points {names} but the meter has {n} SunSpec 701 model(s)",
                    command="scan",
                )
            self._channels = {c: i + 1 for i, c in enumerate(names)}
            self.common = self.link.read_model(1)
        except Exception:
            self.link.close()
            raise

    def attach_journal(self, hook: Callable[[str, str, dict[str, Any]], None]) -> None:
        self.link.attach_journal(hook)

    def identity(self) -> str:
        c = {n: self.common.points[n].value for n in ("Mn", "Md", "SN", "Vr")}
        return f"{c['Mn']} {c['Md']} SN {c['SN']} firmware {c['Vr']}"

    def channels(self) -> list[str]:
        return list(self._channels)

    def read(self, channel: str = "poi") -> MeterReading:
        if channel not in self._channels:
            raise InstrumentError(self.name, f"no metering point {channel!r}; this meter has {self.channels()}")
        m = self.link.model(701, self._channels[channel])
        pts = [m.points[n] for n in _POINTS]
        lo = min(p.offset for p in pts)
        hi = max(p.offset + p.len for p in pts)
        data = regs_to_bytes(self.link.read(m.model_addr + lo, hi - lo))  # one request, one instant
        for p in pts:
            p.set_mb(data[2 * (p.offset - lo) : 2 * (p.offset - lo + p.len)])
        v = {n: to_site_point(f"701.{n}", m.points[n]) for n in ("W", "Var", "Hz", "LLV", "TotWhInj", "TotWhAbs")}

        def q(n: str, unit: str) -> pint.Quantity:
            return v[n].value if v[n].implemented and isinstance(v[n].value, pint.Quantity) else Q_(float("nan"), unit)

        return MeterReading(
            active_power=q("W", "W"),
            reactive_power=q("Var", "VA"),
            energy_exported=q("TotWhInj", "W*h"),
            energy_imported=q("TotWhAbs", "W*h"),
            frequency=q("Hz", "Hz"),
            voltage=q("LLV", "V"),
            timestamp_s=time.monotonic(),
        )

    def safe_state(self) -> str:
        self.read(self.channels()[0])
        return "meter: nothing to switch (answers)"

    def close(self) -> None:
        self.link.close()
