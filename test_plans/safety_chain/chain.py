"""Safety-chain helpers: the BMS settings a step provokes against, and following a provoked hazard
along its whole chain to the response.

Every hazard is provoked through the `stimulus` capability (a HIL device, its simulation on a
simulated station, or the operator with a witness) and observed through instruments only. One
path per hazard is watched from the stimulus command (its time taken before the command, so a
response is never understated):

    stimulus -> detection -> alarm -> contactor open -> current zero

* detection: the reading that shows the hazard: the gas detector's stage or pressure alarm, the
  temperatures the BMS reports, or the bench's own view of the BMS link;
* alarm: the BMS's alarm output, by its specific flag where the link carries one (SunSpec 802
  Evt1, foxBMS MSL flags), else by its general error or error state;
* contactor open: the contactor's auxiliary contact as the BMS reports it;
* current zero: the pack current as the load measures it, an instrument independent of the BMS.

Detection is timed from the stimulus; alarm, contactor and current from the detection (the
response the system owes once the hazard is there to be seen), except where the DUT's own
detection cannot be observed (a cut link: from the cut). A link not seen within its window is
journalled as the window, which `check_windows` (run at load time) makes longer than every limit
it is judged against, so a missing response can only FAIL. A link already showing before the
stimulus (an alarm latched earlier, no current flowing) cannot be timed: journalled NaN, i.e.
INDETERMINATE, never PASS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pint

from bench.errors import ConfigError, ConfigErrors
from bench.prompts import PromptError
from bench.units import Q_
from instruments.capabilities import BmsConfiguration, BmsStatus

LINKS = ("detection", "alarm", "trip", "zero")
SHUTDOWN_STATES = ("ERROR", "FAULT")  # foxBMS BmsState ERROR, SunSpec 802 State FAULT
GENERAL_ALARMS = ("general_error", "error_state", "emergency_shutoff", "OTHER_ALARM")
SHUTDOWN_ALARMS = ("error_state", "emergency_shutoff")
# BmsStatus.alarms names by hazard: foxBMS 2 CAN (instruments/foxbms_can.py) and SunSpec 802 Evt1
ALARMS: dict[str, tuple[str, ...]] = {
    "thermal": ("cell_ot", "cell_ot_charge", "cell_ot_discharge", "OVER_TEMP_ALARM"),
    "ror": ("temp_rise_rate",),
    "gradient": ("thermal_gradient", "TEMPERATURE_IMBALANCE_ALARM"),
    "gas_stage1": ("gas_stage1",),
    "gas_stage2": ("gas_stage2",),
    "pressure": ("pressure",),
    "comms": ("comms_loss", "COMMUNICATION_ERROR"),
}


@dataclass(frozen=True)
class PathSpec:
    """One hazard's chain: the measurement journalled for each link (None: not part of this
    path), the windows (limit-set parameters) and where the response is timed from."""

    detection: str
    alarm: str | None
    trip: str | None
    zero: str | None
    detection_window: str
    response_window: str
    respond_from: str = "detection"  # or "stimulus" where the DUT's detection is not observable

    def names(self) -> dict[str, str]:
        return {k: v for k, v in zip(LINKS, (self.detection, self.alarm, self.trip, self.zero), strict=True) if v}


PATHS: dict[str, PathSpec] = {
    "thermal": PathSpec(
        "thermal.detection_time",
        "thermal.alarm_time",
        "thermal.trip_time",
        "thermal.current_zero_time",
        "thermal.detection_window",
        "thermal.response_window",
    ),
    "ror": PathSpec(
        "ror.detection_time",
        "ror.alarm_time",
        "ror.trip_time",
        "ror.current_zero_time",
        "ror.detection_window",
        "ror.response_window",
    ),
    "gradient": PathSpec(
        "gradient.detection_time",
        "gradient.alarm_time",
        "gradient.trip_time",
        "gradient.current_zero_time",
        "gradient.detection_window",
        "gradient.response_window",
    ),
    "gas_stage1": PathSpec(
        "gas.stage1_response", "gas.stage1_alarm_time", None, None, "gas.stage1_window", "gas.response_window"
    ),
    "gas_stage2": PathSpec(
        "gas.stage2_response",
        "gas.stage2_alarm_time",
        "gas.stage2_trip_time",
        "gas.shutdown_time",
        "gas.stage2_window",
        "gas.response_window",
    ),
    "pressure": PathSpec(
        "pressure.alarm_response",
        "pressure.alarm_time",
        "pressure.trip_time",
        "pressure.current_zero_time",
        "pressure.detection_window",
        "pressure.response_window",
    ),
    "comms": PathSpec(
        "comms.link_lost_time",
        None,
        None,
        "comms.safe_state_time",
        "comms.detection_window",
        "comms.observe",
        respond_from="stimulus",
    ),
}


def seconds(q: pint.Quantity) -> float:
    return float(q.to("s").magnitude)


# -- alarms -------------------------------------------------------------------------------------------
def alarm_raised(st: BmsStatus, hazard: str, *, general: bool = True) -> bool:
    """The BMS shows an alarm for `hazard`: its own flag, or (a link with no such flag, e.g. foxBMS
    CAN for gas) its general error (`general`), or its shutdown state. Gas stage 2 and pressure
    pass general=False: a stage-1 alarm has already raised the general error by then."""
    names = ALARMS[hazard] + (GENERAL_ALARMS if general else SHUTDOWN_ALARMS)
    return st.state in SHUTDOWN_STATES or any(st.alarms.get(n, False) for n in names)


def active_alarms(st: BmsStatus) -> list[str]:
    """Alarms (not warnings) the BMS shows: for notes and for the precondition of a path."""
    return [
        n
        for n in st.active_alarms()
        if not (n.startswith("warn_") or n.endswith("WARNING") or n in ("general_warning", "alert"))
    ]


# -- configured BMS settings ---------------------------------------------------------------------------
SETTINGS: dict[str, tuple[str, str, str]] = {  # name -> (unit, what it is, example answer)
    "ot_charge_trip": ("degC", "the cell over-temperature trip while charging", "55 degC"),
    "ot_discharge_trip": ("degC", "the cell over-temperature trip while discharging", "55 degC"),
    "ror_alarm": ("K/min", "the cell temperature rate-of-rise alarm", "2 K/min"),
    "gradient_alarm": ("K", "the cell temperature gradient alarm (hottest minus coldest)", "10 K"),
}
WITNESS_KEY = "bms.setting.witness"
_WITNESS_EXTRA = set(" .'-")


def _as_setting(name: str, value: Any, origin: str) -> pint.Quantity:
    unit = SETTINGS[name][0]
    try:
        q = Q_(value) if isinstance(value, str) else value
        if not isinstance(q, pint.Quantity) or q.dimensionless:
            raise ValueError("no unit")
        q = q.to(unit)
    except Exception:  # noqa: BLE001 - pint raises assorted errors for text that is not a quantity
        raise PromptError(
            f"BMS setting {name!r} ({origin}): expected a value in {unit} such as {SETTINGS[name][2]!r}, got {value!r}"
        ) from None
    if not math.isfinite(float(q.magnitude)):
        raise PromptError(f"BMS setting {name!r} ({origin}): non-finite value {value!r} refused")
    return q


def configured(bms: Any, prompt: Callable[..., str], name: str) -> tuple[pint.Quantity, str]:
    """A protection setting the BMS holds, and where it came from.

    Read from the device where its driver offers a configuration read (`BmsConfiguration`);
    otherwise the operator reads it from the BMS configuration tool and types it with its unit
    (prompt key `bms.setting.<name>`), and a witness confirms by name (`bms.setting.witness`);
    both answers are journalled by the prompt. Never assumed, never taken from a simulator."""
    unit, what, example = SETTINGS[name]
    if isinstance(bms, BmsConfiguration):
        read = bms.protection_settings()
        if name in read:
            return _as_setting(
                name, read[name], f"configuration read of {bms.name}"
            ), f"read from {bms.name} (configuration read)"
    key = f"bms.setting.{name}"
    answer = prompt(
        key, f"Read {what} from the BMS configuration tool of {bms.name} and type it with its unit (e.g. {example})"
    )
    value = _as_setting(name, str(answer).strip(), f"prompt {key}")
    witness = str(prompt(WITNESS_KEY, f"Witness of the BMS setting read ({what} = {value:~P}): type your name"))
    witness = witness.strip()
    if (
        not 2 <= len(witness) <= 64
        or not witness[0].isalpha()
        or not all(c.isalpha() or c in _WITNESS_EXTRA for c in witness)
    ):
        raise PromptError(
            f"prompt {WITNESS_KEY!r}: a witness name is 2-64 letters, spaces, . ' or -, "
            f"got {witness!r}; the setting {name} = {value:~P} is not accepted unwitnessed"
        )
    return value, f"typed by the operator from the BMS tool (prompt {key}), witnessed by {witness}"


# -- following one hazard along its chain ----------------------------------------------------------
@dataclass
class Seen:
    """What one look at the instruments shows, link by link."""

    detection: bool = False
    alarm: bool = False
    trip: bool = False
    zero: bool = False
    note: str = ""


@dataclass
class Response:
    """When each link of one hazard's chain was first seen, in s after the stimulus."""

    hazard: str
    spec: PathSpec
    detection_window_s: float
    response_window_s: float
    times: dict[str, float] = field(default_factory=dict)
    before: Seen = field(default_factory=Seen)  # what already showed before the stimulus
    watched_s: float = 0.0
    ended: str = ""
    notes: list[str] = field(default_factory=list)

    def reference(self) -> float:
        """Where the response links are timed from: the detection, or the stimulus."""
        if self.spec.respond_from == "detection" and "detection" in self.times:
            return self.times["detection"]
        return 0.0

    def value(self, link: str) -> tuple[pint.Quantity, str]:
        """The journalled value of a link and why: its time, the window if not seen, NaN if untimeable."""
        if getattr(self.before, link):
            return Q_(math.nan, "s"), f"already showing before the stimulus ({self.before.note or link}): not timed"
        if link == "detection":
            if link not in self.times:
                return Q_(self.detection_window_s, "s"), (
                    f"not seen within the {self.detection_window_s:g} s window ({self.ended})"
                )
            return Q_(self.times[link], "s"), "from the stimulus command"
        ref = self.reference()
        origin = "the stimulus command" if ref == 0.0 else f"detection at {ref:.3g} s"
        if link not in self.times:
            if self.spec.respond_from == "detection" and "detection" not in self.times:
                return Q_(self.response_window_s, "s"), (
                    f"not seen, and no detection, in {self.watched_s:.4g} s after the stimulus command ({self.ended})"
                )
            return Q_(self.response_window_s, "s"), (
                f"not seen within the {self.response_window_s:g} s window after {origin} ({self.ended})"
            )
        dt = self.times[link] - ref
        if dt < 0:
            return Q_(0.0, "s"), f"seen {-dt:.3g} s before {origin}"
        return Q_(dt, "s"), f"from {origin}"


