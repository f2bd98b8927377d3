"""Electrical procedures of the intake plan, written against capability methods only.

Why here and not in the steps: the same CC-CV charge, CC discharge and pulse are used by the
capacity, resistance, pulse and protective-function steps, on a simulated station and on a real
bench. Every wait goes through the bench clock (virtual time in simulation), and long phases
poll every few tens of seconds, with fine polling only near a cut-off, so a capacity cycle costs
hundreds of instrument reads and not tens of thousands. Every magnitude is an argument (the
steps take them from the limit set); nothing here is a bench default.

A procedure whose precondition fails (the BMS opens its contactor mid-phase, a current does not
flow as set, a cell reaches its limit first) raises `NotMeasurable` with the reason: the step
records it and the plan goes on. Instrument failures still raise (the session aborts safely).

Conventions: the supply charges (positive current into the module), the load discharges; the BMS
closes its contactor on 'charge' / 'discharge' requests and opens it on 'standby'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pint

from bench.units import Q_
from instruments.capabilities import FaultReset, SupplyPriority
from test_plans.module_intake.state import NotMeasurable


@dataclass
class Trace:
    """Samples of one phase (s, V, A with + = discharge), kept for integration and plots."""

    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    i: list[float] = field(default_factory=list)

    def add(self, t: float, v: pint.Quantity, i: pint.Quantity) -> None:
        self.t.append(t)
        self.v.append(float(v.to("V").magnitude))
        self.i.append(float(i.to("A").magnitude))

    def amp_hours(self) -> pint.Quantity:
        """Trapezoidal charge moved (positive for a discharge)."""
        s = sum((t1 - t0) * (a + b) / 2 for t0, t1, a, b in zip(self.t, self.t[1:], self.i, self.i[1:], strict=False))
        return Q_(s / 3600.0, "A*h")

    def watt_hours(self) -> pint.Quantity:
        p = [v * i for v, i in zip(self.v, self.i, strict=True)]
        s = sum((t1 - t0) * (a + b) / 2 for t0, t1, a, b in zip(self.t, self.t[1:], p, p[1:], strict=False))
        return Q_(s / 3600.0, "W*h")


@dataclass
class PhaseResult:
    trace: Trace
    ended_by: str
    duration: pint.Quantity
    charge: pint.Quantity
    energy: pint.Quantity
    cell_max: pint.Quantity | None = None
    cell_min: pint.Quantity | None = None
    temperature_max: pint.Quantity | None = None


def sleep_s(clock: Any, seconds: float) -> None:
    clock.sleep(Q_(seconds, "s"))


def bms_status(bms: Any, clock: Any | None = None, retry: pint.Quantity | None = None) -> Any:
    """One BMS status read, retried once after `retry` if the link reports a stale frame.

    A busy host can delay the CAN receive thread past the staleness limit after a long virtual
    sleep; one retry separates that from a BMS that really stopped talking (which raises).
    """
    try:
        return bms.status()
    except Exception as exc:
        if clock is None or retry is None or "stale" not in str(exc):
            raise
        clock.sleep(retry)
        return bms.status()


def all_off(psu: Any, load: Any) -> None:
    """Outputs off before any contactor change: a contactor never makes or breaks under load."""
    load.set_input(False)
    psu.set_output(False)


def connect(bms: Any, mode: str, psu: Any, load: Any) -> None:
    """Close the module's contactor for 'charge' or 'discharge' with both sources off."""
    all_off(psu, load)
    bms.request_state(mode)


def disconnect(bms: Any, psu: Any, load: Any) -> None:
    all_off(psu, load)
    bms.request_state("standby")


def tripped(st: Any) -> bool:
    """The BMS has acted: contactor open while we asked for it closed, or in ERROR."""
    return st.state == "ERROR" or not st.contactor_closed


