"""BMS protective functions (UL 1974 S8, derived): provoke OV, UV, OC, OT and time the response.

OV and UV are provoked by a cell-voltage step where the station has one (a HIL cell-simulator
channel, or the simulated station's stimulus server): what the BMS measures on one cell jumps
beyond the alarm level, so the response is timed from a known instant and judged against the
OEM delay plus the contactor time (limits `bms.ov.response_time`, `bms.uv.response_time`).
Where the station declares no step stimulus, the instruments ramp the module itself: the supply
over-charges at a limited current and stops at `bms.ov.bound`, the load over-discharges and
stops at `bms.uv.bound`. A debounced BMS with mV-level sensor noise restarts its delay on noise
dips near the threshold of a slow ramp, so that timing carries seconds of ambiguity and is
judged against the wider `bms.ov.response_time_ramp` / `bms.uv.response_time_ramp`.
OC: the supply, current-limited, pushes `bms.oc.current` for at most `bms.oc.hold`.
OT: a temperature-sensor override through the stimulus layer where the station offers one, timed;
otherwise the chamber heats the module towards `bms.ot.chamber_setpoint` (never beyond) and the
detection value is judged (`bms.ot.trip_temperature`), because a slow thermal creep read in whole
degrees hides the instant of the crossing.

Response time = contactor observed open - stimulus observed (threshold crossed, or the step
command), at the `bms.poll` resolution. "Acted" means alarm raised AND contactor open. Every
stimulus is released in a `finally`, and the BMS re-armed, before the next. Every magnitude comes
from the limit set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pint

from bench.units import Q_
from test_plans.module_intake.procedures import allowed_current, rearm, source_cv
from test_plans.module_intake.state import NotMeasurable, fraction


@dataclass
class Outcome:
    kind: str
    detected: bool
    acted: bool
    response_time: pint.Quantity | None
    note: str
    method: str = "ramp"  # "step" (stimulus) or "ramp" (instruments): selects the response-time limit
    tested: bool = True  # False: a precondition failed (no current allowed...), not a BMS failure
    trip_value: pint.Quantity | None = None  # OT by chamber: the hottest reading before the contactor opened


ALARM_KEYS = {
    "ov": ("cell_ov",),
    "uv": ("cell_uv",),
    "oc": ("oc_charge", "oc_discharge"),
    "ot": ("cell_ot", "cell_ot_charge", "cell_ot_discharge"),
}


def _alarm(st: Any, kind: str) -> bool:
    return any(st.alarms.get(k, False) for k in ALARM_KEYS[kind])


def _rearm(bms: Any, psu: Any, load: Any, clock: Any, limits: Any, event: Any) -> bool:
    """Outputs off, standby, clear latched faults; True once the BMS is out of ERROR."""
    p = limits.param
    if rearm(bms, psu, load, clock, timeout=p("bms.rearm_timeout"), poll=p("bms.rearm_poll")):
        return True
    event("deviation", "BMS stayed in ERROR after a provocation: later functions cannot be tested")
    return False


def _watch(
    bms: Any,
    clock: Any,
    kind: str,
    t_stim: float,
    poll: pint.Quantity,
    timeout: pint.Quantity,
    stop: Any,
    beyond: Any = None,
    method: str = "ramp",
) -> Outcome:
    """Poll until the contactor opens or `timeout` after the stimulus; `stop()` ends the stimulus.

    For a ramped stimulus (`beyond(status)` given) the response is timed from the start of the
    last uninterrupted run of readings beyond the threshold: noise makes a slow ramp flicker across
    it, and a debounced BMS rightly restarts its delay on each dip.
    """
    detected = False
    run_start: float | None = t_stim
    limit_s = float(timeout.to("s").magnitude)
    n = int(limit_s / float(poll.to("s").magnitude)) + 1
    for _ in range(n):
        st = bms.status()
        detected = detected or _alarm(st, kind)
        now = clock.now_s()
        if beyond is not None and st.contactor_closed:
            run_start = (run_start if run_start is not None else now) if beyond(st) else None
        if not st.contactor_closed:
            stop()
            t_open = now
            for _ in range(int(limit_s / poll.to("s").magnitude) + 1):  # the alarm latches; give it time to show
                if detected:
                    break
                clock.sleep(poll)
                detected = _alarm(bms.status(), kind)
            start = run_start if run_start is not None else t_stim
            dt = Q_(t_open - start, "s")
            first = f", first crossing {t_open - t_stim:.2f} s before" if start != t_stim else ""
            origin = "the step" if method == "step" else "the sustained crossing"
            alarms = ", ".join(bms.status().active_alarms()) or "none reported"
            return Outcome(
                kind,
                detected,
                detected,
                dt,
                f"alarm {'seen' if detected else 'NOT seen'}, contactor open after {dt:~.3fP}"
                f" (from {origin}{first}; BMS alarms: {alarms})",
                method,
            )
        clock.sleep(poll)
    stop()
    return Outcome(kind, detected, False, None, f"contactor still closed {timeout:~P} after the stimulus", method)


def _ramp_until(
    bms: Any, clock: Any, reached: Any, coarse: pint.Quantity, fine: pint.Quantity, near: Any, limit: pint.Quantity
) -> str:
    """Advance coarse, then fine near the threshold, until `reached(status)`.

    Returns "reached", "acted early" (the contactor opened before a reading beyond the threshold
    was seen: the poll was too coarse to time the response) or "timeout".
    """
    t0 = clock.now_s()
    limit_s = float(limit.to("s").magnitude)
    step = coarse
    while clock.now_s() - t0 < limit_s:
        st = bms.status()
        if reached(st):
            return "reached"
        if not st.contactor_closed:
            return "acted early"
        step = fine if near(st) else coarse
        clock.sleep(step)
    return "timeout"


def _ramp_failed(kind: str, how: str, bms: Any, limit: pint.Quantity) -> Outcome:
    if how == "acted early":
        detected = _alarm(bms.status(), kind)
        return Outcome(
            kind,
            detected,
            detected,
            None,
            "the BMS acted before the ramp was seen crossing its threshold: "
            "response time not measured (poll coarser than the ramp)",
            tested=not detected,
        )
    return Outcome(kind, False, False, None, f"threshold never reached within {limit:~P}")


def _can_step(stimulus: Any) -> bool:
    return stimulus is not None and "cell_voltage_step" in stimulus.available()


def _step_cell(bms: Any, clock: Any, limits: Any, stimulus: Any, kind: str, mode: str, event: Any) -> Outcome:
    """Step one cell's measured voltage beyond the alarm level with the module connected; time the trip."""
    p = limits.param
    cell = int(p("bms.step_cell").magnitude)
    value = p(f"bms.{kind}.step")
    bms.request_state(mode)
    t_stim = clock.now_s()  # before the command: the response is never understated
    done = stimulus.cell_voltage_step(cell, value)
    event("stimulus", f"{kind.upper()}: {done}", {"cell": cell, "value": f"{value:~P}"})
    try:
        return _watch(bms, clock, kind, t_stim, p("bms.poll"), p("bms.timeout"), lambda: None, method="step")
    finally:
        event("stimulus", f"{kind.upper()}: {stimulus.cell_voltage_step(cell, None)}")


