"""Simulated HIL stimulus device: SCPI over TCP on 127.0.0.1, acting on the plant's stimulus target.

A real HIL rig speaking this dialect could replace it with no change to the driver
(`instruments/hil_stimulus.py`). The command set is documented in docs/stimuli.md; in short:

    STIMulus:CATalog? [<stimulus>]           STIMulus:ACTive?           STIMulus:RELease:ALL
    STIMulus:GAS "<source>",<species>=<ppm/s>[,...] | "<source>",OFF      STIMulus:GAS? "<source>"
    STIMulus:SENSor "<channel>",<value>[ <unit>] | "<channel>",OFF          STIMulus:SENSor? "<channel>"
    STIMulus:VENTilation <m3/h> | OFF                                        STIMulus:VENTilation?
    STIMulus:HEAT "<zone>",<W> | "<zone>",OFF                               STIMulus:HEAT? "<zone>"
    STIMulus:LINK "<role>",CUT|RESTore                                       STIMulus:LINK? "<role>"
    STIMulus:CELL <cell>,<V> | <cell>,OFF                                    STIMulus:CELL? <cell>

Names are quoted SCPI strings (a zone such as "cell[3,1]" holds a comma); a bare name without
commas is accepted too. Errors go to the queue with the device-dependent detail after a `;`
(SCPI-99 §21.8): -224 unknown channel/zone/species/link (the detail lists the known ones),
-222 value outside the channel's span, -221 two stimuli on one sensing path, -131 a unit of the
wrong dimension, -241 a stimulus this device does not have, -109/-104 missing or malformed
parameters. `*RST` releases everything, like the device's own reset.

The target is the plant's (`plant.stimulus_target()`, protocol `StimulusTarget` below); the
site stream's plant provides its own target and may add commands by subclassing `SimStimulus`.
Handlers run under the simulated clock's lock (ScpiInstrument), so a stimulus lands between
two physics steps.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from instruments.sim.plant.errors import SimRangeError, StimulusConflict
from instruments.sim.scpi_server import (
    DATA_OUT_OF_RANGE,
    DATA_TYPE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
    serve_instrument,
)

HARDWARE_MISSING = (-241, "Hardware missing")
INVALID_SUFFIX = (-131, "Invalid suffix")
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[Ee][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
# Unit suffixes accepted per value unit: suffix -> (scale, offset) into the unit.
SUFFIXES: dict[str, dict[str, tuple[float, float]]] = {
    "V": {"V": (1.0, 0.0), "MV": (1e-3, 0.0)},
    "A": {"A": (1.0, 0.0), "MA": (1e-3, 0.0), "KA": (1e3, 0.0)},
    "degC": {"CEL": (1.0, 0.0), "K": (1.0, -273.15)},
    "Pa": {"PA": (1.0, 0.0), "KPA": (1e3, 0.0)},
    "W": {"W": (1.0, 0.0), "KW": (1e3, 0.0)},
}
WIRE_SUFFIX = {"V": "V", "A": "A", "degC": "CEL", "Pa": "PA", "W": "W"}


class StimulusTarget(Protocol):
    """What a simulated plant offers the stimulus server (values in the plant's units).

    Unknown names raise ValueError naming the known ones; a value outside a span raises a
    ValueError subclass `SimRangeError`; a `StimulusConflict` (ValueError) refuses two stimuli
    on one sensing path. `applied()` maps stimulus -> name -> value (gas: {species: ppm/s};
    link: True; ventilation under "exhaust")."""

    def available(self) -> set[str]: ...
    def bind_role(self, role: str, fixture: str | None) -> bool: ...
    def targets(self, stimulus: str) -> list[str]: ...
    def channel_unit(self, channel: str) -> str: ...
    def gas_release(self, source: str, rates_ppm_per_s: dict[str, float] | None) -> None: ...
    def sensor_override(self, channel: str, value: float | None) -> None: ...
    def ventilation(self, flow_m3_per_h: float | None) -> None: ...
    def heat(self, zone: str, watts: float | None) -> None: ...
    def cut_link(self, name: str, cut: bool) -> None: ...
    def link_cut(self, name: str) -> bool: ...
    def cell_voltage_step(self, cell: int, volts: float | None) -> None: ...
    def release_all(self) -> None: ...
    def applied(self) -> dict[str, dict[str, Any]]: ...


def _unquote(arg: str) -> str:
    arg = arg.strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'":
        return arg[1:-1]
    return arg


def _quote(name: str) -> str:
    return f'"{name}"'


def _off(arg: str) -> bool:
    return arg.strip().upper() == "OFF"


def _number(arg: str) -> float:
    m = _NUMBER.match(arg)
    if m is None or m.group(2):
        raise ScpiError(*DATA_TYPE)
    return float(m.group(1))


def _g(value: float) -> str:
    return f"{value:.6g}"


def value_with_unit(arg: str, unit: str, what: str) -> float:
    """`85.5 CEL` / `358.65 K` / `85.5` (the channel's own unit) as a float in `unit`."""
    m = _NUMBER.match(arg)
    if m is None:
        raise ScpiError(*DATA_TYPE)
    number, suffix = float(m.group(1)), m.group(2).upper()
    if not suffix:
        return number
    table = SUFFIXES.get(unit, {})
    if suffix not in table:
        raise ScpiError(INVALID_SUFFIX[0], f"{INVALID_SUFFIX[1]}; {what} takes {'|'.join(table) or unit}")
    scale, offset = table[suffix]
    return number * scale + offset


def _detail(base: tuple[int, str], exc: Exception) -> ScpiError:
    text = str(exc).replace('"', "'")
    return ScpiError(base[0], f"{base[1]}; {text}"[:255])


class SimStimulus(ScpiInstrument):
    """The stimulus command table over a `StimulusTarget`."""

    COMMANDS = {
        "gas_release": "GAS",
        "sensor_override": "SENS",
        "ventilation": "VENT",
        "heat": "HEAT",
        "cut_link": "LINK",
        "cell_voltage_step": "CELL",
    }

    def __init__(
        self,
        target: StimulusTarget,
        *,
        serial: str = "HIL-SIM-0001",
        model: str = "HIL-STIM",
        firmware: str = "1.0",
        make: str = "ESS Bench",
        lock: Any = None,
        faults: list[Any] | None = None,
    ) -> None:
        super().__init__(lock, faults)
        self.target = target
        self.idn = f"{make},{model},{serial},{firmware}"
        c = self.command
        c("STIMulus:CATalog?", self._catalog)
        c("STIMulus:ACTive?", lambda a: self._active())
        c("STIMulus:RELease:ALL", lambda a: self._call(self.target.release_all))
        c("STIMulus:GAS", self._gas)
        c("STIMulus:GAS?", lambda a: self._gas_query(self._name(a)))
        c("STIMulus:SENSor", self._sensor)
        c("STIMulus:SENSor?", lambda a: self._sensor_query(self._name(a)))
        c("STIMulus:VENTilation", self._vent)
        c("STIMulus:VENTilation?", lambda a: self._state("ventilation", "exhaust", _g))
        c("STIMulus:HEAT", self._heat)
        c("STIMulus:HEAT?", lambda a: self._state("heat", self._name(a), _g))
        c("STIMulus:LINK", self._link)
        c("STIMulus:LINK?", lambda a: self._link_query(self._name(a)))
        c("STIMulus:CELL", self._cell)
        c("STIMulus:CELL?", lambda a: self._state("cell_voltage_step", str(self._cell_arg(a)), _g))

    # -- helpers ---------------------------------------------------------------------------
    def reset(self) -> None:
        """*RST: every stimulus released."""
        self.target.release_all()

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except SimRangeError as exc:
            raise _detail(DATA_OUT_OF_RANGE, exc) from None
        except StimulusConflict as exc:
            raise _detail(SETTINGS_CONFLICT, exc) from None
        except ValueError as exc:
            raise _detail(ILLEGAL_PARAMETER, exc) from None

    def _need(self, stimulus: str) -> None:
        if stimulus not in self.target.available():
            raise ScpiError(HARDWARE_MISSING[0], f"{HARDWARE_MISSING[1]}; this device has no {stimulus}")

    @staticmethod
    def _args(a: list[str], n: int) -> list[str]:
        if len(a) < n:
            raise ScpiError(*MISSING_PARAMETER)
        return a

    def _name(self, a: list[str]) -> str:
        return _unquote(self._args(a, 1)[0])

    def _cell_arg(self, a: list[str]) -> int:
        text = _unquote(self._args(a, 1)[0]).strip()
        if not text.isdigit():
            raise _detail(ILLEGAL_PARAMETER, ValueError(f"cell must be an index 0..{self._last_cell()}, got {text!r}"))
        return int(text)

    def _last_cell(self) -> str:
        cells = self.target.targets("cell_voltage_step")
        return cells[-1] if cells else "?"

    def _state(self, stimulus: str, name: str, fmt: Any) -> str:
        self._need(stimulus)
        value = self.target.applied().get(stimulus, {}).get(name)
        return "OFF" if value is None else fmt(value)

    # -- commands ---------------------------------------------------------------------------
    def _catalog(self, a: list[str]) -> str:
        if not a:
            return ",".join(s for s in self.COMMANDS if s in self.target.available())
        stimulus = _unquote(a[0]).lower()
        known = {k.lower(): k for k in self.COMMANDS} | {v.lower(): k for k, v in self.COMMANDS.items()}
        if stimulus not in known:
            raise _detail(
                ILLEGAL_PARAMETER, ValueError(f"unknown stimulus {a[0]!r}; known: {', '.join(self.COMMANDS)}")
            )
        self._need(known[stimulus])
        return ",".join(_quote(n) for n in self.target.targets(known[stimulus])) or '""'

    def _active(self) -> str:
        entries: list[str] = []
        for stimulus, items in self.target.applied().items():
            head = self.COMMANDS.get(stimulus, stimulus.upper())
            for name, value in items.items():
                if stimulus == "gas_release":
                    text = " ".join(f"{s}={_g(r)}" for s, r in value.items())
                    entries.append(f"{head} {name} {text}")
                elif stimulus == "sensor_override":
                    unit = self.target.channel_unit(name)
                    entries.append(f"{head} {name}={_g(value)} {WIRE_SUFFIX.get(unit, unit)}")
                elif stimulus == "cut_link":
                    entries.append(f"{head} {name}=CUT")
                elif stimulus == "ventilation":
                    entries.append(f"{head} {_g(value)}")
                else:
                    entries.append(f"{head} {name}={_g(value)}")
        return ",".join(_quote(e) for e in entries) or "NONE"

    def _gas(self, a: list[str]) -> None:
        self._need("gas_release")
        source = _unquote(self._args(a, 2)[0])
        if len(a) == 2 and _off(a[1]):
            self._call(self.target.gas_release, source, None)
            return
        rates: dict[str, float] = {}
        for item in a[1:]:
            species, eq, rate = item.partition("=")
            if not eq:
                raise _detail(DATA_TYPE, ValueError(f"expected <species>=<ppm/s> or OFF, got {item!r}"))
            rates[species.strip()] = _number(rate)
        self._call(self.target.gas_release, source, rates)

    def _gas_query(self, source: str) -> str:
        self._need("gas_release")
        rates = self.target.applied().get("gas_release", {}).get(source)
        return "OFF" if rates is None else ",".join(f"{s}={_g(r)}" for s, r in rates.items())

    def _sensor(self, a: list[str]) -> None:
        self._need("sensor_override")
        channel = _unquote(self._args(a, 2)[0])
        try:
            unit = self.target.channel_unit(channel)
        except ValueError as exc:
            raise _detail(ILLEGAL_PARAMETER, exc) from None
        value = None if _off(a[1]) else value_with_unit(a[1], unit, channel)
        self._call(self.target.sensor_override, channel, value)

    def _sensor_query(self, channel: str) -> str:
        self._need("sensor_override")
        try:
            unit = self.target.channel_unit(channel)
        except ValueError as exc:
            raise _detail(ILLEGAL_PARAMETER, exc) from None
        value = self.target.applied().get("sensor_override", {}).get(channel)
        return "OFF" if value is None else f"{_g(value)} {WIRE_SUFFIX.get(unit, unit)}"

    def _vent(self, a: list[str]) -> None:
        self._need("ventilation")
        arg = self._args(a, 1)[0]
        self._call(self.target.ventilation, None if _off(arg) else _number(arg))

    def _heat(self, a: list[str]) -> None:
        self._need("heat")
        zone = _unquote(self._args(a, 2)[0])
        self._call(self.target.heat, zone, None if _off(a[1]) else value_with_unit(a[1], "W", zone))

    def _link(self, a: list[str]) -> None:
        self._need("cut_link")
        name = _unquote(self._args(a, 2)[0])
        word = a[1].strip().upper()
        if word not in ("CUT", "REST", "RESTORE"):
            raise _detail(ILLEGAL_PARAMETER, ValueError(f"expected CUT or RESTore, got {a[1]!r}"))
        self._call(self.target.cut_link, name, word == "CUT")

    def _link_query(self, name: str) -> str:
        self._need("cut_link")
        try:
            cut = self.target.link_cut(name)
        except ValueError as exc:
            raise _detail(ILLEGAL_PARAMETER, exc) from None
        return "CUT" if cut else "CONNECTED"

    def _cell(self, a: list[str]) -> None:
        self._need("cell_voltage_step")
        self._args(a, 2)
        cell = self._cell_arg(a)
        self._call(
            self.target.cell_voltage_step, cell, None if _off(a[1]) else value_with_unit(a[1], "V", f"cell {cell}")
        )


def serve(plant: Any, role: Any, clock: Any) -> ScpiTcpServer:
    """Start the simulated HIL stimulus device for a station role on the plant's stimulus target."""
    return serve_instrument(
        SimStimulus,
        plant.stimulus_target(),
        plant,
        role,
        clock,
        serial="HIL-SIM-0001",
        model="HIL-STIM",
        firmware="1.0",
    )