def trip_reason(st: Any, what: str) -> str:
    alarms = ", ".join(st.active_alarms()) or "no alarm reported"
    return f"the BMS opened its contactor during {what} (state {st.state}; alarms: {alarms})"


def rearm(bms: Any, psu: Any, load: Any, clock: Any, *, timeout: pint.Quantity, poll: pint.Quantity) -> bool:
    """Outputs off, standby, clear latched faults; True once the BMS is out of ERROR."""
    all_off(psu, load)
    bms.request_state("standby")
    n = max(1, int(float((timeout / poll).to("").magnitude)))
    for _ in range(n):
        if isinstance(bms, FaultReset):  # a BMS that latches faults until told to clear them
            bms.reset_faults()
        clock.sleep(poll)
        if bms.status().state != "ERROR":
            return True
    return False


def allowed_current(requested: pint.Quantity, allowed: pint.Quantity, margin: float, what: str) -> pint.Quantity:
    """The requested current, limited to `margin` x what the BMS allows now (derating, faded module).

    A pulse or charge never trips the module's own over-limit protection; a BMS that allows
    nothing (derated to zero, in ERROR) makes the phase not measurable.
    """
    limit = (margin * allowed).to("A")
    if limit.magnitude <= 0:
        raise NotMeasurable(f"the BMS allows no {what} current now ({allowed:~P})")
    return min(requested.to("A"), limit)


def source_cv(psu: Any, voltage: pint.Quantity, current: pint.Quantity, ovp_margin: pint.Quantity) -> None:
    """Supply as a charger: voltage priority, CV at `voltage`, charge current limited to `current`
    (none taken back), its own OVP `ovp_margin` above as an independent layer; output on."""
    if isinstance(psu, SupplyPriority):  # a bidirectional supply: regulate voltage, limit current
        psu.set_priority("VOLT")
    psu.set_ovp(voltage + ovp_margin)
    psu.set_current_limit(current, Q_(0, "A"))
    psu.set_voltage(voltage)
    psu.set_output(True)


def cc_cv_charge(
    psu: Any,
    load: Any,
    bms: Any,
    clock: Any,
    *,
    voltage: pint.Quantity,
    current: pint.Quantity,
    cutoff: pint.Quantity | None,
    cell_guard: pint.Quantity,
    cv_band: pint.Quantity,
    poll: pint.Quantity,
    timeout: pint.Quantity,
    ovp_margin: pint.Quantity,
    retry: pint.Quantity,
    stop_charge: pint.Quantity | None = None,
    what: str = "the CC-CV charge",
    on_sample: Callable[[float, pint.Quantity, pint.Quantity], None] | None = None,
) -> PhaseResult:
    """CC at `current` up to `voltage`, then CV until the current falls to `cutoff` (or until
    `stop_charge` Ah are in: the SOC set-up).

    Ends also when any cell reaches `cell_guard` (an unbalanced module must not reach the BMS
    over-voltage alarm) or at `timeout`. CV counts as reached within `cv_band` of the setpoint.
    The supply's own OVP sits `ovp_margin` above the CV setpoint as an independent layer; the
    charge is what the supply actually delivered. NotMeasurable if the BMS opens its contactor.
    """
    connect(bms, "charge", psu, load)
    source_cv(psu, voltage, current, ovp_margin)
    trace = Trace()
    t0 = clock.now_s()
    v0 = psu.measure_voltage()
    coarse = float(poll.to("s").magnitude)
    limit = float(timeout.to("s").magnitude)
    i_nom = float(current.to("A").magnitude)
    ended = "timeout"
    cmax = tmax = None
    cv_seen = False
    try:
        for _ in range(int(limit / coarse) + 10):
            step = coarse
            if stop_charge is not None:
                remaining_s = (
                    (float(stop_charge.to("A*h").magnitude) + float(trace.amp_hours().to("A*h").magnitude))
                    * 3600.0
                    / max(i_nom, 1e-9)
                )
                if remaining_s <= 1e-6:
                    ended = "charge reached"
                    break
                step = min(step, remaining_s)
            sleep_s(clock, step)
            v, i = psu.measure_voltage(), psu.measure_current()
            if not trace.t:  # the supply limits the current from the instant its output is on
                trace.add(0.0, v0, -i)
            trace.add(clock.now_s() - t0, v, -i)
            if on_sample:
                on_sample(clock.now_s(), v, -i)
            st = bms_status(bms, clock, retry)
            if tripped(st):
                raise NotMeasurable(trip_reason(st, what), tripped=True)
            cmax, tmax = st.cell_voltage_max, st.cell_temperature_max
            if cmax >= cell_guard:
                ended = "cell guard"
                break
            cv_seen = cv_seen or v >= voltage - cv_band
            if cutoff is not None and cv_seen and i <= cutoff:
                ended = "cut-off current"
                break
            if clock.now_s() - t0 >= limit:
                break
    finally:
        psu.set_output(False)
        bms.request_state("standby")
    return PhaseResult(
        trace,
        ended,
        Q_(clock.now_s() - t0, "s"),
        -trace.amp_hours(),
        -trace.watt_hours(),
        cell_max=cmax,
        temperature_max=tmax,
    )


