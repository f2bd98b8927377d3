"""BMS protective functions (UL 1974 S8, derived): provoke OV, UV, OC, OT and time the response.

Why two paths: on a real bench each condition is provoked with the instruments within bounds the
limit file sets (the supply over-charges at a limited current and stops at `bms.ov.bound`, the
load over-discharges and stops at `bms.uv.bound`, above the copper-dissolution floor; the
chamber heats to the OT alarm + 5 K, never beyond). In simulation the plant is physical, so the
same instrument path runs for OV, UV and OC; a stimulus that would take hours of chamber
heating (OT) is injected as a sensor-level fault through the `sim` fixture instead, the way a
HIL rig would fake the sensor.

Response time = contactor observed open - stimulus observed (threshold crossed, or the step
command for OC), at the `bms.poll` resolution. "Acted" means alarm raised AND contactor open.
OT goes last: a stuck sensor cannot be un-stuck.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pint
from intake_procedures import source_cv

from bench.units import Q_


@dataclass
class Outcome:
    kind: str
    detected: bool
    acted: bool
    response_time: pint.Quantity | None
    note: str


ALARM_KEYS = {"ov": ("cell_ov",), "uv": ("cell_uv",), "oc": ("oc_charge", "oc_discharge"),
              "ot": ("cell_ot", "cell_ot_charge", "cell_ot_discharge")}


def _alarm(st: Any, kind: str) -> bool:
    return any(st.alarms.get(k, False) for k in ALARM_KEYS[kind])


def _rearm(bms: Any, psu: Any, load: Any, clock: Any, event: Any) -> bool:
    """Outputs off, standby, clear latched faults; True once the BMS is out of ERROR."""
    load.set_input(False)
    psu.set_output(False)
    bms.request_state("standby")
    reset = getattr(bms, "reset_faults", None)
    for _ in range(30):
        if callable(reset):
            reset()
        clock.sleep(Q_(1, "s"))
        if bms.status().state != "ERROR":
            return True
    event("deviation", "BMS stayed in ERROR after a provocation: later functions cannot be tested")
    return False


def _watch(bms: Any, clock: Any, kind: str, t_stim: float, poll: pint.Quantity, timeout: pint.Quantity,
           stop: Any, beyond: Any = None) -> Outcome:
    """Poll until the contactor opens or `timeout` after the stimulus; `stop()` ends the stimulus.

    For a ramped stimulus (`beyond(status)` given) the response is timed from the start of the
    last uninterrupted run of readings beyond the threshold: noise makes a slow ramp flicker across
    it, and a debounced BMS rightly restarts its delay on each dip.
    """
    detected = False
    run_start: float | None = t_stim
    n = int(float((timeout / poll).to("").magnitude)) + 1
    for _ in range(n):
        st = bms.status()
        detected = detected or _alarm(st, kind)
        if beyond is not None and st.contactor_closed:
            run_start = (run_start if run_start is not None else clock.now_s()) if beyond(st) else None
        if not st.contactor_closed:
            stop()
            t_open = clock.now_s()
            for _ in range(n):  # the alarm latches; give it the rest of the window to show
                if detected:
                    break
                clock.sleep(poll)
                detected = _alarm(bms.status(), kind)
            start = run_start if run_start is not None else t_stim
            dt = Q_(t_open - start, "s")
            first = f", first crossing {t_open - t_stim:.2f} s before" if start != t_stim else ""
            return Outcome(kind, detected, detected, dt,
                           f"alarm {'seen' if detected else 'NOT seen'}, contactor open after {dt:~.3fP}"
                           f" (from the sustained crossing{first})")
        clock.sleep(poll)
    stop()
    return Outcome(kind, detected, False, None, f"contactor still closed {timeout:~P} after the stimulus")


def _ramp_until(bms: Any, clock: Any, reached: Any, coarse: pint.Quantity, fine: pint.Quantity,
                near: Any, limit_s: float) -> bool:
    """Advance coarse, then fine near the threshold, until `reached(status)`; False on timeout."""
    t0 = clock.now_s()
    step = coarse
    while clock.now_s() - t0 < limit_s:
        st = bms.status()
        if reached(st):
            return True
        if not st.contactor_closed:
            return True  # the BMS acted before our own observation of the crossing
        step = fine if near(st) else coarse
        clock.sleep(step)
    return False


def provoke_ov(psu: Any, load: Any, bms: Any, clock: Any, limits: Any, module: Any) -> Outcome:
    p = limits.param
    thr, bound = p("bms.ov.threshold"), p("bms.ov.bound")
    bms.request_state("charge")
    v_set = (module.n_series * bound).to("V")
    # below the BMS's announced charge limit, so only the over-voltage protection can answer
    current = min(module.current(p("bms.ov.current")), 0.9 * bms.status().max_charge_current)
    source_cv(psu, v_set, current, ovp_margin=Q_(1, "V"))
    ok = _ramp_until(bms, clock, lambda st: st.cell_voltage_max > thr, Q_(5, "s"), p("bms.poll"),
                     lambda st: st.cell_voltage_max > thr - p("bms.near"), 8 * 3600.0)
    t_stim = clock.now_s()
    if not ok:
        psu.set_output(False)
        return Outcome("ov", False, False, None, "threshold never reached within 6 h")
    out = _watch(bms, clock, "ov", t_stim, p("bms.poll"), p("bms.timeout"), lambda: psu.set_output(False),
                 beyond=lambda st: st.cell_voltage_max > thr + p("bms.hysteresis"))
    st = bms.status()
    if st.cell_voltage_max > bound:
        out.note += f"; bound {bound:~P} exceeded"
    return out


def provoke_uv(psu: Any, load: Any, bms: Any, clock: Any, limits: Any, module: Any) -> Outcome:
    p = limits.param
    thr = p("bms.uv.threshold")
    bms.request_state("discharge")
    load.set_mode("CC")
    load.set_level(min(module.current(p("bms.uv.current")), 0.9 * bms.status().max_discharge_current))
    load.set_input(True)
    ok = _ramp_until(bms, clock, lambda st: st.cell_voltage_min < thr, Q_(5, "s"), p("bms.poll"),
                     lambda st: st.cell_voltage_min < thr + p("bms.near"), 8 * 3600.0)
    t_stim = clock.now_s()
    if not ok:
        load.set_input(False)
        return Outcome("uv", False, False, None, "threshold never reached within 6 h")
    bound = p("bms.uv.bound")

    def stop() -> None:
        load.set_input(False)

    out = _watch(bms, clock, "uv", t_stim, p("bms.poll"), p("bms.timeout"), stop,
                 beyond=lambda st: st.cell_voltage_min < thr - p("bms.hysteresis"))
    if bms.status().cell_voltage_min < bound:
        out.note += f"; bound {bound:~P} passed"
    return out


def provoke_oc(psu: Any, load: Any, bms: Any, clock: Any, limits: Any, module: Any) -> Outcome:
    """Charge-direction over-current: the supply, current-limited, pushes 1.2 x the OEM alarm current."""
    p = limits.param
    bms.request_state("charge")
    v_now = psu.measure_voltage()
    v_set = min(v_now + Q_(3, "V"), (module.n_series * p("cell.charge_guard")).to("V"))
    source_cv(psu, v_set, p("bms.oc.current"))
    t_stim = clock.now_s()
    hold = p("bms.oc.hold")
    return _watch(bms, clock, "oc", t_stim, p("bms.poll"), hold, lambda: psu.set_output(False))


def provoke_ot(psu: Any, load: Any, bms: Any, chamber: Any, clock: Any, limits: Any, sim: Any,
               event: Any) -> Outcome:
    p = limits.param
    bms.request_state("discharge")
    if sim is not None:
        fault = dict(p("bms.ot.sim_fault"))
        sim.inject(fault)
        event("fault_injection", f"simulation: injected {fault} as the over-temperature stimulus", fault)
        return _watch(bms, clock, "ot", clock.now_s(), p("bms.poll"), p("bms.timeout"), lambda: None)
    thr = p("bms.ot.threshold")
    chamber.set_setpoint(p("bms.ot.chamber_setpoint"))
    chamber.set_running(True)
    ok = _ramp_until(bms, clock, lambda st: st.cell_temperature_max > thr, Q_(60, "s"), p("bms.poll"),
                     lambda st: st.cell_temperature_max > thr - Q_(1, "delta_degC"),
                     float(p("bms.ot.timeout").to("s").magnitude))
    t_stim = clock.now_s()

    def cool() -> None:
        chamber.set_setpoint(p("chamber.setpoint"))

    if not ok:
        cool()
        return Outcome("ot", False, False, None, "threshold never reached within the chamber timeout")
    return _watch(bms, clock, "ot", t_stim, p("bms.poll"), p("bms.timeout"), cool,
                  beyond=lambda st: st.cell_temperature_max > thr)


def provoke_all(*, psu: Any, load: Any, bms: Any, chamber: Any, clock: Any, limits: Any, module: Any, sim: Any,
                event: Any) -> list[Outcome]:
    """OC, UV, OV, OT in that order, re-arming the BMS between them."""
    outcomes: list[Outcome] = []
    plan = (("oc", lambda: provoke_oc(psu, load, bms, clock, limits, module)),
            ("uv", lambda: provoke_uv(psu, load, bms, clock, limits, module)),
            ("ov", lambda: provoke_ov(psu, load, bms, clock, limits, module)),
            ("ot", lambda: provoke_ot(psu, load, bms, chamber, clock, limits, sim, event)))
    armed = _rearm(bms, psu, load, clock, event)
    for kind, run in plan:
        if not armed:
            outcomes.append(Outcome(kind, False, False, None, "not tested: BMS could not be re-armed"))
            continue
        try:
            out = run()
        finally:
            load.set_input(False)
            psu.set_output(False)
        event("bms_function", f"{kind.upper()}: {out.note}", out.__dict__ | {
            "response_time": None if out.response_time is None else f"{out.response_time:~P}"})
        outcomes.append(out)
        if kind != "ot":
            armed = _rearm(bms, psu, load, clock, event)
    bms.request_state("standby")
    chamber.set_setpoint(limits.param("chamber.setpoint"))
    return outcomes