def provoke_ov(
    psu: Any, load: Any, bms: Any, clock: Any, limits: Any, module: Any, stimulus: Any, event: Any
) -> Outcome:
    p = limits.param
    if _can_step(stimulus):
        return _step_cell(bms, clock, limits, stimulus, "ov", "charge", event)
    thr, bound = p("bms.ov.threshold"), p("bms.ov.bound")
    bms.request_state("charge")
    v_set = module.module_voltage(bound)
    # below the BMS's announced charge limit, so only the over-voltage protection can answer
    current = allowed_current(
        module.current(p("bms.ov.current")),
        bms.status().max_charge_current,
        fraction(p("bms.current_margin")),
        "charge",
    )
    source_cv(psu, v_set, current, p("bms.ov.ovp_margin"))
    how = _ramp_until(
        bms,
        clock,
        lambda st: st.cell_voltage_max > thr,
        p("bms.ramp_poll"),
        p("bms.poll"),
        lambda st: st.cell_voltage_max > thr - p("bms.near"),
        p("bms.ramp_timeout"),
    )
    t_stim = clock.now_s()
    if how != "reached":
        psu.set_output(False)
        return _ramp_failed("ov", how, bms, p("bms.ramp_timeout"))
    out = _watch(
        bms,
        clock,
        "ov",
        t_stim,
        p("bms.poll"),
        p("bms.timeout"),
        lambda: psu.set_output(False),
        beyond=lambda st: st.cell_voltage_max > thr + p("bms.hysteresis"),
    )
    st = bms.status()
    if st.cell_voltage_max > bound:
        out.note += f"; bound {bound:~P} exceeded"
    return out


