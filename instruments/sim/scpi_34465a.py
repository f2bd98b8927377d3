"""Simulated Keysight 34465A DMM over SCPI, wired to the plant.

What it is connected to (documented because a plan's meaning depends on it):
* DC volts: the pack terminals (`plant.pack.voltage_V`, i.e. the cell stack itself, live whether
  or not the contactor is closed). Role option `sim.source = "bus"` moves the probes to the DC
  bus behind the contactor (`plant.bus.voltage_V`).
* Resistance: a fixed resistor on the bench (role option `sim.resistor`, default "10 kohm", e.g.
  a reference resistor or a current shunt); 2-wire readings add the test leads
  (`sim.lead_resistance`, default "0.1 ohm"), 4-wire readings do not.

Readings carry a seeded gain/offset error well inside the 1-year spec, Gaussian noise and
quantisation that depend on the range and the integration time (NPLC), after the datasheet's
order of magnitude. Autorange picks the smallest range holding 120 % of the input; beyond the
selected range the reading is the overload value +9.9E+37, as on the real meter. The virtual
clock is not advanced by a reading (integration time is not simulated).
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from instruments.keysight_34465a import DCV_RANGES_V, NPLC_VALUES, RES_RANGES_OHM
from instruments.keysight_34465a import Keysight34465A as D
from instruments.sim.scpi_server import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
    ScpiTcpServer,
    nr3,
    parse_bool,
    parse_number,
    serve_instrument,
)

DCV_RANGES = DCV_RANGES_V  # the ranges and integration times are the driver's declarations
RES_RANGES = RES_RANGES_OHM
# NPLC -> (resolution, rms noise), both in ppm of range (34465A datasheet order of magnitude).
NPLC_TABLE = {
    100.0: (0.03, 0.05),
    10.0: (0.1, 0.15),
    1.0: (0.3, 0.5),
    0.2: (0.7, 1.5),
    0.06: (1.5, 3.0),
    0.02: (3.0, 6.0),
}
if set(NPLC_TABLE) != set(NPLC_VALUES):  # a new integration time in the driver needs its noise figures here
    raise ImportError(
        f"simulated 34465A noise table {sorted(NPLC_TABLE)} differs from the driver's NPLC values {sorted(NPLC_VALUES)}"
    )
DEFAULT_NPLC = 10.0
OVERLOAD = "+9.90000000E+37"
_FUNCS = {
    "VOLT": "VOLT",
    "VOLT:DC": "VOLT",
    "VOLTAGE": "VOLT",
    "VOLTAGE:DC": "VOLT",
    "RES": "RES",
    "RESISTANCE": "RES",
    "FRES": "FRES",
    "FRESISTANCE": "FRES",
}


def _quantity_ohm(text: Any, default: float) -> float:
    """'10 kohm' / '0.1 ohm' / number -> ohm (kept free of pint: the simulator is plain floats)."""
    if text is None:
        return default
    if isinstance(text, int | float):
        return float(text)
    from bench.units import Q_

    return float(Q_(str(text)).to("ohm").magnitude)


class SimKeysight34465A(ScpiInstrument):
    def __init__(
        self,
        voltage_source: Any,
        *,
        resistor_ohm: float = 1e4,
        lead_ohm: float = 0.1,
        serial: str = "MY00000001",
        model: str = "34465A",
        firmware: str = "A.02.16-02.40-02.16-00.51-03-01",
        lock: Any = None,
        faults: list[Any] | None = None,
    ) -> None:
        super().__init__(lock, faults)
        self.idn = f"Keysight Technologies,{model},{serial},{firmware}"
        self.voltage_source = voltage_source  # callable -> volts at the probes
        self.resistor_ohm = resistor_ohm
        self.lead_ohm = lead_ohm
        self._rng = random.Random(zlib.crc32(serial.encode()))
        self.gain_error = self._rng.uniform(-10e-6, 10e-6)  # inside 35 ppm of reading
        self.offset_ppm = self._rng.uniform(-2.0, 2.0)  # inside 6 ppm of range
        self.reset()
        c = self.command

        def arg(a: list[str]) -> str:
            if not a:
                raise ScpiError(*MISSING_PARAMETER)
            return a[0]

        for func, node in (("VOLT", "VOLTage[:DC]"), ("RES", "RESistance"), ("FRES", "FRESistance")):
            c(f"MEASure:{node}?", (lambda f: lambda a: self._measure(f, a))(func))
            c(f"CONFigure:{node}", (lambda f: lambda a: self._configure(f, a))(func))
            c(f"[SENSe:]{node}:NPLCycles", (lambda f: lambda a: self._set_nplc(f, arg(a)))(func))
            c(f"[SENSe:]{node}:NPLCycles?", (lambda f: lambda a: nr3(self.nplc[f]))(func))
            c(f"[SENSe:]{node}:RANGe[:UPPer]", (lambda f: lambda a: self._set_range(f, arg(a)))(func))
            c(f"[SENSe:]{node}:RANGe[:UPPer]?", (lambda f: lambda a: nr3(self._present_range(f)))(func))
            c(f"[SENSe:]{node}:RANGe:AUTO", (lambda f: lambda a: self._set_auto(f, parse_bool(arg(a))))(func))
            c(f"[SENSe:]{node}:RANGe:AUTO?", (lambda f: lambda a: "1" if self.range[f] is None else "0")(func))
        c(
            "CONFigure?",
            lambda a: (
                f'"{self.function} {nr3(self._present_range(self.function))},{nr3(self._resolution(self.function))}"'
            ),
        )
        c("[SENSe:]FUNCtion[:ON]", lambda a: self._set_function(arg(a)))
        c("[SENSe:]FUNCtion[:ON]?", lambda a: f'"{self.function}"')
        c("READ?", lambda a: self._read())
        c("INITiate[:IMMediate]", lambda a: self._init())
        c("FETCh?", lambda a: self._fetch())

    # -- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.function = "VOLT"
        self.range: dict[str, float | None] = {"VOLT": None, "RES": None, "FRES": None}  # None = autorange
        self.nplc = {"VOLT": DEFAULT_NPLC, "RES": DEFAULT_NPLC, "FRES": DEFAULT_NPLC}
        self.last: str | None = None

    def _ranges(self, func: str) -> tuple[float, ...]:
        return DCV_RANGES if func == "VOLT" else RES_RANGES

    def _pick_range(self, func: str, value: float) -> float:
        table = self._ranges(func)
        for r in table:
            if value <= r * (1 + 1e-9):
                return r
        raise ScpiError(*DATA_OUT_OF_RANGE)

    def _range_param(self, func: str, word: str) -> float | None:
        w = word.strip().upper()
        if w in ("AUTO", "DEF", "DEFAULT"):
            return None
        table = self._ranges(func)
        if w in ("MIN", "MAX"):
            return table[0] if w == "MIN" else table[-1]
        lo, hi = (D.DCV_RANGE if func == "VOLT" else D.RES_RANGE).bounds()
        value = parse_number(w, minimum=lo, maximum=hi)
        if value <= lo:  # a range must be above zero
            raise ScpiError(*DATA_OUT_OF_RANGE)
        return self._pick_range(func, value)

    def _nplc_param(self, word: str) -> float:
        w = word.strip().upper()
        if w in ("MIN", "MINIMUM"):
            return min(NPLC_TABLE)
        if w in ("MAX", "MAXIMUM"):
            return max(NPLC_TABLE)
        if w in ("DEF", "DEFAULT"):
            return DEFAULT_NPLC
        lo, hi = D.NPLC.bounds()
        value = parse_number(w, minimum=lo, maximum=hi)
        # the meter rounds up to the next supported integration time
        return min(n for n in NPLC_TABLE if n >= value * (1 - 1e-9))

    def _configure(self, func: str, args: list[str]) -> None:
        rng = self._range_param(func, args[0]) if args else None
        nplc = DEFAULT_NPLC
        if len(args) > 1:
            nplc = self._nplc_for_resolution(func, rng, args[1])
        self.function = func
        self.range[func] = rng
        self.nplc[func] = nplc

    def _nplc_for_resolution(self, func: str, rng: float | None, word: str) -> float:
        w = word.strip().upper()
        if w in ("DEF", "DEFAULT"):
            return DEFAULT_NPLC
        if w in ("MIN", "MINIMUM"):
            return max(NPLC_TABLE)  # finest resolution = longest integration
        if w in ("MAX", "MAXIMUM"):
            return min(NPLC_TABLE)
        res = parse_number(w, minimum=0.0)
        ref = rng if rng is not None else self._ranges(func)[-1]
        ppm = res / ref * 1e6
        fits = [n for n, (r_ppm, _) in NPLC_TABLE.items() if r_ppm <= ppm * (1 + 1e-9)]
        if not fits:
            raise ScpiError(*DATA_OUT_OF_RANGE)
        return min(fits)  # fastest integration that still gives the resolution asked for

    def _set_nplc(self, func: str, word: str) -> None:
        self.nplc[func] = self._nplc_param(word)

    def _set_range(self, func: str, word: str) -> None:
        self.range[func] = self._range_param(func, word)  # AUTO/DEF select autorange

    def _set_auto(self, func: str, on: bool) -> None:
        if on:
            self.range[func] = None
        elif self.range[func] is None:
            self.range[func] = self._auto_range(func, self._true_value(func))

    def _set_function(self, word: str) -> None:
        func = _FUNCS.get(word.strip().strip('"').upper())
        if func is None:
            raise ScpiError(*ILLEGAL_PARAMETER)
        self.function = func

    # -- readings ----------------------------------------------------------------------------
    def _true_value(self, func: str) -> float:
        if func == "VOLT":
            return float(self.voltage_source())
        return self.resistor_ohm + (self.lead_ohm if func == "RES" else 0.0)

    def _auto_range(self, func: str, value: float) -> float:
        table = self._ranges(func)
        for r in table:
            if abs(value) <= 1.2 * r:
                return r
        return table[-1]

    def _present_range(self, func: str) -> float:
        rng = self.range[func]
        return rng if rng is not None else self._auto_range(func, self._true_value(func))

    def _resolution(self, func: str) -> float:
        return self._present_range(func) * NPLC_TABLE[self.nplc[func]][0] * 1e-6

    def _sample(self, func: str) -> str:
        true = self._true_value(func)
        rng = self._present_range(func)
        ceiling = 1050.0 if (func == "VOLT" and rng == DCV_RANGES[-1]) else 1.2 * rng
        if abs(true) > ceiling:
            return OVERLOAD
        res_ppm, noise_ppm = NPLC_TABLE[self.nplc[func]]
        if func == "VOLT" and rng == DCV_RANGES[0]:
            noise_ppm *= 3.0  # the 100 mV range is noisier relative to its span
        value = true * (1.0 + self.gain_error) + rng * 1e-6 * (self.offset_ppm + self._rng.gauss(0.0, noise_ppm))
        step = rng * res_ppm * 1e-6
        return f"{round(value / step) * step:+.9E}"

    def _measure(self, func: str, args: list[str]) -> str:
        self._configure(func, args)
        return self._read()

    def _init(self) -> None:
        self.last = self._sample(self.function)

    def _read(self) -> str:
        self._init()
        return self._fetch()

    def _fetch(self) -> str:
        if self.last is None:
            raise ScpiError(-230, "Data corrupt or stale")
        return self.last


def serve(plant: Any, role: Any, clock: Any) -> ScpiTcpServer:
    """Start the simulated 34465A for a station role; returns the running server (has .resource)."""
    sim = dict((role.options or {}).get("sim", {}) or {})
    source = str(sim.get("source", "pack")).lower()
    if source == "pack":

        def probe() -> float:
            return float(plant.pack.voltage_V)
    elif source == "bus":

        def probe() -> float:
            return float(plant.bus.voltage_V)
    else:
        raise ValueError(f"role {role.role}: options.sim.source must be 'pack' or 'bus', got {source!r}")
    return serve_instrument(
        SimKeysight34465A,
        probe,
        plant,
        role,
        clock,
        serial="MY00000001",
        model="34465A",
        firmware="A.02.16-02.40-02.16-00.51-03-01",
        resistor_ohm=_quantity_ohm(sim.get("resistor"), 1e4),
        lead_ohm=_quantity_ohm(sim.get("lead_resistance"), 0.1),
    )
