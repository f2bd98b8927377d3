"""Site acceptance, steps 7-8: duty cycles and standby loss.

Duty cycles (PNNL-22010 Rev 2 (2016) applications): each file of the limit set's `duty.cycles`
(the bench's duty-cycle format, bench/dutycycle.py; `bench dispatch` writes schedules in it) is
replayed interval by interval (test_plans/site_acceptance/duty.py: how a crew chooses its own). Per interval the power at its end is compared with the request
(tracking error) and the meter's register delta with the requested energy (unmet intervals);
over the cycle: delivered against requested energy, the duty-cycle RTE corrected for the SoC
difference, and the SoC excursion. A `bench dispatch` schedule (its header names its prediction)
is also compared with the optimiser's prediction: energy per direction and monthly peak reduction,
each as (measured - predicted) / tolerance, with what the plant's losses explain in an event. Standby: 24 h at 50 % SoC with zero command, stored-energy
loss (BMS SoC x rated energy), PCS standby energy at the meter and auxiliary energy separately.
"""

from __future__ import annotations

import pytest

from bench.units import Q_
from test_plans.site_acceptance.analysis import tracking
from test_plans.site_acceptance.duty import journal_agreement, load_cycles
from test_plans.site_acceptance.site_ops import battery_soc, energies, prepare, prepare_soc
from test_plans.site_acceptance.site_plots import series_plot

pytestmark = [pytest.mark.plan_level("site")]


def _start_soc(cycle: object, default: Q_) -> Q_:
    """The cycle's first SoC, else its `start_soc` header, else `default` (prepare.soc)."""
    soc = getattr(cycle, "soc_pct", None)
    if soc is not None and len(soc):
        return Q_(float(soc[0]), "percent")
    text = getattr(cycle, "meta", {}).get("start_soc")
    return Q_(text) if text else default


@pytest.mark.clause("PNNL-22010 Rev 2 (2016) application duty cycles: peak shaving, frequency regulation")
@pytest.mark.timeout_step("80 h")
def test_07_duty_cycles(site, meter, spec, limits, measure, clock, event, attach, earlier):
    rated = float(spec.rated_power.to("W").magnitude)
    rated_wh = float(spec.rated_energy.to("W*h").magnitude)
    tol = float(limits.param("duty.unmet_tolerance").to("").magnitude)
    active = float(limits.param("duty.active_threshold").to("").magnitude)
    for path, cyc, ref in load_cycles(limits):
        label = f"{cyc.name} ({path.name})"
        prepare(site, event)
        prepare_soc(site, clock, limits, event, _start_soc(cyc, limits.param("prepare.soc")))
        power = cyc.power_w(spec.rated_power)
        steps = cyc.steps_s
        sample_s = float(limits.param("duty.soc_sample_period").to("s").magnitude)
        soc_every = max(1, int(round(sample_s / float(min(steps)))))  # intervals between battery SoC reads
        e0, soc0 = energies(meter, clock), battery_soc(site)
        socs = [float(soc0.magnitude)]
        prev = meter.read("poi")
        prev_aux = meter.read("aux") if ref is not None else None
        req_w, meas_w, req_j, got_j, aux_j, t_end = [], [], [], [], [], []
        t_start = clock.now_s()
        for i, (p, dt) in enumerate(zip(power, steps, strict=True)):
            site.set_active_power(Q_(float(p), "W"))
            clock.sleep(Q_(float(dt), "s"))
            r = meter.read("poi")
            net = (r.energy_exported - prev.energy_exported) - (r.energy_imported - prev.energy_imported)
            prev = r
            if prev_aux is not None:  # a dispatch schedule: the site's import peak includes the auxiliaries
                a = meter.read("aux")
                aux_j.append(float((a.energy_imported - prev_aux.energy_imported).to("J").magnitude))
                prev_aux = a
            req_w.append(float(p))
            meas_w.append(float(r.active_power.to("W").magnitude))
            req_j.append(float(p) * float(dt))
            got_j.append(float(net.to("J").magnitude))
            t_end.append(clock.now_s() - t_start)
            if (i + 1) % soc_every == 0:
                socs.append(float(battery_soc(site).magnitude))
        site.set_active_power(Q_(0, "W"))
        e1, soc1 = energies(meter, clock), battery_soc(site)
        socs.append(float(soc1.magnitude))
        out, inn, _ = e1.since(e0)
        d_stored = (float(soc1.magnitude) - float(soc0.magnitude)) / 100.0 * rated_wh / 1000.0  # kWh
        out_k, in_k = float(out.magnitude), float(inn.magnitude)
        rte_dc = (out_k + max(d_stored, 0.0)) / (in_k + max(-d_stored, 0.0)) if in_k > 0 else float("nan")
        tr = tracking(req_w, meas_w, req_j, got_j, rated, tol, active)
        measure(
            "duty.tracking_error_rms",
            Q_(tr.rms_pct, "percent"),
            instrument=meter,
            note=f"{label}: {tr.intervals} intervals, power at each interval's end",
        )
        measure("duty.tracking_error_max", Q_(tr.max_pct, "percent"), instrument=meter, note=label)
        ratio = tr.delivered_kwh / tr.requested_kwh if tr.requested_kwh > 0 else float("nan")
        measure(
            "duty.energy_ratio",
            Q_(ratio, ""),
            instrument=meter,
            note=f"{label}: delivered {tr.delivered_kwh:.2f} kWh of {tr.requested_kwh:.2f} kWh requested "
            "(discharge and charge, absolute)",
        )
        measure(
            "duty.unmet_intervals",
            Q_(tr.unmet, ""),
            instrument=meter,
            note=f"{label}: power at the interval's end off by more than {100 * tol:g} % of the request "
            f"(requests >= {100 * active:g} % of rated)",
        )
        measure(
            "duty.rte",
            Q_(100.0 * rte_dc, "percent"),
            instrument=meter,
            note=f"{label}: out {out_k:.2f} kWh, in {in_k:.2f} kWh, SoC {soc0:~.2fP} -> {soc1:~.2fP} "
            f"(stored energy {d_stored:+.2f} kWh credited)",
        )
        measure("duty.soc_min", Q_(min(socs), "percent"), instrument=site, note=f"{label}: battery SoC minimum")
        measure("duty.soc_max", Q_(max(socs), "percent"), instrument=site, note=f"{label}: battery SoC maximum")
        stem = path.stem
        if ref is not None:
            table, explained = journal_agreement(
                ref,
                label=label,
                requested_w=req_w,
                delivered_j=got_j,
                aux_j=aux_j,
                rated=spec.rated_power,
                limits=limits,
                site=site,
                earlier=earlier,
                measure=measure,
                meter=meter,
                event=event,
            )
            attach(f"duty_{stem}_dispatch_agreement.csv", ("# " + explained + "\n" + table).encode(), "text/csv")
        attach(
            f"duty_{stem}.svg",
            series_plot(
                f"Duty cycle {cyc.name}: requested against delivered power",
                [
                    ("requested (kW)", [t - d for t, d in zip(t_end, steps, strict=True)], [w / 1000 for w in req_w]),
                    ("measured at interval end (kW)", t_end, [w / 1000 for w in meas_w]),
                ],
                "kW",
                "h",
                step={"requested (kW)"},
            ),
            "image/svg+xml",
        )
        attach(
            f"duty_{stem}.csv",
            (
                "t_end_s,requested_W,measured_W,requested_Wh,delivered_Wh\n"
                + "\n".join(
                    f"{t:.0f},{a:.0f},{b:.0f},{c / 3600:.1f},{d / 3600:.1f}"
                    for t, a, b, c, d in zip(t_end, req_w, meas_w, req_j, got_j, strict=True)
                )
                + "\n"
            ).encode(),
            "text/csv",
        )