def watch(
    clock: Any,
    t0: float,
    spec: PathSpec,
    limits: Any,
    probe: Callable[[], Seen],
    *,
    hazard: str,
    poll: pint.Quantity,
    before: Seen | None = None,
    abort: Callable[[], str] | None = None,
) -> Response:
    """Look at the instruments every `poll` until every link of the path is seen or its window
    ends (or `abort()` names a reason to stop the stimulus early); the time of a look is taken
    after it, so a link is never dated earlier than it was seen."""
    r = Response(
        hazard,
        spec,
        seconds(limits.param(spec.detection_window)),
        seconds(limits.param(spec.response_window)),
        before=before or Seen(),
    )
    wanted = list(spec.names())
    step = seconds(poll)
    horizon = r.detection_window_s + r.response_window_s
    for _ in range(int(horizon / step) + 3):
        seen = probe()
        now = clock.now_s() - t0
        for link in LINKS:
            if getattr(seen, link) and link not in r.times:
                r.times[link] = now
        if seen.note:
            r.notes.append(seen.note)
        if all(k in r.times for k in wanted):
            r.ended = "every link seen"
            break
        detected = "detection" in r.times
        if spec.respond_from == "detection":
            deadline = r.times["detection"] + r.response_window_s if detected else r.detection_window_s
        else:
            deadline = r.response_window_s if detected else max(r.detection_window_s, r.response_window_s)
        if now >= deadline - 1e-9:
            r.ended = f"watched {now:.4g} s"
            break
        why = abort() if abort is not None else ""
        if why:
            r.ended = why
            break
        clock.sleep(Q_(min(step, deadline - now), "s"))
    r.watched_s = clock.now_s() - t0
    return r


