"""Module intake: sequence derived from UL 1974 (2nd ed., 2023) S0-S10 for second life.

Ten steps, in order, each a test with its clause. Gates (history, visual, cell floor,
insulation) record their result and, on rejection, the electrical steps are skipped so that a
damaged module is never cycled; grading and the passport always run. Every threshold, rate and
duration comes from the limit set; grades come from its rule table.

Modules at 50-100 % state of health are the daily business of an intake line: every step that
sets a state of charge counts it against this module's capacity (soc.py), never the rated one.
A step whose precondition cannot be met records why, leaves its results INDETERMINATE and the
plan goes on with what it can still measure; the grade then becomes `quarantine` with that
reason. Only a safety condition (interlock, instrument failure) aborts the run.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import plotting
from bench.units import Q_
from instruments.capabilities import BmsHistory
from test_plans.module_intake.grading import Result, evaluate, load_rule_table
from test_plans.module_intake.passport import build_passport, to_bytes, validate
from test_plans.module_intake.procedures import (
    Trace,
    all_off,
    allowed_current,
    bms_status,
    cc_cv_charge,
    cc_discharge,
    disconnect,
    hppc_pulse,
    two_step_dcir,
    wait_stable_temperature,
)
from test_plans.module_intake.protection import provoke_all
from test_plans.module_intake.soc import SocMover
from test_plans.module_intake.state import NotMeasurable, fraction

pytestmark = [pytest.mark.plan_level("module")]

CAPACITY_RESULTS = [
    "capacity.discharge_capacity",
    "capacity.discharge_energy",
    "capacity.soh",
    "capacity.soce",
    "capacity.temperature_rise",
    "capacity.end_cell_spread",
]
DCIR_RESULTS = ["dcir.resistance", "dcir.growth"]
PULSE_RESULTS = ["pulse.discharge_resistance", "pulse.regen_resistance"]
POWER_RESULTS = ["pulse.power_capability", "pulse.power_fade"]
SELF_DISCHARGE_RESULTS = ["self_discharge.cell_rate", "self_discharge.module_rate", "self_discharge.temperature_span"]


def _count(n: int | float) -> Any:
    return Q_(n, "dimensionless")


@pytest.fixture
def soc(psu, load, bms, clock, limits, module, intake, dut, event) -> SocMover:
    """Moves the module to SOC targets counted against its own capacity, within the cell limits."""
    return SocMover(
        psu=psu, load=load, bms=bms, clock=clock, limits=limits, module=module, intake=intake, dut=dut, event=event
    )


@pytest.fixture
def unmeasured(intake, event, soc) -> Any:
    """Record a failed precondition: results INDETERMINATE with the reason, BMS re-armed if it acted."""

    def _unmeasured(step: str, names: list[str], exc: NotMeasurable) -> None:
        intake.not_measured(step, names, exc.reason)
        event(
            "not_measured",
            f"{step}: {', '.join(names)} not measured: {exc.reason}",
            {"step": step, "results": names, "reason": exc.reason},
        )
        if exc.tripped:
            try:
                soc.ensure_armed()
            except NotMeasurable as again:
                event("deviation", f"{step}: {again.reason}")

    return _unmeasured


def _history(dut: dict[str, Any], bms: Any) -> dict[str, Any]:
    """History from the imported passport file / DUT info, else from the BMS if it offers one."""
    hist = dict(dut.get("history") or {})
    if hist:
        hist.setdefault("source", "passport file")
        return hist
    if isinstance(bms, BmsHistory):
        got = dict(bms.history() or {})
        got.setdefault("source", "BMS")
        return got
    return {"source": "none available"}


@pytest.mark.clause("UL 1974 S0/S1 (derived): identity and history")
def test_01_identity_and_history(dut, bms, limits, module, record, intake, event):
    hist = _history(dut, bms)
    intake.history = hist
    bad_events = {str(e).lower() for e in limits.param("history.disqualifying_events")}
    events = [str(e) for e in hist.get("events", []) or []]
    hits = [e for e in events if e.lower() in bad_events]
    thermal = {int(c) for c in limits.param("history.thermal_fault_codes")}
    codes = [int(c) for c in hist.get("fault_codes", []) or []]
    hits += [f"fault code {c}" for c in codes if c in thermal]
    live = [a for a in bms.status().active_alarms() if a.startswith(("cell_ot", "temp_rise", "thermal"))]
    hits += [f"latched BMS alarm {a}" for a in live]
    status = str(dut.get("passport_status", "original"))
    if status not in limits.param("history.accepted_status"):
        hits.append(f"passport status {status!r}")
    event(
        "history",
        f"identity {module.serial} {module.chemistry} {module.rated_capacity:~P}; history from "
        f"{hist.get('source')}; disqualifying: {hits or 'none'}",
        {"history": hist, "disqualifying": hits, "passport_status": status},
    )
    record("history.disqualifying_events", _count(len(hits)))
    if hist.get("age_years") is not None and hist.get("calendar_life_years"):
        ratio = Q_(100.0 * float(hist["age_years"]) / float(hist["calendar_life_years"]), "percent")
        record("history.calendar_age_ratio", ratio)
        if ratio > Q_(100, "percent"):
            intake.reject("history", "beyond OEM calendar life")
    if hist.get("cycle_count") is not None:
        record("history.cycle_count", _count(float(hist["cycle_count"])))
    if hist.get("energy_throughput"):
        record("history.energy_throughput", Q_(str(hist["energy_throughput"])).to("kWh"))
    if hits:
        intake.reject("history", "; ".join(hits))


VISUAL = {
    "swelling": "Any swelling or bulging of cells or the module case?",
    "leak": "Any electrolyte leak, residue or smell?",
    "enclosure": "Any enclosure breach, crack, terminal or burn damage?",
    "corrosion": "Any corrosion on terminals, busbars or case?",
}


@pytest.mark.clause("UL 1974 S2 (derived): visual and mechanical")
def test_02_visual_and_mechanical(prompt, record, intake):
    found = [k for k, q in VISUAL.items() if prompt(f"visual.{k}", q, choices=["no", "yes"]) == "yes"]
    record("visual.defects", _count(len(found)), note=", ".join(found) or "none")
    if found:
        intake.reject("visual", ", ".join(found))


@pytest.mark.clause("UL 1974 S3 (derived): OCV and cell spread after rest")
def test_03_ocv_and_cell_spread(gate, psu, load, bms, dmm, clock, limits, record, intake):
    disconnect(bms, psu, load)
    clock.sleep(limits.param("ocv.rest"))
    cells = [v.to("V") for v in bms.cell_voltages()]
    cmin = min(cells)
    record("ocv.cell_min", cmin, instrument=bms)
    record("ocv.cell_spread", (max(cells) - cmin).to("mV"), instrument=bms)
    record("ocv.module", dmm.measure_dc_voltage(), instrument=dmm)
    lim = limits.get("ocv.cell_min")
    if lim is not None and lim.low is not None and cmin < lim.low:
        intake.reject("ocv", f"cell at {cmin:~.3fP} below the {lim.low:~P} floor")


@pytest.mark.clause("UL 1974 S4 (derived): insulation resistance")
def test_04_insulation_resistance(gate, irt, clock, limits, module, record, intake, event):
    classes = limits.param("insulation.classes")
    cls = next((c for c in classes if module.nominal_voltage <= Q_(c["max_nominal"])), classes[-1])
    name, test_v = str(cls["limit"]), Q_(cls["test_voltage"])
    lim = limits.get(name)
    irt.configure(test_v, lim.low, limits.param("insulation.dwell"))
    event("insulation", f"class up to {cls['max_nominal']}: {test_v:~P} DC, minimum {lim.low:~P}", dict(cls))
    res = irt.run_test(wait=lambda s: clock.sleep(Q_(s, "s")))  # waits go through the bench clock
    r = res.resistance.to("Mohm")
    record(name, r, instrument=irt, note=f"at {res.voltage:~P}, {res.elapsed:~P}, tester judgement {res.judgement}")
    intake.results["insulation.resistance"] = r
    if r < lim.low:
        intake.reject("insulation", f"{r:~.3gP} below {lim.low:~P} at {test_v:~P}")


@pytest.mark.clause("UL 1974 S5 (derived); IEC 62620 capacity method at 25 °C")
def test_05_capacity(
    gate, psu, load, bms, chamber, clock, limits, module, record, intake, telemetry, attach, event, unmeasured
):
    p = limits.param
    retry = p("bms.stale_retry")
    margin = fraction(p("bms.current_margin"))
    intake.soc = None  # whatever happens below, the SOC is no longer the one found at receipt

    def sample(t: float, v: Any, i: Any) -> None:
        telemetry.record("capacity.voltage", v, t)
        telemetry.record("capacity.current", i, t)

    try:
        took = wait_stable_temperature(
            chamber,
            bms,
            clock,
            setpoint=p("chamber.setpoint"),
            band=p("chamber.band"),
            stable_for=p("chamber.stable_for"),
            timeout=p("chamber.timeout"),
            poll=p("capacity.poll"),
            retry=retry,
        )
        record(
            "capacity.chamber_temperature", chamber.temperature(), instrument=chamber, note=f"stable after {took:~P}"
        )
        i_charge = allowed_current(
            module.current(p("capacity.charge_rate")),
            bms_status(bms, clock, retry).max_charge_current,
            margin,
            "charge",
        )
        charge = cc_cv_charge(
            psu,
            load,
            bms,
            clock,
            voltage=module.module_voltage(p("cell.charge_voltage")),
            current=i_charge,
            cutoff=module.current(p("capacity.cutoff_rate")),
            cell_guard=p("cell.charge_guard"),
            cv_band=p("capacity.cv_band"),
            poll=p("capacity.poll"),
            timeout=p("capacity.timeout"),
            ovp_margin=p("supply.ovp_margin"),
            retry=retry,
            on_sample=sample,
        )
        if charge.ended_by == "timeout":
            raise NotMeasurable(f"the CC-CV charge did not end within {p('capacity.timeout'):~P}")
        clock.sleep(p("capacity.rest"))
        st = bms_status(bms, clock, retry)
        t_start = st.cell_temperature_max
        dis = cc_discharge(
            load,
            psu,
            bms,
            clock,
            current=allowed_current(
                module.current(p("capacity.discharge_rate")), st.max_discharge_current, margin, "discharge"
            ),
            module_cutoff=module.module_voltage(p("cell.discharge_cutoff")),
            cell_cutoff=p("cell.discharge_cutoff"),
            fine_window=p("capacity.fine_window"),
            poll=p("capacity.poll"),
            fine_poll=p("capacity.fine_poll"),
            timeout=p("capacity.timeout"),
            retry=retry,
            on_sample=sample,
        )
        if dis.ended_by != "cut-off voltage":
            raise NotMeasurable(f"the CC discharge ended by {dis.ended_by}, not at the cut-off voltage")
    except NotMeasurable as exc:
        unmeasured("capacity", CAPACITY_RESULTS, exc)
        return
    intake.soc = Q_(0.0, "")  # at the cut-off
    cells = [v.to("V") for v in bms.cell_voltages()]
    ah, wh = dis.charge.to("A*h"), dis.energy.to("W*h")
    cap = record(
        "capacity.discharge_capacity",
        ah,
        instrument=load,
        plausible=(Q_(0, "A*h"), p("capacity.plausible_max") * module.rated_capacity),
        note=f"charge at {i_charge:~.4gP} ended by {charge.ended_by}, {charge.charge.to('A*h'):~.4gP} in; "
        f"discharge ended by {dis.ended_by} after {dis.duration.to('h'):~.3gP}",
    )
    rated_wh = (module.rated_capacity * module.nominal_voltage).to("W*h")
    record(
        "capacity.discharge_energy",
        wh,
        instrument=load,
        plausible=(Q_(0, "W*h"), p("capacity.plausible_max") * rated_wh),
    )
    soh = record("capacity.soh", (ah / module.rated_capacity).to("percent"))
    if "capacity.soh" in intake.results:
        intake.results["capacity.fade"] = Q_(100, "percent") - soh.value
    record("capacity.soce", (wh / rated_wh).to("percent"))
    record("capacity.temperature_rise", (dis.temperature_max - t_start).to("delta_degC"), instrument=bms)
    record("capacity.end_cell_spread", (max(cells) - min(cells)).to("mV"), instrument=bms)
    if "capacity.discharge_capacity" in intake.results:
        intake.capacity_ah = ah  # the SOC basis of every later step
    else:
        event("deviation", f"capacity {ah:~.4gP} not used as the SOC basis: {cap.reason}")
    tr = charge.trace
    t = tr.t + [tr.t[-1] + p("capacity.rest").to("s").magnitude + x for x in dis.trace.t]
    plot = _voltage_current_svg(
        f"Capacity test {module.serial}: CC-CV charge, rest, CC discharge", t, tr.v + dis.trace.v, tr.i + dis.trace.i
    )
    attach("capacity_test.svg", plot, "image/svg+xml")


def _voltage_current_svg(title: str, t: list[float], v: list[float], i: list[float]) -> bytes:
    """Module voltage (left axis) and current (right axis, + discharge) against time, as SVG."""
    fig = plotting.Figure(
        title,
        plotting.Axis("time", "s", readable_time=True),
        plotting.Axis("module voltage", "V"),
        [plotting.Trace(t, v, label="module voltage"), plotting.Trace(t, i, label="current (+ discharge)", axis="y2")],
        y2=plotting.Axis("current", "A"),
        width=720,
    )
    return plotting.render(fig).to_bytes()


def _dcir(load, psu, bms, clock, limits, module, record, intake, event, soc, unmeasured) -> Any:
    """IEC 61960/62620 two-step DC resistance at `dcir.soc`; returns the resistance measurement or None."""
    p = limits.param
    margin, retry = fraction(p("bms.current_margin")), p("bms.stale_retry")
    try:
        soc.move_to(p("dcir.soc"), "the DC resistance")
        clock.sleep(p("dcir.rest"))
        allowed = bms_status(bms, clock, retry).max_discharge_current
        i1 = allowed_current(module.current(p("dcir.i1_rate")), allowed, margin, "discharge")
        i2 = allowed_current(module.current(p("dcir.i2_rate")), allowed, margin, "discharge")
        if i2 <= i1:
            raise NotMeasurable(f"the BMS allows {allowed:~P}: no second current step above I1 = {i1:~P}")
        two = two_step_dcir(
            load,
            psu,
            bms,
            clock,
            i1=i1,
            t1=p("dcir.t1"),
            i2=i2,
            t2=p("dcir.t2"),
            tolerance=fraction(p("dcir.current_tolerance")),
            retry=retry,
        )
    except NotMeasurable as exc:
        unmeasured("resistance", DCIR_RESULTS, exc)
        return None
    limited = "" if i2 >= module.current(p("dcir.i2_rate")) else f"; I2 limited by the BMS's allowed {allowed:~P}"
    m = record(
        "dcir.resistance",
        two.resistance,
        instrument=load,
        note=f"U1={two.u1:~.5gP} at I1={two.i1:~.4gP}, U2={two.u2:~.5gP} at I2={two.i2:~.4gP}{limited}",
    )
    if module.bol_resistance is None:
        event("deviation", "no beginning-of-life resistance in the DUT info: growth not graded")
    elif "dcir.resistance" in intake.results:
        record("dcir.growth", (two.resistance / module.bol_resistance - 1).to("percent"))
    else:
        intake.leave_unresolved("dcir.growth", f"derived from dcir.resistance, which is {m.reason}")
    return m


@pytest.mark.clause("UL 1974 S6 (derived); IEC 61960/62620 two-step DC resistance; INL HPPC pulse")
def test_06_resistance_and_pulse_power(
    gate, psu, load, bms, clock, limits, module, record, intake, attach, event, soc, unmeasured
):
    p = limits.param
    dcir = _dcir(load, psu, bms, clock, limits, module, record, intake, event, soc, unmeasured)
    traces: list[tuple[str, Trace]] = []
    power = None
    for point in p("pulse.soc_points"):
        target = Q_(point).to("")
        tag = f"{fraction(target) * 100:.0f}% SOC"
        tr = Trace()
        try:
            soc.move_to(target, f"the HPPC pulse at {tag}")
            clock.sleep(p("pulse.settle"))
            h = hppc_pulse(
                load,
                psu,
                bms,
                clock,
                current=module.current(p("pulse.rate")),
                t_dis=p("pulse.discharge_time"),
                t_rest=p("pulse.rest_time"),
                t_regen=p("pulse.regen_time"),
                regen_factor=fraction(p("pulse.regen_factor")),
                v_max=module.module_voltage(p("cell.charge_voltage")),
                margin=fraction(p("bms.current_margin")),
                tolerance=fraction(p("dcir.current_tolerance")),
                sample=p("pulse.sample"),
                ovp_margin=p("supply.ovp_margin"),
                retry=p("bms.stale_retry"),
                trace=tr,
            )
        except NotMeasurable as exc:
            unmeasured(
                f"pulse at {tag}", PULSE_RESULTS + (POWER_RESULTS if abs(fraction(target) - 0.5) < 1e-6 else []), exc
            )
            continue
        record("pulse.discharge_resistance", h.r_dis, instrument=load, note=tag)
        record("pulse.regen_resistance", h.r_regen, instrument=psu, note=tag)
        traces.append((tag, tr))
        if abs(fraction(target) - 0.5) < 1e-6:
            v_min = module.module_voltage(p("cell.discharge_cutoff"))
            power = (v_min * (h.ocv - v_min) / h.r_dis).to("W")
    if power is not None:
        record("pulse.power_capability", power)
        if module.bol_resistance is not None and dcir is not None and "dcir.resistance" in intake.results:
            record(
                "pulse.power_fade",
                (1 - module.bol_resistance / dcir.value).to("percent"),
                note="P ∝ 1/R at the same OCV and Vmin: fade = 1 - R_BoL/R",
            )
    if traces:
        t, v, i, off = [], [], [], 0.0
        for _tag, tr in traces:
            t += [off + x for x in tr.t]
            v += tr.v
            i += tr.i
            off = t[-1] + 5.0 if t else 0.0
        attach(
            "pulse_test.svg",
            _voltage_current_svg(f"HPPC pulses {module.serial} at {', '.join(x for x, _ in traces)}", t, v, i),
            "image/svg+xml",
        )


@pytest.mark.clause("UL 1974 S7 (derived): self-discharge over a rest at held temperature")
def test_07_self_discharge(gate, psu, load, bms, chamber, clock, limits, record, intake, telemetry, soc, unmeasured):
    p = limits.param
    try:
        soc.move_to(p("self_discharge.soc"), "the self-discharge rest")
    except NotMeasurable as exc:
        unmeasured("self-discharge", SELF_DISCHARGE_RESULTS, exc)
        return
    all_off(psu, load)
    bms.request_state("standby")
    chamber.set_setpoint(p("chamber.setpoint"))
    chamber.set_running(True)
    temps: list[float] = []

    def rest(duration: Any) -> None:
        left = duration.to("s").magnitude
        step = p("self_discharge.poll").to("s").magnitude
        while left > 1e-9:
            clock.sleep(Q_(min(step, left), "s"))
            left -= step
            st = bms_status(bms, clock, p("bms.stale_retry"))
            temps.append(st.cell_temperature_max.to("degC").magnitude)
            telemetry.record("self_discharge.cell_temperature_max", st.cell_temperature_max)
            telemetry.record("self_discharge.cell_voltage_min", st.cell_voltage_min)

    def mean_cells() -> list[float]:
        n = int(p("self_discharge.readings").magnitude)
        acc: list[float] | None = None
        for _ in range(n):
            vals = [v.to("mV").magnitude for v in bms.cell_voltages()]
            acc = vals if acc is None else [a + b for a, b in zip(acc, vals, strict=True)]
            clock.sleep(p("self_discharge.reading_interval"))
        return [a / n for a in acc or []]

    rest(p("self_discharge.depolarisation"))
    temps.clear()
    t0, start = clock.now_s(), mean_cells()
    rest(p("self_discharge.duration"))
    end = mean_cells()
    days = (clock.now_s() - t0) / 86400.0
    drift = [(a - b) / days for a, b in zip(start, end, strict=True)]
    worst = max(drift)
    record(
        "self_discharge.cell_rate",
        Q_(worst, "mV/day"),
        instrument=bms,
        note=f"worst cell {drift.index(worst) + 1} over {days:.2f} days at {intake.soc_text()} SOC",
    )
    slope = p("self_discharge.ocv_slope")
    mean_drift = Q_(sum(drift) / len(drift), "mV/day")
    record(
        "self_discharge.module_rate",
        (mean_drift / slope).to("percent/month"),
        instrument=bms,
        note=f"mean cell drift {mean_drift:~.3gP} over OCV slope {slope:~P}",
    )
    record("self_discharge.temperature_span", Q_(max(temps) - min(temps), "delta_degC"), instrument=bms)


@pytest.mark.clause("UL 1974 S8 (derived): BMS protective functions")
def test_08_bms_protective_functions(
    gate, psu, load, bms, chamber, clock, limits, module, record, intake, station_stimulus, event
):
    outcomes = provoke_all(
        psu=psu,
        load=load,
        bms=bms,
        chamber=chamber,
        clock=clock,
        limits=limits,
        module=module,
        stimulus=station_stimulus,
        event=event,
    )
    failed = []
    for o in outcomes:
        name = f"bms.{o.kind}.response_time" + ("" if o.method == "step" else "_ramp")
        if not o.tested:
            intake.not_measured(f"BMS {o.kind.upper()} function", [name], o.note)
        elif o.acted and o.response_time is not None:
            m = record(name, o.response_time, instrument=bms, note=o.note)
            if not m.passed:
                failed.append(f"{o.kind} late")
        elif o.acted and o.trip_value is not None:
            m = record(f"bms.{o.kind}.trip_temperature", o.trip_value.to("degC"), instrument=bms, note=o.note)
            if not m.passed:
                failed.append(f"{o.kind} trip temperature {m.reason}")
        else:
            failed.append(f"{o.kind} {'not detected' if not o.detected else 'contactor not opened'}")
    record("bms.functions_failed", _count(len(failed)), note=", ".join(failed) or "all tested functions acted in time")


@pytest.mark.clause("UL 1974 S9 (derived): grade and reuse route from the limit file's rule table")
def test_09_grade(limits, intake, record, event):
    table = load_rule_table(limits.grading("module_intake"))
    note = "; ".join(intake.incomplete) or "every step complete"
    record("intake.incomplete_steps", _count(len(intake.incomplete)), note=note)
    results = {name: Result(value, intake.bands.get(name)) for name, value in intake.results.items()}
    results.update({name: Result(None, indeterminate=why) for name, why in intake.unresolved.items()})
    if "intake.incomplete_steps" in intake.results:
        results["intake.incomplete_steps"] = Result(
            intake.results["intake.incomplete_steps"], intake.bands.get("intake.incomplete_steps"), note=note
        )
    decision = evaluate(table, results)
    intake.grade = decision.as_dict()
    event(
        "grade",
        f"grade {decision.grade} ({decision.route}) by rule {decision.rule!r} of rule table "
        f"{decision.version}: {decision.measurement or 'no rule fired'} {decision.value} {decision.reason}",
        {
            **decision.as_dict(),
            "rejected_at": intake.rejected_by,
            "incomplete": list(intake.incomplete),
            "unresolved": dict(intake.unresolved),
        },
    )


@pytest.mark.clause("UL 1974 S10 (derived); EU 2023/1542 Annex XIII battery passport")
def test_10_battery_passport(dut, intake, run_info, attach, event):
    assert intake.grade is not None, "the grade step did not run"
    passport = build_passport(
        dut=dut,
        history=intake.history,
        grade=intake.grade,
        run=run_info,
        results={k: v for k, v in intake.results.items() if not isinstance(v, str)},
    )
    validate(passport)
    attach("passport.json", to_bytes(passport), "application/json")
    event(
        "passport",
        f"battery passport {passport['passportId']}: status {passport['batteryStatus']}, grade "
        f"{intake.grade['grade']}, validated against schemas/battery_passport.schema.json",
        {"passport_id": passport["passportId"], "status": passport["batteryStatus"]},
    )