def cc_discharge(
    load: Any,
    psu: Any,
    bms: Any,
    clock: Any,
    *,
    current: pint.Quantity,
    module_cutoff: pint.Quantity,
    cell_cutoff: pint.Quantity,
    fine_window: pint.Quantity,
    poll: pint.Quantity,
    fine_poll: pint.Quantity,
    timeout: pint.Quantity,
    retry: pint.Quantity,
    stop_charge: pint.Quantity | None = None,
    on_sample: Callable[[float, pint.Quantity, pint.Quantity], None] | None = None,
) -> PhaseResult:
    """CC discharge to the module or cell cut-off (or until `stop_charge` Ah are out).

    Polls every `poll`, and every `fine_poll` once the lowest cell is within `fine_window` of its
    cut-off, so the end is found within one fine poll without reading every second for hours.
    NotMeasurable if the BMS opens its contactor on the way (a truncated discharge is no capacity).
    """
    connect(bms, "discharge", psu, load)
    load.set_mode("CC")
    load.set_level(current)
    load.set_input(True)
    trace = Trace()
    t0 = clock.now_s()
    trace.add(0.0, load.measure_voltage(), load.measure_current())
    coarse, fine = float(poll.to("s").magnitude), float(fine_poll.to("s").magnitude)
    limit = float(timeout.to("s").magnitude)
    step = coarse
    ended = "timeout"
    cmin = tmax = None
    i_nom = float(current.to("A").magnitude)
    try:
        for _ in range(int(limit / fine) + 2):
            if stop_charge is not None:
                done = float(trace.amp_hours().to("A*h").magnitude)
                remaining_s = (float(stop_charge.to("A*h").magnitude) - done) * 3600.0 / max(i_nom, 1e-9)
                if remaining_s <= 1e-6:
                    ended = "charge reached"
                    break
                step = min(step, remaining_s)
            sleep_s(clock, step)
            v, i = load.measure_voltage(), load.measure_current()
            trace.add(clock.now_s() - t0, v, i)
            if on_sample:
                on_sample(clock.now_s(), v, i)
            st = bms_status(bms, clock, retry)
            if tripped(st):
                raise NotMeasurable(trip_reason(st, "the CC discharge"), tripped=True)
            cmin, tmax = st.cell_voltage_min, st.cell_temperature_max
            if v <= module_cutoff or cmin <= cell_cutoff:
                ended = "cut-off voltage"
                break
            if clock.now_s() - t0 >= limit:
                break
            step = fine if cmin <= cell_cutoff + fine_window else coarse
    finally:
        load.set_input(False)
        bms.request_state("standby")
    return PhaseResult(
        trace,
        ended,
        Q_(clock.now_s() - t0, "s"),
        trace.amp_hours(),
        trace.watt_hours(),
        cell_min=cmin,
        temperature_max=tmax,
    )


