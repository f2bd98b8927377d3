"""The `Stimulus` capability performed by the operator: a prompt, a typed confirmation, a witness.

Station entry: `[roles.stimulus] driver = "instruments.operator_stimulus:OperatorStimulus"`,
`resource = "operator"`. Each stimulus is asked through the bench prompt (the session hands the
driver its `Prompter` with `attach_prompt`), under a stable key, so prepared answers
(`[simulation.prompts]`, `--answers`) can answer it:

    stimulus.<stimulus>.<name>           apply   (stimulus.sensor_override.cell_temperature[0])
    stimulus.<stimulus>.<name>.off       release (stimulus.gas_release.bump.off, stimulus.cut_link.bms_can.off)
    stimulus.ventilation[.off]           stimulus.cell_voltage_step.<cell>[.off]
    stimulus.release_all                 release everything still applied (safe state)
    stimulus.witness                     the witness's name, asked after every confirmation

The operator confirms by typing `done`, or the value applied (e.g. `85 degC`, checked against
the value asked within `value_tolerance`); with `confirm_value = true` a stimulus with a value
needs the value. Any other answer is a refusal: nothing is recorded as applied and the plan's
step fails with `StimulusNotConfirmed`. The question, the confirmation and the witness are
journalled by the prompt, and once more together as one `stimulus` event.

Options: `stimuli = [...]` (what this bench's operator can do; default all six),
`confirm_value`, `value_tolerance` ("1 %"). On a simulated station the simulated station starts
the simulated operator (instruments/sim/operator.py) and hands this driver
`operator+<VISA resource>`: after each confirmed prompt the same stimulus is sent to those
simulated hands, which act on the plant, so CI runs this backend's prompts and journal exactly
as a bench does and the plant still responds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import Stimulus
from instruments.errors import InstrumentError
from instruments.hil_stimulus import HilStimulus
from instruments.stimulus_args import cell_index, check_name, fmt, gas_rates, in_unit, sensor_value

STIMULI = ("gas_release", "sensor_override", "ventilation", "heat", "cut_link", "cell_voltage_step")
WITNESS_KEY = "stimulus.witness"
_WITNESS_EXTRA = set(" .'-")


class StimulusNotConfirmed(InstrumentError):
    """The operator did not confirm a stimulus (or gave no valid witness): it is not applied."""


class OperatorStimulus(Stimulus):
    SIMULATOR = "instruments.sim.operator:serve"
    safe_state_order = 95  # asks a person: every automatic safe state first, never delayed by a prompt

    def __init__(
        self,
        resource: str,
        *,
        name: str = "stimulus",
        timeout: pint.Quantity = Q_(2, "s"),
        stimuli: list[str] | None = None,
        confirm_value: bool = False,
        value_tolerance: str = "1 %",
    ) -> None:
        super().__init__(name)
        kind, plus, hands = resource.partition("+")
        if kind != "operator" or (plus and not hands):
            raise ValueError(
                f'{name}: resource must be "operator" (or "operator+<VISA>" as the simulated '
                f"station passes it), got {resource!r}"
            )
        allowed = list(STIMULI) if stimuli is None else stimuli
        if not isinstance(allowed, list) or not all(isinstance(s, str) for s in allowed):
            raise ValueError(f"{name}: options.stimuli must be a list of stimulus names, got {stimuli!r}")
        unknown = sorted(set(allowed) - set(STIMULI))
        if unknown:
            raise ValueError(f"{name}: options.stimuli has unknown stimuli {unknown!r}; known: {', '.join(STIMULI)}")
        self._allowed = set(allowed)
        if not isinstance(confirm_value, bool):
            raise ValueError(f"{name}: options.confirm_value must be true or false, got {confirm_value!r}")
        self._confirm_value = confirm_value
        try:
            tol = Q_(value_tolerance).to("").magnitude
        except Exception as exc:  # pint raises several types for text that is not a quantity
            raise ValueError(
                f'{name}: options.value_tolerance must be a fraction such as "1 %", got {value_tolerance!r}'
            ) from exc
        if not 0 <= tol < 1:
            raise ValueError(f"{name}: options.value_tolerance must be between 0 % and 100 %, got {value_tolerance!r}")
        self._tolerance = float(tol)
        self._prompt: Callable[..., str] | None = None
        self._journal: Callable[..., None] | None = None
        self._applied: dict[tuple[str, str], str] = {}
        self._hands: HilStimulus | None = (
            HilStimulus(hands, name=f"{name} (simulated operator)", timeout=timeout) if hands else None
        )

    # -- wiring ------------------------------------------------------------------------------
    def attach_prompt(self, prompter: Callable[..., str]) -> None:
        """The bench session's prompt (bench.prompts.Prompter): how the operator is asked."""
        self._prompt = prompter
        self._journal = getattr(prompter, "journal_event", None)

    def identity(self) -> str:
        hands = f"; simulated hands {self._hands.identity()}" if self._hands else ""
        return f"operator at the bench (prompted, typed confirmation, witnessed){hands}"

    def close(self) -> None:
        if self._hands is not None:
            self._hands.close()

    def available(self) -> set[str]:
        return set(self._allowed) & (self._hands.available() if self._hands else set(STIMULI))

    def applied(self) -> list[str]:
        return list(self._applied.values())

    # -- the exchange -------------------------------------------------------------------------
    def _require(self, stimulus: str) -> None:
        if stimulus not in self.available():
            raise NotImplementedError(
                f"{self.name}: stimulus {stimulus!r} is not available from the operator of "
                f"this station (options.stimuli: {', '.join(sorted(self._allowed))})"
            )

    def _ask(self, key: str, question: str) -> str:
        if self._prompt is None:
            raise InstrumentError(
                self.name,
                "no operator prompt attached (the bench session attaches it when the station is opened)",
                command=key,
            )
        return str(self._prompt(key, question)).strip()

    def _matches(self, answer: str, asked: pint.Quantity) -> bool:
        try:
            typed = Q_(answer)
            if not isinstance(typed, pint.Quantity):
                return False
            a = float(asked.magnitude)
            b = float(typed.to(asked.units).magnitude)
        except Exception:  # not a quantity, or not of the asked dimension
            return False
        return math.isfinite(b) and abs(b - a) <= self._tolerance * max(abs(a), 1.0)

    def _witness(self, what: str) -> str:
        name = self._ask(WITNESS_KEY, f"Witness of '{what}': type your name")
        if (
            not 2 <= len(name) <= 64
            or not all(c.isalpha() or c in _WITNESS_EXTRA for c in name)
            or not name[0].isalpha()
        ):
            raise StimulusNotConfirmed(
                self.name, "witness name must be 2-64 letters, spaces, . ' or -", command=WITNESS_KEY, reply=name
            )
        return name

    def _act(
        self,
        stimulus: str,
        key: str,
        what: str,
        instruction: str,
        *,
        asked: pint.Quantity | None = None,
        hands: Callable[[HilStimulus], Any] | None = None,
        applies: str | None = None,
        releases: tuple[str, str] | None = None,
    ) -> str:
        """Ask, check the confirmation, take the witness, let the simulated hands act, journal."""
        valued = asked is not None
        need = f"the value applied ({fmt(float(asked.magnitude), f'{asked.units:~P}')})" if valued else ""
        expect = need if valued and self._confirm_value else (f'"done" or {need}' if valued else '"done"')
        question = f"{instruction}; type {expect}"
        answer = self._ask(key, question)
        ok = (answer.lower() == "done" and not (valued and self._confirm_value)) or (
            valued and self._matches(answer, asked)
        )
        data = {
            "backend": "operator",
            "role": self.name,
            "stimulus": stimulus,
            "key": key,
            "question": question,
            "confirmation": answer,
        }
        if not ok:
            self._event(f"{self.name}: {what} NOT confirmed (answer {answer!r})", {**data, "confirmed": False})
            raise StimulusNotConfirmed(
                self.name, f"operator did not confirm: {what} (expected {expect})", command=key, reply=answer
            )
        witness = self._witness(what)
        if hands is not None and self._hands is not None:
            hands(self._hands)
        if applies is not None:
            self._applied[(stimulus, applies)] = what
        if releases is not None:
            self._applied.pop(releases, None)
        self._event(
            f"{self.name}: {what} (confirmed {answer!r}, witness {witness})",
            {**data, "confirmed": True, "witness": witness},
        )
        return f"{what} (operator confirmed {answer!r}, witness {witness})"

    def _event(self, message: str, data: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal("stimulus", message, data)

    # -- capability ---------------------------------------------------------------------------
    def gas_release(self, source: str, rates: Mapping[str, pint.Quantity] | None) -> str:
        self._require("gas_release")
        check_name(self.name, "gas source", source)
        key = f"stimulus.gas_release.{source}"
        if rates is None:
            return self._act(
                "gas_release",
                f"{key}.off",
                f"gas release {source!r} stopped",
                f"Stop the gas release '{source}' now",
                hands=lambda h: h.gas_release(source, None),
                releases=("gas_release", source),
            )
        values = gas_rates(self.name, source, rates)
        text = ", ".join(f"{s} {fmt(r, 'ppm/s')}" for s, r in values.items())
        return self._act(
            "gas_release",
            key,
            f"gas release {source!r} started: {text}",
            f"Start the gas release '{source}' ({text} into the enclosure) now",
            hands=lambda h: h.gas_release(source, rates),
            applies=source,
        )

    def sensor_override(self, channel: str, value: pint.Quantity | None) -> str:
        self._require("sensor_override")
        check_name(self.name, "sensor channel", channel)
        key = f"stimulus.sensor_override.{channel}"
        if value is None:
            return self._act(
                "sensor_override",
                f"{key}.off",
                f"sensor {channel} released",
                f"Release the override of sensor {channel} now",
                hands=lambda h: h.sensor_override(channel, None),
                releases=("sensor_override", channel),
            )
        number, unit, _ = sensor_value(self.name, channel, value)
        return self._act(
            "sensor_override",
            key,
            f"sensor {channel} forced to {fmt(number, unit)}",
            f"Force sensor {channel} to read {fmt(number, unit)} now",
            asked=Q_(number, unit),
            hands=lambda h: h.sensor_override(channel, value),
            applies=channel,
        )

    def ventilation(self, flow: pint.Quantity | None) -> str:
        self._require("ventilation")
        if flow is None:
            return self._act(
                "ventilation",
                "stimulus.ventilation.off",
                "enclosure exhaust stopped",
                "Stop the enclosure exhaust now",
                hands=lambda h: h.ventilation(None),
                releases=("ventilation", "exhaust"),
            )
        m3h = in_unit(self.name, "exhaust flow", flow, "m**3/h", minimum=0.0)
        return self._act(
            "ventilation",
            "stimulus.ventilation",
            f"enclosure exhaust at {fmt(m3h, 'm³/h')}",
            f"Run the enclosure exhaust at {fmt(m3h, 'm³/h')} now",
            asked=Q_(m3h, "m**3/h"),
            hands=lambda h: h.ventilation(flow),
            applies="exhaust",
        )

    def heat(self, zone: str, power: pint.Quantity | None) -> str:
        self._require("heat")
        check_name(self.name, "heat zone", zone)
        key = f"stimulus.heat.{zone}"
        if power is None:
            return self._act(
                "heat",
                f"{key}.off",
                f"heater on {zone} off",
                f"Switch the heater on {zone} off now",
                hands=lambda h: h.heat(zone, None),
                releases=("heat", zone),
            )
        watts = in_unit(self.name, f"heater power on {zone}", power, "W", minimum=0.0)
        return self._act(
            "heat",
            key,
            f"heater on {zone} at {fmt(watts, 'W')}",
            f"Switch the heater on {zone} on at {fmt(watts, 'W')} now",
            asked=Q_(watts, "W"),
            hands=lambda h: h.heat(zone, power),
            applies=zone,
        )

    def cut_link(self, role: str, cut: bool = True) -> str:
        self._require("cut_link")
        check_name(self.name, "link role", role)
        key = f"stimulus.cut_link.{role}"
        if not cut:
            return self._act(
                "cut_link",
                f"{key}.off",
                f"link of {role} restored",
                f"Reconnect the communication link of station role '{role}' now",
                hands=lambda h: h.cut_link(role, False),
                releases=("cut_link", role),
            )
        return self._act(
            "cut_link",
            key,
            f"link of {role} cut",
            f"Disconnect the communication link of station role '{role}' (unplug its cable) now",
            hands=lambda h: h.cut_link(role, True),
            applies=role,
        )

    def cell_voltage_step(self, cell: int, value: pint.Quantity | None) -> str:
        self._require("cell_voltage_step")
        i = cell_index(self.name, cell)
        key = f"stimulus.cell_voltage_step.{i}"
        if value is None:
            return self._act(
                "cell_voltage_step",
                f"{key}.off",
                f"cell {i} voltage released",
                f"Release the cell-simulator channel of cell {i} now",
                hands=lambda h: h.cell_voltage_step(i, None),
                releases=("cell_voltage_step", str(i)),
            )
        volts = in_unit(self.name, f"cell {i} voltage", value, "V", minimum=0.0)
        return self._act(
            "cell_voltage_step",
            key,
            f"cell {i} voltage stepped to {fmt(volts, 'V')}",
            f"Set the cell-simulator channel of cell {i} to {fmt(volts, 'V')} now",
            asked=Q_(volts, "V"),
            hands=lambda h: h.cell_voltage_step(i, value),
            applies=str(i),
        )

    def release_all(self) -> str:
        if not self._applied:
            return "no stimulus applied (operator backend)"
        listing = "; ".join(self._applied.values())
        done = self._act(
            "release_all",
            "stimulus.release_all",
            f"every stimulus released ({listing})",
            f"Release every stimulus still applied: {listing}",
            hands=lambda h: h.release_all(),
        )
        self._applied.clear()
        return done