def provoke_uv(
    psu: Any, load: Any, bms: Any, clock: Any, limits: Any, module: Any, stimulus: Any, event: Any
) -> Outcome:
    p = limits.param
    if _can_step(stimulus):
        return _step_cell(bms, clock, limits, stimulus, "uv", "discharge", event)
    thr = p("bms.uv.threshold")
    bms.request_state("discharge")
    load.set_mode("CC")
    load.set_level(
        allowed_current(
            module.current(p("bms.uv.current")),
            bms.status().max_discharge_current,
            fraction(p("bms.current_margin")),
            "discharge",
        )
    )
    load.set_input(True)
    how = _ramp_until(
        bms,
        clock,
        lambda st: st.cell_voltage_min < thr,
        p("bms.ramp_poll"),
        p("bms.poll"),
        lambda st: st.cell_voltage_min < thr + p("bms.near"),
        p("bms.ramp_timeout"),
    )
    t_stim = clock.now_s()
    if how != "reached":
        load.set_input(False)
        return _ramp_failed("uv", how, bms, p("bms.ramp_timeout"))
    bound = p("bms.uv.bound")

    def stop() -> None:
        load.set_input(False)

    out = _watch(
        bms,
        clock,
        "uv",
        t_stim,
        p("bms.poll"),
        p("bms.timeout"),
        stop,
        beyond=lambda st: st.cell_voltage_min < thr - p("bms.hysteresis"),
    )
    if bms.status().cell_voltage_min < bound:
        out.note += f"; bound {bound:~P} passed"
    return out


def provoke_oc(psu: Any, load: Any, bms: Any, clock: Any, limits: Any, module: Any) -> Outcome:
    """Charge-direction over-current: the supply, current-limited, pushes 1.2 x the OEM alarm current."""
    p = limits.param
    bms.request_state("charge")
    v_now = psu.measure_voltage()
    v_set = min(v_now + p("bms.oc.voltage_headroom"), module.module_voltage(p("cell.charge_guard")))
    source_cv(psu, v_set, p("bms.oc.current"), p("supply.ovp_margin"))
    t_stim = clock.now_s()
    return _watch(
        bms, clock, "oc", t_stim, p("bms.poll"), p("bms.oc.hold"), lambda: psu.set_output(False), method="step"
    )