@pytest.mark.clause("PNNL-22010 Rev 2 (2016) standby loss / IEC 62933-2-1 self-discharge and auxiliary power")
@pytest.mark.timeout_step("30 h")
def test_08_standby_loss(site, meter, spec, limits, measure, clock, event):
    """24 h at 50 % SoC, blocks connected, zero power command."""
    prepare(site, event)
    prepare_soc(site, clock, limits, event, limits.param("standby.soc"), limits.param("standby.soc_tolerance"))
    clock.sleep(limits.param("standby.relaxation"))  # relaxation after the preparation
    duration = limits.param("standby.duration")
    soc0, e0 = battery_soc(site), energies(meter, clock)
    clock.sleep(duration)
    soc1, e1 = battery_soc(site), energies(meter, clock)
    days = float(duration.to("day").magnitude)
    out, inn, aux = e1.since(e0)
    lost = ((soc0 - soc1).to("percent").magnitude / 100.0 * spec.rated_energy).to("kWh")
    measure(
        "standby.battery_loss",
        lost / days,
        instrument=site,
        note=f"per day: BMS SoC {soc0:~.3fP} -> {soc1:~.3fP} of {spec.rated_energy:~P} (the BMS's estimate; "
        f"self-discharge inside the cells shows only after an OCV recalibration)",
    )
    measure(
        "standby.loss_percent",
        Q_((soc0 - soc1).to("percent").magnitude / days, "percent"),
        instrument=site,
        note="per day, % of rated energy",
    )
    measure(
        "standby.pcs_energy",
        (inn - out) / days,
        instrument=meter,
        note=f"per day: PCS standby energy at the meter (import {inn:~.3fP}, export {out:~.3fP})",
    )
    measure("standby.aux_energy", aux / days, instrument=meter, note="per day: auxiliary feeder (HVAC, pump, controls)")
