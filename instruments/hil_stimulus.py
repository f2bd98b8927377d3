"""HIL stimulus device over SCPI/TCP: the `Stimulus` capability on a hardware-in-the-loop rig.

Speaks the stimulus dialect of docs/stimuli.md (`STIM:GAS`, `STIM:SENS`, `STIM:VENT`,
`STIM:HEAT`, `STIM:LINK`, `STIM:CELL`, `STIM:REL:ALL`, `STIM:ACT?`, `STIM:CAT?`). On a
simulated station the same driver talks to instruments/sim/scpi_stimulus.py, which acts on the
plant; on a bench it talks to a HIL box speaking the same commands. Every setting is followed by
a read of the error queue (a refusal raises `InstrumentError` naming the command and the
device's reply, which names the known channels) and by a read-back of the stimulus, so what a
call returns is what the device holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import pint

from bench.units import Q_
from instruments.capabilities import Stimulus
from instruments.errors import InstrumentError, InstrumentReplyError
from instruments.scpi_driver import ScpiDriver
from instruments.stimulus_args import cell_index, check_name, fmt, gas_rates, in_unit, sensor_value


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _split(reply: str) -> list[str]:
    """A comma list of quoted or bare items ('"a","b,c"' -> ['a', 'b,c'])."""
    items, cur, quoted = [], [], False
    for ch in reply:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur).strip())
    return [i for i in items if i]


class HilStimulus(ScpiDriver, Stimulus):
    SIMULATOR = "instruments.sim.scpi_stimulus:serve"

    def __init__(
        self, resource: str, *, name: str = "stimulus", timeout: pint.Quantity = Q_(2, "s"), visa_library: str = "@py"
    ) -> None:
        Stimulus.__init__(self, name)
        self._connect(resource, name=name, timeout=timeout, visa_library=visa_library)
        try:
            self._available = set(_split(self.conn.query("STIM:CAT?")))
        except InstrumentError:
            self.conn.close()
            raise

    # -- helpers ---------------------------------------------------------------------------
    def _require(self, stimulus: str) -> None:
        if stimulus not in self._available:
            raise NotImplementedError(
                f"{self.name}: stimulus {stimulus!r} is not available on {self._idn!r} "
                f"(available: {', '.join(sorted(self._available)) or 'none'})"
            )

    def _apply(self, command: str, query: str) -> str:
        """Send a setting, raise on a queued error, return the read-back."""
        self.conn.write_checked(command)
        return self.conn.query(query)

    def _expect_off(self, query: str, reply: str) -> None:
        if reply.upper() != "OFF":
            raise InstrumentReplyError(self.name, "stimulus still applied after OFF", command=query, reply=reply)

    def _expect_number(self, query: str, reply: str, value: float) -> None:
        try:
            got = float(reply.split()[0])
        except (ValueError, IndexError):
            raise InstrumentReplyError(self.name, "expected a number", command=query, reply=reply) from None
        if not _same(got, value):
            raise InstrumentReplyError(
                self.name, f"read-back differs from the {value:.9g} sent", command=query, reply=reply
            )

    # -- capability ------------------------------------------------------------------------
    def available(self) -> set[str]:
        return set(self._available)

    def targets(self, stimulus: str) -> list[str]:
        """The names the device accepts for `stimulus` (`STIM:CAT? <stimulus>`), for diagnosis."""
        self._require(stimulus)
        return _split(self.conn.query(f"STIM:CAT? {stimulus}"))

    def gas_release(self, source: str, rates: Mapping[str, pint.Quantity] | None) -> str:
        self._require("gas_release")
        check_name(self.name, "gas source", source)
        query = f'STIM:GAS? "{source}"'
        if rates is None:
            self._expect_off(query, self._apply(f'STIM:GAS "{source}",OFF', query))
            return f"gas release {source!r} stopped"
        values = gas_rates(self.name, source, rates)
        reply = self._apply(f'STIM:GAS "{source}",' + ",".join(f"{s}={r:.9g}" for s, r in values.items()), query)
        try:
            back = {k.strip(): float(v) for k, _, v in (item.partition("=") for item in reply.split(","))}
        except ValueError:
            raise InstrumentReplyError(
                self.name, "expected <species>=<ppm/s>,...", command=query, reply=reply
            ) from None
        if back.keys() != values.keys() or not all(_same(back[s], r) for s, r in values.items()):
            raise InstrumentReplyError(self.name, "read-back differs from the rates sent", command=query, reply=reply)
        return f"gas release {source!r} started: " + ", ".join(f"{s} {fmt(r, 'ppm/s')}" for s, r in values.items())

    def _setting(self, head: str, target: str, number: float | None, suffix: str = "") -> None:
        """`STIM:<head> [<target>,]<number>[ <suffix>]|OFF`, then its read-back must agree."""
        lead = f"{target}," if target else ""
        query = f"STIM:{head}? {target}".rstrip()
        if number is None:
            self._expect_off(query, self._apply(f"STIM:{head} {lead}OFF", query))
        else:
            self._expect_number(query, self._apply(f"STIM:{head} {lead}{number:.9g}{suffix}", query), number)

    def sensor_override(self, channel: str, value: pint.Quantity | None) -> str:
        self._require("sensor_override")
        check_name(self.name, "sensor channel", channel)
        if value is None:
            self._setting("SENS", f'"{channel}"', None)
            return f"sensor {channel} released"
        number, unit, suffix = sensor_value(self.name, channel, value)
        self._setting("SENS", f'"{channel}"', number, f" {suffix}")
        return f"sensor {channel} forced to {fmt(number, unit)}"

    def ventilation(self, flow: pint.Quantity | None) -> str:
        self._require("ventilation")
        m3h = None if flow is None else in_unit(self.name, "exhaust flow", flow, "m**3/h", minimum=0.0)
        self._setting("VENT", "", m3h)
        return "enclosure exhaust stopped" if m3h is None else f"enclosure exhaust at {fmt(m3h, 'm³/h')}"

    def heat(self, zone: str, power: pint.Quantity | None) -> str:
        self._require("heat")
        check_name(self.name, "heat zone", zone)
        watts = None if power is None else in_unit(self.name, f"heater power on {zone}", power, "W", minimum=0.0)
        self._setting("HEAT", f'"{zone}"', watts)
        return f"heater on {zone} off" if watts is None else f"heater on {zone} at {fmt(watts, 'W')}"

    def cut_link(self, role: str, cut: bool = True) -> str:
        self._require("cut_link")
        check_name(self.name, "link role", role)
        query = f'STIM:LINK? "{role}"'
        reply = self._apply(f'STIM:LINK "{role}",{"CUT" if cut else "RESTORE"}', query).upper()
        if reply != ("CUT" if cut else "CONNECTED"):
            raise InstrumentReplyError(
                self.name, f"link not {'cut' if cut else 'restored'}", command=query, reply=reply
            )
        return f"link of {role} {'cut' if cut else 'restored'}"

    def cell_voltage_step(self, cell: int, value: pint.Quantity | None) -> str:
        self._require("cell_voltage_step")
        i = cell_index(self.name, cell)
        volts = None if value is None else in_unit(self.name, f"cell {i} voltage", value, "V", minimum=0.0)
        self._setting("CELL", str(i), volts)
        return f"cell {i} voltage released" if volts is None else f"cell {i} voltage stepped to {fmt(volts, 'V')}"

    def applied(self) -> list[str]:
        reply = self.conn.query("STIM:ACT?")
        return [] if reply.upper() == "NONE" else _split(reply)

    def release_all(self) -> str:
        self.conn.write_checked("STIM:REL:ALL")
        left = self.applied()
        if left:
            raise InstrumentError(
                self.name, "stimuli still applied after STIM:REL:ALL", command="STIM:ACT?", reply="; ".join(left)
            )
        return "every stimulus released (confirmed STIM:ACT? = NONE)"