def provoke_ot(
    psu: Any, load: Any, bms: Any, chamber: Any, clock: Any, limits: Any, stimulus: Any, event: Any
) -> Outcome:
    """Over-temperature: a temperature-sensor override where the station has a stimulus for it (a HIL
    thermistor channel, or the simulated HIL), timed from the override; else the chamber heats the
    module to `bms.ot.chamber_setpoint`, timed from the sustained crossing of the threshold."""
    p = limits.param
    bms.request_state("discharge")
    if stimulus is not None and "sensor_override" in stimulus.available():
        channel = f"cell_temperature[{int(p('bms.step_cell').magnitude)}]"
        t_stim = clock.now_s()  # before the command: the response is never understated
        done = stimulus.sensor_override(channel, p("bms.ot.stimulus"))
        event("stimulus", f"OT: {done}", {"channel": channel, "value": f"{p('bms.ot.stimulus'):~P}"})

        def release() -> None:
            event("stimulus", f"OT: {stimulus.sensor_override(channel, None)}")

        try:
            return _watch(bms, clock, "ot", t_stim, p("bms.poll"), p("bms.timeout"), lambda: None, method="step")
        finally:
            release()
    # No temperature stimulus: the chamber heats the module, never beyond bms.ot.chamber_setpoint. The
    # module creeps up to the alarm at a fraction of a kelvin per minute and a BMS reports whole
    # degrees, so the instant of the crossing is not observable: judge the detection value (the
    # hottest reading before the contactor opened, limit bms.ot.trip_temperature), not a time.
    chamber.set_setpoint(p("bms.ot.chamber_setpoint"))
    chamber.set_running(True)
    t0 = clock.now_s()
    limit_s = float(p("bms.ot.timeout").to("s").magnitude)
    hottest = None
    opened = False
    try:
        while clock.now_s() - t0 < limit_s:
            st = bms.status()
            if not st.contactor_closed:
                opened = True
                break
            hottest = st.cell_temperature_max
            clock.sleep(p("bms.ot.ramp_poll"))
    finally:
        chamber.set_setpoint(p("chamber.setpoint"))
    detected = _alarm(bms.status(), "ot")
    if not opened:
        return Outcome(
            "ot",
            detected,
            False,
            None,
            f"contactor still closed after {p('bms.ot.timeout'):~P} with the "
            f"chamber at {p('bms.ot.chamber_setpoint'):~P} (hottest cell {hottest:~P})",
            trip_value=hottest,
        )
    return Outcome(
        "ot",
        detected,
        detected,
        None,
        f"alarm {'seen' if detected else 'NOT seen'}, contactor opened "
        f"with the hottest cell reading {hottest:~P} (chamber heating; time not judged)",
        trip_value=hottest,
    )


def provoke_all(
    *, psu: Any, load: Any, bms: Any, chamber: Any, clock: Any, limits: Any, module: Any, stimulus: Any, event: Any
) -> list[Outcome]:
    """OC, UV, OV, OT in that order, re-arming the BMS between them; `stimulus` is the station's
    stimulus capability (None when it has none: the instruments ramp the module instead)."""
    outcomes: list[Outcome] = []
    plan = (
        ("oc", lambda: provoke_oc(psu, load, bms, clock, limits, module)),
        ("uv", lambda: provoke_uv(psu, load, bms, clock, limits, module, stimulus, event)),
        ("ov", lambda: provoke_ov(psu, load, bms, clock, limits, module, stimulus, event)),
        ("ot", lambda: provoke_ot(psu, load, bms, chamber, clock, limits, stimulus, event)),
    )
    armed = _rearm(bms, psu, load, clock, limits, event)
    for kind, run in plan:
        if not armed:
            outcomes.append(Outcome(kind, False, False, None, "not tested: BMS could not be re-armed"))
            continue
        try:
            out = run()
        except NotMeasurable as exc:
            out = Outcome(kind, False, False, None, f"not tested: {exc.reason}", tested=False)
        finally:
            load.set_input(False)
            psu.set_output(False)
        event(
            "bms_function",
            f"{kind.upper()}: {out.note}",
            out.__dict__ | {"response_time": None if out.response_time is None else f"{out.response_time:~P}"},
        )
        outcomes.append(out)
        if kind != "ot":
            armed = _rearm(bms, psu, load, clock, limits, event)
    _rearm(bms, psu, load, clock, limits, event)  # leave the module re-armed for whoever comes next
    bms.request_state("standby")
    chamber.set_setpoint(limits.param("chamber.setpoint"))
    return outcomes