def _check_current(measured: pint.Quantity, wanted: pint.Quantity, tolerance: float, what: str) -> None:
    """The current that flowed must be the one set (a load in protection, an open contactor...)."""
    want = float(wanted.to("A").magnitude)
    got = float(measured.to("A").magnitude)
    if abs(got - want) > tolerance * abs(want):
        raise NotMeasurable(f"{what}: {got:.4g} A flowed, {want:.4g} A was set (tolerance {tolerance:.0%})")


@dataclass
class TwoStep:
    u1: pint.Quantity
    u2: pint.Quantity
    i1: pint.Quantity
    i2: pint.Quantity

    @property
    def resistance(self) -> pint.Quantity:
        """IEC 61960/62620: R_dc = (U1 - U2) / (I2 - I1)."""
        return ((self.u1 - self.u2) / (self.i2 - self.i1)).to("mohm")


def two_step_dcir(
    load: Any,
    psu: Any,
    bms: Any,
    clock: Any,
    *,
    i1: pint.Quantity,
    t1: pint.Quantity,
    i2: pint.Quantity,
    t2: pint.Quantity,
    tolerance: float,
    retry: pint.Quantity,
) -> TwoStep:
    """I1 for t1 (U1 read at its end), then I2 at once for t2 (U2 at its end).

    NotMeasurable if either current did not flow as set or the BMS opened its contactor: a
    voltage step without its current is no resistance.
    """
    connect(bms, "discharge", psu, load)
    load.set_mode("CC")
    load.set_level(i1)
    try:
        load.set_input(True)
        clock.sleep(t1)
        u1, a1 = load.measure_voltage(), load.measure_current()
        load.set_level(i2)
        clock.sleep(t2)
        u2, a2 = load.measure_voltage(), load.measure_current()
        st = bms_status(bms, clock, retry)
    finally:
        load.set_input(False)
    if tripped(st):
        bms.request_state("standby")
        raise NotMeasurable(trip_reason(st, "the two-step DC resistance pulse"), tripped=True)
    bms.request_state("standby")
    _check_current(a1, i1, tolerance, "first current step I1")
    _check_current(a2, i2, tolerance, "second current step I2")
    return TwoStep(u1, u2, a1, a2)


@dataclass
class Hppc:
    ocv: pint.Quantity
    v_dis_end: pint.Quantity
    i_dis: pint.Quantity
    v_rest_end: pint.Quantity
    v_regen_end: pint.Quantity
    i_regen: pint.Quantity

    @property
    def r_dis(self) -> pint.Quantity:
        return ((self.ocv - self.v_dis_end) / self.i_dis).to("mohm")

    @property
    def r_regen(self) -> pint.Quantity:
        return ((self.v_regen_end - self.v_rest_end) / self.i_regen).to("mohm")


