"""Safety-chain commissioning derived from UL 9540A:2019 data, NFPA 855:2023 and IEC 62619:2022.

Every setpoint check is computed from the product's UL 9540A values in the limit set (T_vent,
vent-gas composition, gas generation rate), never typed as a bare number. Every hazard the chain
covers is provoked through the `stimulus` capability (a HIL device, or the operator with a
witness on a bench) and followed along its whole chain, stimulus -> detection -> alarm ->
contactor open -> current zero at the load (chain.py): over-temperature, rate of rise, thermal
gradient, gas stage 1 and 2, enclosure pressure, loss of the BMS link. The BMS settings a step
provokes against are read through the BMS's configuration read where its driver has one, else
typed by the operator from the BMS tool and witnessed. Nothing here knows whether the station is
simulated: the code a commissioning run executes is the code CI proves.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.units import Q_
from instruments.capabilities import SupplyPriority
from instruments.errors import InstrumentError
from test_plans.safety_chain.chain import (
    ALARMS,
    PATHS,
    Seen,
    alarm_raised,
    configured,
    interp,
    journal_response,
    lfl_mixture,
    watch,
)
from test_plans.safety_chain.operations import (
    above,
    at_zero,
    below,
    energise,
    hottest,
    kelvin,
    purge,
    recover,
    soak,
)

pytestmark = [pytest.mark.plan_level("installation")]

UL9540A = "UL 9540A:2019"
NFPA855 = "NFPA 855:2023 9.6.5.6 explosion control [recall]"
IEC62619 = "IEC 62619:2022 clause 8 BMS functional safety [recall]"


def _before(bms: Any, load: Any, limits: Any, hazard: str, detected: bool, general: bool = True) -> Seen:
    """What already shows before a stimulus: a link showing then cannot be timed (INDETERMINATE)."""
    st = bms.status()
    zero = at_zero(load, limits)
    return Seen(
        detection=detected,
        alarm=alarm_raised(st, hazard, general=general),
        trip=not st.contactor_closed,
        zero=zero,
        note=f"BMS {st.state}, alarms {st.active_alarms() or 'none'}, "
        f"contactor {'closed' if st.contactor_closed else 'open'}, load {load.measure_current():~.3gP}",
    )


def _respond(bms: Any, load: Any, limits: Any, hazard: str, detected: bool, general: bool = True) -> Seen:
    st = bms.status()
    return Seen(
        detection=detected,
        alarm=alarm_raised(st, hazard, general=general),
        trip=not st.contactor_closed,
        zero=at_zero(load, limits),
    )


# -- 0. baseline ----------------------------------------------------------------------------------
@pytest.mark.clause(f"{UL9540A} cell data (T_vent, T_TR): precursor screen at rest [bench]")
@pytest.mark.timeout_step("30 min")
def test_baseline_at_rest(bms, gas, chamber, clock, measure, require, telemetry, limits):
    """At rest and soaked, no cell may be rising and the enclosure must be clean (precursors, leaks)."""
    p = limits.param
    chamber.set_setpoint(p("chamber.ambient"))
    chamber.set_running(True)
    bms.request_state("standby")
    channels = {
        "cell.t_max": lambda: bms.status().cell_temperature_max,
        "cell.t_min": lambda: bms.status().cell_temperature_min,
    }
    with telemetry.sampling(channels, every=p("baseline.sample")):
        clock.sleep(p("baseline.duration"))
    s = telemetry.series["cell.t_max"]
    lag = max(1, round((p("baseline.rate_window") / p("baseline.sample")).to("").magnitude))
    rate = max((b - a) * 60.0 / (tb - ta) for ta, tb, a, b in zip(s.t, s.t[lag:], s.v, s.v[lag:], strict=False))
    require("thermal.baseline_rate_of_rise", Q_(rate, "K/min"), instrument=bms)
    st = bms.status()
    require("thermal.baseline_spread", (st.cell_temperature_max - st.cell_temperature_min).to("K"), instrument=bms)
    lfl = lfl_mixture(p("ul9540a.gas.composition"), p("gas.component_lfl"))
    r = gas.read()
    fraction = sum(r.ppm[g].to("ppm").magnitude for g in ("H2", "CO", "VOC")) * 1e-6 / lfl
    require("gas.baseline_lfl_fraction", Q_(100 * fraction, "percent"), instrument=gas)


# -- 1. thermal detection setpoints ---------------------------------------------------------------
@pytest.mark.clause(
    f"{UL9540A} cl. 7.3.1.8 cell vent temperature, OEM operating window: OT trip and rate-of-rise alarm settings"
)
def test_thermal_detection_setpoints(prompt, measure, limits, bms):
    p = limits.param
    t_vent, margin, oem_max = (
        p("ul9540a.cell.vent_temperature"),
        p("thermal.vent_margin"),
        p("oem.max_operating_temperature"),
    )
    trip_c, src_c = configured(bms, prompt, "ot_charge_trip")
    trip_d, src_d = configured(bms, prompt, "ot_discharge_trip")
    trip, src = (trip_c, src_c) if trip_c >= trip_d else (trip_d, src_d)
    t = trip.to("degC").magnitude
    measure(
        "thermal.ot_trip_headroom_oem",
        Q_(oem_max.to("degC").magnitude - t, "K"),
        instrument=bms,
        note=f"OEM maximum {oem_max:~P} - OT trip {trip:~P} ({src})",
    )
    ceiling = t_vent.to("degC").magnitude - kelvin(margin)
    measure(
        "thermal.ot_trip_headroom_vent",
        Q_(ceiling - t, "K"),
        instrument=bms,
        note=f"T_vent {t_vent:~P} - margin {margin:~P} = {ceiling:g} degC; OT trip {trip:~P} ({src}); "
        f"runaway onset {p('ul9540a.cell.runaway_onset_temperature'):~P}",
    )
    ror, src = configured(bms, prompt, "ror_alarm")
    measure("thermal.ror_alarm_setpoint", ror.to("K/min"), instrument=bms, note=src)
    grad, src = configured(bms, prompt, "gradient_alarm")
    measure("gradient.alarm_setpoint", grad.to("K"), instrument=bms, note=src)


# -- 2. communications loss ---------------------------------------------------------------------------
@pytest.mark.clause(
    "NFPA 855:2023 commissioning [recall]: loss of communications puts the system in a safe "
    "state within the OEM timeout"
)
@pytest.mark.interlock_inhibit("link", reason="the BMS link is cut on purpose; the DUT response is measured")
@pytest.mark.timeout_step("1 h")
def test_comms_loss(bms, load, stimulus, clock, measure, require, limits):
    """Cut the BMS link with current flowing. The bench sees the link go silent (detection), the load
    sees the pack current stop (the BMS watchdog opened its contactors: from the cut, since the
    BMS's own detection cannot be seen over a cut link), and once the link is back the BMS must
    report the communication loss it acted on."""
    p = limits.param
    energise(bms, load, clock, limits, p("comms.load_current"))
    clock.sleep(p("comms.settle"))
    before = Seen(detection=False, zero=at_zero(load, limits), note=f"load {load.measure_current():~.3gP}")
    lost: list[str] = []

    def probe() -> Seen:
        if not lost:
            try:
                bms.status()
            except InstrumentError as exc:  # the link is down: frames stale, no answer
                lost.append(str(exc))
        return Seen(detection=bool(lost), zero=at_zero(load, limits))

    t0 = clock.now_s()
    done = stimulus.cut_link(bms.name)
    try:
        r = watch(clock, t0, PATHS["comms"], limits, probe, hazard="comms", poll=p("comms.poll"), before=before)
    finally:
        load.set_input(False)
        restored = stimulus.cut_link(bms.name, cut=False)
    journal_response(
        r,
        measure,
        require,
        {"detection": bms, "zero": load},
        note=f"{done}; {lost[0] if lost else 'the BMS kept answering'}",
    )

    def answering() -> bool:
        try:
            bms.status()
            return True
        except InstrumentError:
            return False

    clock.wait_until(
        answering, timeout=p("comms.restore_timeout"), poll=p("response.recover_poll"), what="BMS answering again"
    )
    st = bms.status()
    latched = any(st.alarms.get(n, False) for n in ALARMS["comms"])  # its own flag: an error state alone says less
    measure(
        "comms.alarm_latched",
        Q_(1.0 if latched else 0.0, ""),
        instrument=bms,
        note=f"{restored}; BMS {st.state}, alarms {st.active_alarms() or 'none'} (1 = the loss is reported)",
    )
    recover(clock, bms, load, limits)


# -- 3. rate of rise ------------------------------------------------------------------------------
@pytest.mark.clause(
    f"{UL9540A} module-level initiation by cell heating (4-7 degC/min): rate-of-rise detection to shutdown; {IEC62619}"
)
@pytest.mark.timeout_step("4 h")
def test_rate_of_rise_response(bms, load, stimulus, clock, measure, require, limits, prompt):
    """A heater on one cell heats it faster than the configured rate-of-rise alarm (as the UL 9540A
    module test heats its initiating cell); the BMS must see it, alarm, open and stop the current
    before the cell has risen far. The heater stops at `ror.max_rise` whatever the BMS does."""
    p = limits.param
    setpoint, src = configured(bms, prompt, "ror_alarm")
    rate_min = setpoint.to("K/min").magnitude
    detect_rise, max_rise = kelvin(p("ror.detect_rise")), kelvin(p("ror.max_rise"))
    energise(bms, load, clock, limits, p("ror.load_current"))
    before = _before(bms, load, limits, "ror", detected=False)
    start = hottest(bms)
    peak = [start]
    zone = str(p("ror.heater_zone"))
    t0 = clock.now_s()
    done = stimulus.heat(zone, p("ror.heater_power"))

    def probe() -> Seen:
        st = bms.status()
        t = st.cell_temperature_max.to("degC").magnitude
        peak.append(t)
        elapsed = max(clock.now_s() - t0, 1e-9)
        seen = (t - start) >= detect_rise and (t - start) * 60.0 / elapsed >= rate_min
        return Seen(
            detection=seen, alarm=alarm_raised(st, "ror"), trip=not st.contactor_closed, zero=at_zero(load, limits)
        )

    def cap() -> str:
        rise = max(peak) - start
        return f"heater stopped at the {max_rise:g} K cap (hottest cell +{rise:g} K)" if rise >= max_rise else ""

    try:
        r = watch(clock, t0, PATHS["ror"], limits, probe, hazard="ror", poll=p("ror.poll"), before=before, abort=cap)
    finally:
        stimulus.heat(zone, None)
        load.set_input(False)
    journal_response(
        r,
        measure,
        require,
        {"detection": bms, "alarm": bms, "trip": bms, "zero": load},
        note=f"{done}; detected when the hottest reading rose >= {detect_rise:g} K at >= "
        f"{setpoint:~P} ({src}) from {start:g} degC; peak {max(peak):g} degC",
    )
    # the heat spreads to the neighbours after the heater stops (their readings still rise, which a
    # rate-of-rise function may rightly alarm on): let it settle, then bring the BMS back to standby
    clock.sleep(p("ror.settle"))
    clock.wait_until(
        lambda: hottest(bms) <= start + kelvin(p("ror.cool_back")),
        timeout=p("ror.cool_timeout"),
        poll=p("response.recover_poll"),
        what="heated cell back near its start temperature",
    )
    recover(clock, bms, load, limits)


# -- 4. gas detection ---------------------------------------------------------------------------
@pytest.mark.clause(f"{UL9540A} vent-gas composition and LFL; {NFPA855}; NFPA 69:2019 25 % LFL [recall]")
@pytest.mark.interlock_inhibit(
    "gas_stage", reason="the bump test raises stage 2 on purpose; the DUT shutdown is measured"
)
@pytest.mark.timeout_step("8 h")
def test_gas_detection(gas, bms, load, stimulus, clock, measure, require, limits):
    """Setpoints and exhaust from the 9540A gas data, then a bump test followed along both stages:
    stage 1 -> the BMS alarm (the designed stage-1 action is alarm and exhaust, not shutdown);
    stage 2 -> alarm -> contactor open -> current zero."""
    p = limits.param
    comp, comp_lfl = p("ul9540a.gas.composition"), p("gas.component_lfl")
    lfl_mix = lfl_mixture(comp, comp_lfl)
    measure("gas.lfl_mix", Q_(100 * lfl_mix, "percent"), note="Le Chatelier over the 9540A vent-gas composition")
    cal = str(p("gas.calibration_gas"))
    lfl_cal = Q_(comp_lfl[cal] * 1e6, "ppm")
    th = gas.thresholds()
    for stage in (1, 2):
        frac = p(f"gas.stage{stage}_fraction").to("").magnitude
        ratio = (th[f"stage{stage}.{cal}"] / (frac * lfl_cal)).to("")
        measure(
            f"gas.stage{stage}_setpoint_ratio",
            ratio,
            instrument=gas,
            note=f"{th[f'stage{stage}.{cal}']:~P} vs {frac:.0%} LFL of {cal} = {(frac * lfl_cal):~P}",
        )
    q_required = (p("ul9540a.gas.release_rate") / (0.25 * lfl_mix)).to("m**3/s")
    measure(
        "gas.exhaust_margin",
        (p("ventilation.declared_exhaust_flow") / q_required).to(""),
        note=f"required exhaust Q = G / (0.25 LFL_mix) = {q_required:~P}",
    )

    energise(bms, load, clock, limits, p("gas.load_current"))
    stage0 = gas.read().stage
    before1 = _before(bms, load, limits, "gas_stage1", detected=stage0 >= 1)
    before2 = _before(bms, load, limits, "gas_stage2", detected=stage0 >= 2, general=False)
    t0 = clock.now_s()
    done = stimulus.gas_release("bump", p("gas.release_stimulus"))
    try:
        stage1 = watch(
            clock,
            t0,
            PATHS["gas_stage1"],
            limits,
            lambda: Seen(detection=gas.read().stage >= 1, alarm=alarm_raised(bms.status(), "gas_stage1")),
            hazard="gas_stage1",
            poll=p("gas.poll"),
            before=before1,
        )
        stage2 = watch(
            clock,
            t0,
            PATHS["gas_stage2"],
            limits,
            lambda: _respond(bms, load, limits, "gas_stage2", gas.read().stage >= 2, general=False),
            hazard="gas_stage2",
            poll=p("gas.poll"),
            before=before2,
        )
    finally:
        stimulus.gas_release("bump", None)
        load.set_input(False)
    instruments = {"detection": gas, "alarm": bms, "trip": bms, "zero": load}
    journal_response(stage1, measure, require, instruments, required=("alarm",), note=done)
    journal_response(stage2, measure, require, instruments, note=done)
    purge(clock, gas, stimulus, limits)
    recover(clock, bms, load, limits)


# -- 5. pressure / vent detection -----------------------------------------------------------------
@pytest.mark.clause(f"{UL9540A} vent detection; {NFPA855}: enclosure over-pressure to shutdown")
@pytest.mark.timeout_step("8 h")
def test_pressure_vent_detection(gas, bms, load, stimulus, clock, measure, require, limits):
    """A vent-like release pressurises the enclosure past the detector's pressure alarm while the gas
    stays below stage 2: the system must act on the pressure itself (alarm, contactor open, current
    zero). The bench's gas-stage interlock stays armed: stage 2 here would be a fault."""
    p = limits.param
    measure("pressure.alarm_setpoint", gas.thresholds()["pressure_alarm"].to("Pa"), instrument=gas)
    energise(bms, load, clock, limits, p("pressure.load_current"))
    before = _before(
        bms, load, limits, "pressure", detected=bool(gas.read().alarms.get("pressure_alarm")), general=False
    )
    t0 = clock.now_s()
    done = stimulus.gas_release("vent", p("pressure.release_stimulus"))
    try:
        r = watch(
            clock,
            t0,
            PATHS["pressure"],
            limits,
            lambda: _respond(
                bms, load, limits, "pressure", bool(gas.read().alarms.get("pressure_alarm")), general=False
            ),
            hazard="pressure",
            poll=p("pressure.poll"),
            before=before,
        )
    finally:
        stimulus.gas_release("vent", None)
        load.set_input(False)
    journal_response(r, measure, require, {"detection": gas, "alarm": bms, "trip": bms, "zero": load}, note=done)
    purge(clock, gas, stimulus, limits)
    recover(clock, bms, load, limits)


# -- 6. thermal gradient -------------------------------------------------------------------------
@pytest.mark.clause(f"{IEC62619}: thermal-gradient alarm to shutdown; spread at rated current [bench]")
@pytest.mark.timeout_step("20 h")
def test_thermal_gradient(bms, load, chamber, stimulus, clock, measure, require, telemetry, limits, prompt):
    """Spread at the rated discharge current, then (current still flowing) one sensor is forced below
    the hottest by more than the configured gradient alarm and the chain is followed."""
    p = limits.param
    chamber.set_setpoint(p("chamber.ambient"))
    recover(clock, bms, load, limits)
    alarm, src = configured(bms, prompt, "gradient_alarm")
    energise(bms, load, clock, limits, p("gradient.discharge_current"))
    channels = {
        "cell.spread": lambda: (lambda st: (st.cell_temperature_max - st.cell_temperature_min).to("K"))(bms.status()),
        "load.current": lambda: abs(load.measure_current()),
    }
    with telemetry.sampling(channels, every=p("gradient.sample")):
        clock.sleep(p("gradient.duration"))
    telemetry.check("gradient.load_current_min", "load.current", "min", instrument=load)
    telemetry.check("gradient.spread", "cell.spread", "max", instrument=bms)
    limit_k = kelvin(alarm)

    def spread() -> float:
        st = bms.status()
        return kelvin(st.cell_temperature_max - st.cell_temperature_min)

    offset = Q_(max(kelvin(p("gradient.stimulus_offset")), limit_k + kelvin(p("gradient.beyond_alarm"))), "K")
    value = below(bms.status().cell_temperature_max, offset)
    channel = str(p("gradient.override_channel"))
    before = _before(bms, load, limits, "gradient", detected=spread() >= limit_k)
    t0 = clock.now_s()
    done = stimulus.sensor_override(channel, value)
    try:
        r = watch(
            clock,
            t0,
            PATHS["gradient"],
            limits,
            lambda: (
                lambda st: Seen(
                    detection=kelvin(st.cell_temperature_max - st.cell_temperature_min) >= limit_k,
                    alarm=alarm_raised(st, "gradient"),
                    trip=not st.contactor_closed,
                    zero=at_zero(load, limits),
                )
            )(bms.status()),
            hazard="gradient",
            poll=p("gradient.poll"),
            before=before,
        )
    finally:
        stimulus.sensor_override(channel, None)
        load.set_input(False)
    journal_response(
        r,
        measure,
        require,
        {"detection": bms, "alarm": bms, "trip": bms, "zero": load},
        note=f"{done}; detected when the reported spread reached the gradient alarm {alarm:~P} ({src})",
    )
    # the released override steps the reading back up, which a rate-of-rise function may (rightly)
    # alarm on: let its evaluation window pass before the BMS is brought back to standby
    clock.sleep(p("gradient.release_settle"))
    recover(clock, bms, load, limits)


# -- 7. over-temperature trip ---------------------------------------------------------------------
@pytest.mark.clause(f"{IEC62619} overheating control; UL 1973:2022 temperature limits [recall]: OT trip chain")
@pytest.mark.timeout_step("8 h")
def test_thermal_trip_response(bms, load, chamber, stimulus, clock, measure, require, limits, prompt):
    """Soak the pack just below the OT trip (every sensor must follow), then force one sensor over the
    trip and follow the chain to contactor open and current zero.

    The soak never goes above the limit set's chamber set point: a trip configured so high that
    the soak cannot come near it (e.g. an LFP product's 55 degC on an NMC pack rated 45 degC) is a
    FAIL of `thermal.soak_headroom`, and the pack is not heated towards it."""
    p = limits.param
    trip, src = configured(bms, prompt, "ot_discharge_trip")
    setpoint = p("thermal.chamber_setpoint")
    near = below(trip, p("thermal.soak_below_trip"))
    if not measure(
        "thermal.soak_headroom",
        Q_(setpoint.to("degC").magnitude - near.magnitude, "K"),
        instrument=bms,
        note=f"chamber set point {setpoint:~P}, soak target {near:~P} (trip {trip:~P} ({src}) - "
        f"{p('thermal.soak_below_trip'):~P})",
    ).passed:
        return  # not heated towards a trip above what the limit set allows; the FAIL stands
    before_soak = [t.to("degC").magnitude for t in bms.cell_temperatures()]
    # a small current: near the OEM maximum the derating curve allows almost no discharge, and the
    # BMS would (rightly) open on "discharge over limit" before the OT trip this step times
    energise(bms, load, clock, limits, p("thermal.load_current"))
    chamber.set_ramp_rate(p("thermal.chamber_ramp"))  # slower than the rate-of-rise alarm
    chamber.set_setpoint(setpoint)
    clock.wait_until(
        lambda: (lambda st: st.cell_temperature_max >= near or not st.contactor_closed)(bms.status()),
        timeout=p("thermal.soak_timeout"),
        poll=p("thermal.soak_poll"),
        what=f"cells soaked near the trip ({near:~P})",
    )
    st = bms.status()
    soaked = (
        f"soak ended at {st.cell_temperature_max:~P}"
        if st.contactor_closed
        else f"soak cut short at {st.cell_temperature_max:~P}: the BMS opened its contactors ({st.state}, alarms "
        f"{st.active_alarms() or 'none'})"
    )
    after = [t.to("degC").magnitude for t in bms.cell_temperatures()]
    rises = [a - b for a, b in zip(after, before_soak, strict=True)]
    chamber.set_setpoint(p("chamber.ambient"))
    chamber.set_ramp_rate(None)
    channel = str(p("thermal.override_channel"))
    try:
        require(
            "thermal.sensor_tracking",
            Q_(min(rises) / max(max(rises), 1e-6), ""),
            instrument=bms,
            note=f"min / max cell-sensor rise during the soak (a stuck sensor does not follow); {soaked}",
        )
        value = above(trip, p("thermal.override_above_trip"))
        before = _before(bms, load, limits, "thermal", detected=bms.status().cell_temperature_max >= trip)
        t0 = clock.now_s()
        done = stimulus.sensor_override(channel, value)
        try:
            r = watch(
                clock,
                t0,
                PATHS["thermal"],
                limits,
                lambda: (
                    lambda st: Seen(
                        detection=st.cell_temperature_max >= trip,
                        alarm=alarm_raised(st, "thermal"),
                        trip=not st.contactor_closed,
                        zero=at_zero(load, limits),
                    )
                )(bms.status()),
                hazard="thermal",
                poll=p("response.poll"),
                before=before,
            )
        finally:
            stimulus.sensor_override(channel, None)
    finally:
        load.set_input(False)
    journal_response(
        r,
        measure,
        require,
        {"detection": bms, "alarm": bms, "trip": bms, "zero": load},
        note=f"{done}; detected when the BMS reported {trip:~P} ({src}) or more",
    )
    clock.wait_until(
        lambda: bms.status().cell_temperature_max < below(trip, p("thermal.cool_below_trip")),
        timeout=p("thermal.cool_timeout"),
        poll=p("thermal.soak_poll"),
        what="cells back below the trip",
    )
    recover(clock, bms, load, limits)


# -- 8. derating ---------------------------------------------------------------------------------
@pytest.mark.clause(f"{IEC62619} overcharge control of current: derating against temperature (OEM curve)")
@pytest.mark.timeout_step("30 h")
def test_derating_curve(bms, chamber, clock, measure, limits):
    p = limits.param
    ch, dis = p("derating.charge_curve"), p("derating.discharge_curve")
    i_ch, i_dis = p("derating.max_charge_current"), p("derating.max_discharge_current")
    for target in p("derating.temperatures"):
        chamber.set_setpoint(target)
        soak(clock, bms, target, limits)
        st = bms.status()
        lo, hi = st.cell_temperature_min.to("degC").magnitude, st.cell_temperature_max.to("degC").magnitude
        f_ch = min(interp(lo, ch["T_degC"], ch["factor"]), interp(hi, ch["T_degC"], ch["factor"]))
        f_dis = min(interp(lo, dis["T_degC"], dis["factor"]), interp(hi, dis["T_degC"], dis["factor"]))
        note = f"at {target:~P} (cells {lo:.1f}..{hi:.1f} degC)"
        measure(
            "derating.charge_deviation",
            (abs(st.max_charge_current - f_ch * i_ch) / i_ch).to("percent"),
            instrument=bms,
            note=note,
        )
        measure(
            "derating.discharge_deviation",
            (abs(st.max_discharge_current - f_dis * i_dis) / i_dis).to("percent"),
            instrument=bms,
            note=note,
        )
    chamber.set_setpoint(p("chamber.ambient"))


# -- 9. cold-charge inhibit ---------------------------------------------------------------------------
@pytest.mark.clause(f"{IEC62619}; OEM charge window (LFP: 0-55 degC): no charge below the temperature floor")
@pytest.mark.timeout_step("20 h")
def test_cold_charge_inhibit(bms, psu, chamber, clock, measure, limits):
    p = limits.param
    floor = p("cold_charge.floor")
    chamber.set_setpoint(p("cold_charge.chamber_setpoint"))
    clock.wait_until(
        lambda: bms.status().cell_temperature_max < below(floor, p("cold_charge.below_floor")),
        timeout=p("cold_charge.timeout"),
        poll=p("cold_charge.poll"),
        what="cells below the charge floor",
    )
    measure("cold_charge.allowed_current", bms.status().max_charge_current, instrument=bms)
    pack_v = bms.status().pack_voltage
    psu.set_output(False)
    if isinstance(psu, SupplyPriority):  # a bidirectional supply: regulate voltage, limit current
        psu.set_priority("VOLT")
    limit = p("cold_charge.current_limit")
    psu.set_current_limit(limit, -limit)
    psu.set_voltage(pack_v + p("cold_charge.voltage_above_pack"))
    try:
        bms.request_state("charge")
    except InstrumentError as exc:  # a BMS that refuses to close for charge passes this step too
        measure("cold_charge.measured_current", Q_(0, "A"), instrument=bms, note=f"charge request refused: {exc}")
        return
    finally:
        chamber.set_setpoint(p("chamber.ambient"))
    psu.set_output(True)
    clock.sleep(p("cold_charge.observe"))
    measure(
        "cold_charge.measured_current",
        abs(bms.status().pack_current),
        instrument=bms,
        note=f"{p('cold_charge.observe'):~P} after a charge attempt {p('cold_charge.voltage_above_pack'):~P} "
        "above the pack",
    )
    psu.set_output(False)
    bms.request_state("standby")
