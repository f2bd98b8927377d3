"""A HIL-style stimulus device for the simulated site, SCPI over TCP (CONTRACTS.md command set).

Interim: the stimulus stream's generic server (scpi_server machinery, one command table for
every plant target) replaces this once it lands; it speaks the same commands and acts on the
same target (`plant.stimulus_target()`), so the site station then only changes the stimulus
role's driver. Values carry units on the wire ("3.72 V", "310 K", "100 kPa"); the server hands
the target SI floats.

    *IDN?  SYST:ERR?  STIM:CAT?
    STIM:SENS <channel>,<value with unit> | STIM:SENS <channel>,OFF
    STIM:HEAT <zone>,<W> | STIM:HEAT <zone>,OFF
    STIM:LINK <role>,CUT|RESTORE
    STIM:CELL <cell>,<V> | STIM:CELL <cell>,OFF
    STIM:GAS ... / STIM:VENT ...   (-> error: this target has no gas model)
    STIM:REL:ALL
"""

from __future__ import annotations

from typing import Any

import pint

from bench.units import Q_
from instruments.sim.scpi_server import (
    DATA_TYPE,
    EXECUTION_ERROR,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
)

ILLEGAL_NAME = (-224, "Illegal parameter value")


def _si(text: str) -> float:
    try:
        q = Q_(text)
    except Exception as exc:  # pint raises assorted errors on garbage
        raise ScpiError(*DATA_TYPE) from exc
    if not isinstance(q, pint.Quantity):
        return float(q)
    return float(q.to_base_units().magnitude)


class SimSiteStimulus(ScpiInstrument):
    def __init__(self, target: Any, *, serial: str = "0", model: str = "SIM-SITE-HIL", firmware: str = "1.0",
                 lock: Any = None, faults: list[Any] | None = None) -> None:
        super().__init__(lock, faults)
        self.target = target
        self.idn = f"ESS Bench,{model},{serial},{firmware}"
        c = self.command
        c("STIMulus:CATalog?", lambda a: ",".join(sorted(self.target.available())))
        c("STIMulus:SENSor", lambda a: self._two(a, lambda n, v: self.target.sensor_override(n, v), _si))
        c("STIMulus:HEAT", lambda a: self._two(a, lambda n, v: self.target.heat(n, v), _si))
        c("STIMulus:CELL", lambda a: self._two(a, lambda n, v: self.target.cell_voltage_step(
            int(n) if n.isdigit() else n, v), _si))
        c("STIMulus:LINK", lambda a: self._link(a))
        c("STIMulus:GAS", lambda a: self._unsupported("gas release"))
        c("STIMulus:VENTilation", lambda a: self._unsupported("ventilation"))
        c("STIMulus:RELease:ALL", lambda a: self.target.release_all())

    def _call(self, fn: Any) -> None:
        try:
            fn()
        except ValueError as exc:
            raise ScpiError(ILLEGAL_NAME[0], f"{ILLEGAL_NAME[1]}: {exc}") from None
        except NotImplementedError as exc:
            raise ScpiError(EXECUTION_ERROR[0], f"{EXECUTION_ERROR[1]}: {exc}") from None

    def _two(self, args: list[str], fn: Any, conv: Any) -> None:
        if len(args) < 2:
            raise ScpiError(*MISSING_PARAMETER)
        name, value = args[0].strip().strip('"'), args[1].strip()
        v = None if value.upper() == "OFF" else conv(value)
        self._call(lambda: fn(name, v))

    def _link(self, args: list[str]) -> None:
        if len(args) < 2 or args[1].strip().upper() not in ("CUT", "RESTORE"):
            raise ScpiError(*MISSING_PARAMETER)
        self._call(lambda: self.target.cut_link(args[0].strip().strip('"'), args[1].strip().upper() == "CUT"))

    def _unsupported(self, what: str) -> None:
        raise ScpiError(EXECUTION_ERROR[0], f"{EXECUTION_ERROR[1]}: {what} not available on this target")


def serve(plant: Any, role: Any, clock: Any) -> ScpiTcpServer:
    target = getattr(plant, "stimulus_target", None)
    if target is None:
        raise RuntimeError(f"role {role.role!r}: the simulated plant offers no stimulus target")
    inst = SimSiteStimulus(target(), serial=role.serial or "SIM-HIL-0001", model=role.model or "SIM-SITE-HIL",
                           firmware=role.firmware or "1.0", lock=clock.lock)
    return ScpiTcpServer(inst).start()
