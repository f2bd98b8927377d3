"""Site acceptance, steps 4-6: reference performance test, round-trip efficiency, response.

Derived from PNNL-22010 Rev 2 (2016): stored energy capacity at rated power from the upper to
the lower end of the operating SoC window, repeated; RTE from those cycles at the declared
boundary (AC at the site meter, auxiliaries on their own feeder reported separately); response
time and ramp rate from steps at 50 % SoC sampled at >= 10 Hz, with the system DC resistance
from the same steps (PNNL-26492 (2017) practice). Energies are the meter's register deltas.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.units import Q_
from test_plans.site_acceptance.analysis import rte, step_response
from test_plans.site_acceptance.site_ops import battery_soc, energies, prepare, prepare_soc, run_until_stopped
from test_plans.site_acceptance.site_plots import series_plot

pytestmark = [pytest.mark.plan_level("site")]
NAN = float("nan")


def _cycle_sets(rows: list[tuple[Any, str]], n: int) -> list[Any] | None:
    """Values of the last complete set of n cycles (notes 'cycle k of n'); None if there is none.

    A step cut mid-way and rerun leaves a partial set before the complete one: only complete
    sets count, the last one wins."""
    sets: list[list[Any]] = []
    for value, note in rows:
        if note.startswith("cycle 1 of"):
            sets.append([])
        if sets:
            sets[-1].append(value)
    complete = [s for s in sets if len(s) == n]
    return complete[-1] if complete else None


@pytest.mark.clause("PNNL-22010 Rev 2 (2016) reference performance test: stored energy capacity at rated power")
@pytest.mark.timeout_step("30 h")
def test_04_reference_performance(site, meter, spec, limits, measure, clock, event, telemetry, attach):
    """Charge to the top of the window, then n x (discharge at rated power to the bottom, rest,
    recharge, rest); usable energy, spread between cycles and SoC spread between blocks."""
    prepare(site, event)
    power = limits.param("rpt.power")
    rest, poll, timeout = limits.param("rpt.rest"), limits.param("rpt.poll"), limits.param("rpt.timeout")
    n = int(limits.param("rpt.cycles"))
    _, full = run_until_stopped(site, meter, clock, -power, poll, timeout)
    if not full:
        event("deviation", f"the site did not reach the top of its SoC window within {timeout:~P}")
    clock.sleep(rest)
    t_plot: list[float] = []
    p_plot: list[float] = []
    soc_plot: list[float] = []
    table = [
        "cycle,discharge_kWh,charge_kWh,aux_discharge_kWh,aux_rest_kWh,aux_charge_kWh,t_discharge_start_s,"
        "t_discharge_end_s,t_charge_start_s,t_charge_end_s"
    ]
    dis_all = []
    for k in range(1, n + 1):
        e0 = energies(meter, clock)
        run_until_stopped(site, meter, clock, power, poll, timeout)
        e1 = energies(meter, clock)
        blocks = site.blocks()
        socs = [b.soc.to("percent").magnitude for b in blocks]
        t_plot.append(e1.t_s)
        p_plot.append(float((e1.exported - e0.exported).to("kWh").magnitude))
        soc_plot.append(float(battery_soc(site).magnitude))
        clock.sleep(rest)
        e2 = energies(meter, clock)
        run_until_stopped(site, meter, clock, -power, poll, timeout)
        e3 = energies(meter, clock)
        clock.sleep(rest)
        e4 = energies(meter, clock)
        e_dis = (e1.exported - e0.exported).to("kWh")
        e_ch = (e3.imported - e2.imported).to("kWh")
        aux_d, aux_c = (e1.aux - e0.aux).to("kWh"), (e3.aux - e2.aux).to("kWh")
        aux_r = ((e2.aux - e1.aux) + (e4.aux - e3.aux)).to("kWh")
        tag = f"cycle {k} of {n}"
        window = f"discharge {e0.t_s:.1f}-{e1.t_s:.1f} s, charge {e2.t_s:.1f}-{e3.t_s:.1f} s (run time)"
        measure("rpt.discharge_energy", e_dis, instrument=meter, note=f"{tag}: {window}")
        measure("rpt.charge_energy", e_ch, instrument=meter, note=f"{tag}: {window}")
        measure("rpt.aux_energy_discharge", aux_d, instrument=meter, note=tag)
        measure("rpt.aux_energy_rest", aux_r, instrument=meter, note=tag)
        measure("rpt.aux_energy_charge", aux_c, instrument=meter, note=tag)
        measure("rpt.aux_energy", aux_d + aux_r + aux_c, instrument=meter, note=tag)
        measure(
            "rpt.block_soc_spread",
            Q_(max(socs) - min(socs), "percent"),
            instrument=site,
            note=f"{tag}: block SoC at the end of discharge {', '.join(f'{s:.2f} %' for s in socs)}",
        )
        dis_all.append(e_dis)
        table.append(
            f"{k},{e_dis.magnitude:.3f},{e_ch.magnitude:.3f},{aux_d.magnitude:.3f},{aux_r.magnitude:.3f},"
            f"{aux_c.magnitude:.3f},{e0.t_s:.1f},{e1.t_s:.1f},{e2.t_s:.1f},{e3.t_s:.1f}"
        )
    mean = sum(dis_all, Q_(0, "kWh")) / len(dis_all)
    measure(
        "rpt.usable_energy",
        mean,
        instrument=meter,
        note=f"mean of {n} discharges at {power:~P}: " + ", ".join(f"{e.magnitude:.2f}" for e in dis_all) + " kWh",
    )
    spread = (max(dis_all) - min(dis_all)) / mean
    measure("rpt.energy_spread", spread.to("percent"), instrument=meter)
    attach("capacity_cycles.csv", ("\n".join(table) + "\n").encode(), "text/csv")
    attach(
        "capacity_cycles.svg",
        series_plot(
            f"Capacity cycles at {power:~P}: energy discharged per cycle",
            [("discharge energy (kWh)", t_plot, p_plot)],
            "kWh",
            "h",
        ),
        "image/svg+xml",
    )


@pytest.mark.clause("PNNL-22010 Rev 2 (2016) round-trip efficiency from the capacity cycles (AC at the meter)")
@pytest.mark.timeout_step("10 min")
def test_05_round_trip_efficiency(earlier, limits, measure, event, attach):
    """RTE = sum E_dis / sum E_ch; with auxiliaries sum E_dis / (sum E_ch + sum E_aux)."""
    n = int(limits.param("rpt.cycles"))
    sets = {
        name: _cycle_sets(earlier(f"rpt.{name}"), n)
        for name in (
            "discharge_energy",
            "charge_energy",
            "aux_energy",
            "aux_energy_discharge",
            "aux_energy_charge",
            "aux_energy_rest",
        )
    }
    if any(v is None for v in sets.values()):
        note = "INDETERMINATE: no complete set of capacity cycles recorded in this run (step 4)"
        measure("rte.ac", Q_(NAN, "percent"), note=note)
        measure("rte.ac_with_aux", Q_(NAN, "percent"), note=note)
        return
    kwh = {k: [float(v.to("kWh").magnitude) for v in vals] for k, vals in sets.items()}
    e_dis, e_ch, e_aux = kwh["discharge_energy"], kwh["charge_energy"], kwh["aux_energy"]
    ac = rte(e_dis, e_ch)
    with_aux = rte(e_dis, e_ch, e_aux)
    formula = (
        "RTE_AC = sum(E_dis) / sum(E_ch) over the complete capacity cycles, energies from the site meter's "
        "registers at the point of interconnection; RTE_AC,aux = sum(E_dis) / (sum(E_ch) + sum(E_aux)), "
        "E_aux the auxiliary feeder's energy over the cycles (discharge + rests + charge)"
    )
    measure(
        "rte.ac", Q_(100 * ac, "percent"), note=f"{sum(e_dis):.2f} kWh / {sum(e_ch):.2f} kWh over {n} cycles; {formula}"
    )
    measure(
        "rte.ac_with_aux",
        Q_(100 * with_aux, "percent"),
        note=f"{sum(e_dis):.2f} kWh / ({sum(e_ch):.2f} + {sum(e_aux):.2f}) kWh; auxiliaries: discharge "
        f"{sum(kwh['aux_energy_discharge']):.2f}, rests {sum(kwh['aux_energy_rest']):.2f}, charge "
        f"{sum(kwh['aux_energy_charge']):.2f} kWh",
    )
    event("formula", formula, {"rte_ac": ac, "rte_ac_with_aux": with_aux})
    rows = ["cycle,E_dis_kWh,E_ch_kWh,E_aux_discharge_kWh,E_aux_rest_kWh,E_aux_charge_kWh,RTE_AC,RTE_AC_aux"]
    for i in range(n):
        rows.append(
            f"{i + 1},{e_dis[i]:.3f},{e_ch[i]:.3f},{kwh['aux_energy_discharge'][i]:.3f},"
            f"{kwh['aux_energy_rest'][i]:.3f},{kwh['aux_energy_charge'][i]:.3f},{e_dis[i] / e_ch[i]:.4f},"
            f"{e_dis[i] / (e_ch[i] + e_aux[i]):.4f}"
        )
    rows.append(
        f"all,{sum(e_dis):.3f},{sum(e_ch):.3f},{sum(kwh['aux_energy_discharge']):.3f},"
        f"{sum(kwh['aux_energy_rest']):.3f},{sum(kwh['aux_energy_charge']):.3f},{ac:.4f},{with_aux:.4f}"
    )
    attach("rte_table.csv", ("# " + formula + "\n" + "\n".join(rows) + "\n").encode(), "text/csv")


@pytest.mark.clause("PNNL-22010 Rev 2 (2016) response time and ramp rate; DC resistance from the steps")
@pytest.mark.timeout_step("6 h")
def test_06_response_and_ramp(site, meter, spec, limits, measure, clock, event, telemetry, attach):
    """Steps 0 -> +P, +P -> -P, -P -> 0 from 50 % SoC, sampled at >= 10 Hz at the meter."""
    prepare(site, event)
    prepare_soc(site, clock, limits, event, limits.param("response.soc"))
    clock.sleep(limits.param("response.settle"))
    p = limits.param("response.power").to("W")
    hold = float(limits.param("response.hold").to("s").magnitude)
    dt = limits.param("response.sample_period")
    band = (limits.param("response.band").to("") * spec.rated_power).to("W").magnitude
    rated = float(spec.rated_power.to("W").magnitude)
    dcir_at = float(limits.param("response.dcir_delay").to("s").magnitude)
    t_all: list[float] = []
    w_all: list[float] = []
    cmd_t: list[float] = [clock.now_s()]
    cmd_w: list[float] = [0.0]
    resistances: list[str] = []
    r_values: list[float] = []
    for p0, p1 in ((Q_(0, "W"), p), (p, -p), (-p, Q_(0, "W"))):
        before = site.blocks()
        t_cmd = clock.now_s()
        site.set_active_power(p1)
        cmd_t.append(t_cmd)
        cmd_w.append(float(p1.magnitude))
        ts, ws = [t_cmd], [float(meter.read("poi").active_power.to("W").magnitude)]
        after = None
        for _ in range(int(hold / float(dt.to("s").magnitude))):
            clock.sleep(dt)
            now = clock.now_s()
            ts.append(now)
            ws.append(float(meter.read("poi").active_power.to("W").magnitude))
            if after is None and now - t_cmd >= dcir_at - 1e-9:
                after = site.blocks()
        t_all += ts
        w_all += ws
        r = step_response(ts, ws, t_cmd, float(p0.magnitude), float(p1.magnitude), band, rated)
        label = f"step {p0.to('kW'):~P} -> {p1.to('kW'):~P}"
        measure("response.delay", Q_(r.delay_s, "s"), instrument=meter, note=label)
        measure("response.rise_time", Q_(r.rise_s, "s"), instrument=meter, note=label)
        measure(
            "response.settling_time",
            Q_(r.settling_s, "s"),
            instrument=meter,
            note=f"{label}, band +-{band / 1000:g} kW",
        )
        measure("response.overshoot", Q_(r.overshoot_pct, "percent"), instrument=meter, note=label)
        measure(
            "response.ramp_rate",
            Q_(r.ramp_pct_per_s, "percent/s"),
            instrument=meter,
            note=f"{label}: 10-90 % of the change in {r.rise_s:.2f} s",
        )
        if after is not None:
            for b0, b1 in zip(before, after, strict=True):
                di = (b1.current - b0.current).to("A").magnitude
                if abs(di) > 1.0:
                    res = abs((b1.voltage - b0.voltage).to("V").magnitude / di)
                    r_values.append(res)
                    resistances.append(f"block {b0.index} {label}: {res * 1000:.1f} mohm")
    if r_values:
        measure(
            "response.dc_resistance",
            Q_(max(r_values), "ohm"),
            instrument=site,
            note=f"largest of dV/dI at {dcir_at:g} s after each step (714/802 V and A): " + "; ".join(resistances),
        )
    else:
        measure("response.dc_resistance", Q_(NAN, "ohm"), instrument=site, note="INDETERMINATE: no current change seen")
    cmd_t.append(t_all[-1])
    cmd_w.append(cmd_w[-1])
    t0 = cmd_t[0]
    attach(
        "response_steps.svg",
        series_plot(
            "Response: command against measured active power (site meter)",
            [
                ("command (kW)", [t - t0 for t in cmd_t], [w / 1000 for w in cmd_w]),
                ("measured (kW)", [t - t0 for t in t_all], [w / 1000 for w in w_all]),
            ],
            "kW",
            "s",
            step={"command (kW)"},
        ),
        "image/svg+xml",
    )
    attach(
        "response_steps.csv",
        (
            "t_s,measured_W\n" + "\n".join(f"{t - t0:.2f},{w:.0f}" for t, w in zip(t_all, w_all, strict=True)) + "\n"
        ).encode(),
        "text/csv",
    )