def journal_response(
    r: Response,
    measure: Callable[..., Any],
    require: Callable[..., Any],
    instruments: dict[str, Any],
    *,
    required: tuple[str, ...] = ("zero",),
    note: str = "",
) -> None:
    """Journal every link of the path; the links in `required` last, with `require` (a missing or
    late protective response stops the run: the later steps must not run on a system known to
    lack one layer of protection)."""
    names = r.spec.names()
    order = [k for k in LINKS if k in names and k not in required] + [k for k in LINKS if k in names and k in required]
    for link in order:
        value, why = r.value(link)
        text = "; ".join(x for x in (why, note if link == "detection" else "") if x)
        (require if link in required else measure)(names[link], value, instrument=instruments.get(link), note=text)


# -- load-time check --------------------------------------------------------------------------------
def check_windows(limits: Any) -> None:
    """Every window must be longer than the limits judged from it: a link not seen is journalled as
    its window, and that must FAIL, never PASS (plan.toml `checks`, run when the limits load)."""
    errors: list[ConfigError] = []

    def source(param: str) -> str:
        for s in limits.sets:
            if param in s.parameters:
                return str(s.path)
        return ""

    for hazard, spec in PATHS.items():
        for link, name in spec.names().items():
            window_param = spec.detection_window if link == "detection" else spec.response_window
            try:
                window = limits.param(window_param)
            except KeyError:
                continue  # a missing parameter is reported by the declarations
            lim = limits.get(name)
            if lim is None or lim.high is None:
                errors.append(
                    ConfigError(
                        f"measurement {name!r} ({hazard} chain) needs a max limit: a response "
                        f"time without one cannot fail",
                        source=source(window_param),
                        key=f"limits.{name}",
                    )
                )
                continue
            if window <= lim.high:
                errors.append(
                    ConfigError(
                        f"window {window:~P} must be longer than the {lim.high:~P} limit of "
                        f"{name!r}: a {link} never seen is journalled as the window and must FAIL",
                        source=source(window_param),
                        key=f"parameters.{window_param}",
                    )
                )
    if errors:
        raise ConfigErrors(errors)


# -- sums ---------------------------------------------------------------------------------------------
def lfl_mixture(composition: dict[str, float], component_lfl: dict[str, float]) -> float:
    """Le Chatelier: 1/LFL_mix = sum(y_i / LFL_i) over the flammable components (inerts count zero)."""
    inv = sum(y / component_lfl[g] for g, y in composition.items() if g in component_lfl)
    if inv <= 0:
        raise ValueError("the vent gas has no flammable component with a known LFL")
    return 1.0 / inv


def interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear lookup in a derating curve, held flat beyond its ends."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]