def hppc_pulse(
    load: Any,
    psu: Any,
    bms: Any,
    clock: Any,
    *,
    current: pint.Quantity,
    t_dis: pint.Quantity,
    t_rest: pint.Quantity,
    t_regen: pint.Quantity,
    regen_factor: float,
    v_max: pint.Quantity,
    margin: float,
    tolerance: float,
    sample: pint.Quantity,
    ovp_margin: pint.Quantity,
    retry: pint.Quantity,
    trace: Trace | None = None,
) -> Hppc:
    """HPPC-style profile: discharge pulse (load), rest, regen pulse (supply), after the FreedomCAR
    HEV Battery Test Manual (2003) profile: 10 s discharge, 40 s rest, 10 s regen at 0.75 x I.

    Both pulses are limited to `margin` x the current the BMS allows now, so a pulse never trips
    the module's own limit; NotMeasurable if a current did not flow as set or the contactor opened.
    """
    t0 = clock.now_s()

    def hold(duration: pint.Quantity, read: Callable[[], tuple[pint.Quantity, pint.Quantity]]) -> None:
        n = max(1, int(round(float((duration / sample).to("").magnitude))))
        for _ in range(n):
            clock.sleep(duration / n)
            if trace is not None:
                v, i = read()
                trace.add(clock.now_s() - t0, v, i)

    connect(bms, "discharge", psu, load)
    current = allowed_current(current, bms_status(bms, clock, retry).max_discharge_current, margin, "discharge")
    ocv = load.measure_voltage()
    if trace is not None:
        trace.add(0.0, ocv, Q_(0, "A"))
    load.set_mode("CC")
    load.set_level(current)
    try:
        load.set_input(True)
        hold(t_dis, lambda: (load.measure_voltage(), load.measure_current()))
        v_dis, i_dis = load.measure_voltage(), load.measure_current()
    finally:
        load.set_input(False)
    st = bms_status(bms, clock, retry)
    if tripped(st):
        bms.request_state("standby")
        raise NotMeasurable(trip_reason(st, "the HPPC discharge pulse"), tripped=True)
    _check_current(i_dis, current, tolerance, "HPPC discharge pulse")
    hold(t_rest, lambda: (load.measure_voltage(), Q_(0, "A")))
    v_rest = load.measure_voltage()
    bms.request_state("charge")
    regen = allowed_current(current * regen_factor, bms_status(bms, clock, retry).max_charge_current, margin, "charge")
    try:
        source_cv(psu, v_max, regen, ovp_margin)
        hold(t_regen, lambda: (psu.measure_voltage(), -psu.measure_current()))
        v_regen, i_regen = psu.measure_voltage(), psu.measure_current()
    finally:
        psu.set_output(False)
    st = bms_status(bms, clock, retry)
    bms.request_state("standby")
    if tripped(st):
        raise NotMeasurable(trip_reason(st, "the HPPC regen pulse"), tripped=True)
    _check_current(i_regen, regen, tolerance, "HPPC regen pulse")
    return Hppc(ocv, v_dis, i_dis, v_rest, v_regen, i_regen)


def wait_stable_temperature(
    chamber: Any,
    bms: Any,
    clock: Any,
    *,
    setpoint: pint.Quantity,
    band: pint.Quantity,
    stable_for: pint.Quantity,
    timeout: pint.Quantity,
    poll: pint.Quantity,
    retry: pint.Quantity,
) -> pint.Quantity:
    """Run the chamber at `setpoint` and wait until air and every cell stay within `band` for `stable_for`.

    Returns the time it took; NotMeasurable if the module never settles within `timeout`, because
    a capacity figure at the wrong temperature is worthless (the plan goes on without it).
    """
    chamber.set_setpoint(setpoint)
    chamber.set_running(True)
    t0 = clock.now_s()
    stable_since: float | None = None
    need = float(stable_for.to("s").magnitude)
    step = float(poll.to("s").magnitude)
    limit = float(timeout.to("s").magnitude)
    sp = setpoint.to("degC").magnitude
    b = float(band.to("delta_degC").magnitude)
    for _ in range(int(limit / step) + 2):
        air = chamber.temperature().to("degC").magnitude
        st = bms_status(bms, clock, retry)
        lo, hi = st.cell_temperature_min.to("degC").magnitude, st.cell_temperature_max.to("degC").magnitude
        ok = abs(air - sp) <= b and abs(lo - sp) <= b and abs(hi - sp) <= b
        now = clock.now_s()
        if ok:
            stable_since = now if stable_since is None else stable_since
            if now - stable_since >= need:
                return Q_(now - t0, "s")
        else:
            stable_since = None
        if now - t0 >= limit:
            break
        sleep_s(clock, step)
    raise NotMeasurable(f"module not stable within ±{b:g} K of {sp:g} °C after {limit / 3600:g} h")
