"""Which duty cycles step 7 replays, checked at load; and a dispatch schedule's agreement with its optimiser.

The files are the limit set's `duty.cycles` parameter. A crew replays its own (a `bench dispatch`
schedule, a utility's signal) with its project's limit set naming them, e.g. a copy of
limits/site_acceptance_lfp_300kwh.toml (its own id) with

    [parameters."duty.cycles"]
    value = ["dispatch-site/schedule.dutycycle.csv"]

    bench run test_plans/site_acceptance --limits site_replay.toml -- -k test_07

(every limit set must hold every parameter the plan declares, so a one-parameter overlay set is
refused at load; the copy is what gets signed for a production station).
A relative path is looked up beside the limit set naming it, then in the project folder. Every
file (and, for a dispatch schedule, its prediction and schedule sidecars) is loaded when the limits
load (plan.toml `checks`), so a missing or malformed file stops the run before the site is energised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.dispatch.replay import ReplayReference, compare_replay, load_reference
from bench.dutycycle import DutyCycle, load_duty_cycle
from bench.errors import ConfigError, ConfigErrors
from bench.units import Q_

ROOT = Path(__file__).resolve().parents[2]
PARAM = "duty.cycles"


def _defining_set(limits: Any, name: str) -> Any:
    return next((s for s in limits.sets if name in s.parameters), None)


def cycle_paths(limits: Any) -> list[Path]:
    """The duty-cycle files of `duty.cycles`, resolved (beside the limit set, else the project folder)."""
    owner = _defining_set(limits, PARAM)
    src = str(owner.path) if owner is not None else "plan.toml"
    value = limits.param(PARAM)
    if not isinstance(value, list) or not value:
        raise ConfigError("a non-empty list of duty-cycle files expected", source=src, key=f"parameters.{PARAM}")
    out = []
    for i, rel in enumerate(value):
        if not isinstance(rel, str) or not rel.strip():
            raise ConfigError(f"item {i}: a file path expected, got {rel!r}", source=src, key=f"parameters.{PARAM}")
        p = Path(rel)
        if not p.is_absolute():
            beside = Path(src).parent / p
            p = beside if owner is not None and beside.is_file() else ROOT / p
        if not p.is_file():
            raise ConfigError(
                f"item {i}: duty-cycle file {rel!r} not found (looked at {p})", source=src, key=f"parameters.{PARAM}"
            )
        out.append(p)
    return out


def load_cycles(limits: Any) -> list[tuple[Path, DutyCycle, ReplayReference | None]]:
    """Every duty cycle of the step, with its dispatch reference when it carries one."""
    return [(p, cyc, load_reference(cyc)) for p in cycle_paths(limits) for cyc in [load_duty_cycle(p)]]


def check_duty_cycles(limits: Any) -> None:
    """plan.toml `checks`: the files load, dispatch sidecars included (all problems reported at once)."""
    errors: list[ConfigError] = []
    try:
        paths = cycle_paths(limits)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from exc
    for p in paths:
        try:
            load_reference(load_duty_cycle(p))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigErrors(errors)


def pcs_response(earlier: Any, site: Any, rated: Any) -> tuple[Any, Any, str]:
    """(delay, ramp, how): the PCS response the prediction should assume, from what the bench observed.

    This run's step 6 results when it has them (mean delay, slowest ramp); otherwise the ramp the
    controller is set to (704 WRmp, % of rated per second) and no delay, said so in the note."""
    delays = [v for v, _ in earlier("response.delay") if np.isfinite(v.magnitude)]
    ramps = [v for v, _ in earlier("response.ramp_rate") if np.isfinite(v.magnitude)]
    if delays and ramps:
        delay = sum(delays, Q_(0, "s")) / len(delays)
        ramp = (min(ramps) * rated).to("kW/s")
        return delay, ramp, f"step 6 of this run: delay {delay:.3g~P} (mean), ramp {ramp:.3g~P} (slowest)"
    wrmp = site.read_point("704.WRmp").value
    ramp = (wrmp * rated).to("kW/s")
    return Q_(0, "s"), ramp, f"no step-6 result in this run: controller ramp setting 704.WRmp {wrmp:~P}, no delay"


def journal_agreement(
    ref: ReplayReference,
    *,
    label: str,
    requested_w: list[float],
    delivered_j: list[float],
    aux_j: list[float],
    rated: Any,
    limits: Any,
    site: Any,
    earlier: Any,
    measure: Any,
    meter: Any,
    event: Any,
) -> tuple[str, str]:
    """Compare the replay with the schedule's prediction; journal the normalised deviations.

    Returns the comparison table (CSV) and the one-line summary of what the plant's losses explain."""
    delay, ramp, how = pcs_response(earlier, site, rated)
    energy_rel = float(limits.param("duty.dispatch_energy_tolerance").to("").magnitude)
    peak_abs = limits.param("duty.dispatch_peak_tolerance")
    ag = compare_replay(
        ref,
        requested_w=np.asarray(requested_w),
        delivered_j=np.asarray(delivered_j),
        aux_j=np.asarray(aux_j),
        rated=rated,
        delay=delay,
        ramp=ramp,
        energy_rel=energy_rel,
        peak_abs=peak_abs,
    )
    ex = ag.explained
    explained = (
        f"PCS response ({how}) costs {ex['ramp_and_delay_discharge_kWh']:+.3f} kWh of discharge and "
        f"{ex['ramp_and_delay_charge_kWh']:+.3f} kWh of charge against ideal tracking; PCS standby in idle "
        f"intervals imported {ex['idle_standby_import_kWh']:.3f} kWh (in neither direction); auxiliary "
        f"feeder {ex['auxiliary_kWh']:.2f} kWh (mean {ex['auxiliary_mean_kW']:.2f} kW, added to the site "
        f"load with and without the battery); PCS conversion losses are on the DC side (SoC), not at the "
        f"meter"
    )
    for what, name in (
        ("energy discharged", "duty.dispatch_discharged_deviation"),
        ("energy charged", "duty.dispatch_charged_deviation"),
        ("peak reduction", "duty.dispatch_peak_reduction_deviation"),
    ):
        rows = [r for r in ag.rows if r["what"].startswith(what)]
        detail = "; ".join(
            f"{r['what']}: measured {r['measured']:.3f~P}, predicted {r['predicted']:.3f~P}, "
            f"difference {r['difference']:+.3f~P}, tolerance {r['tolerance']:.3f~P}"
            for r in rows
        )
        measure(
            name,
            Q_(ag.worst(what), ""),
            instrument=meter,
            note=f"{label}: (measured - predicted) / tolerance, furthest off; {detail}; tolerance from "
            f"bench.dispatch.predict.tolerance ({100 * energy_rel:g} % of the prediction + 0.1 % of rated "
            f"power for 1 h; peaks {peak_abs:~P})",
        )
    event("dispatch agreement", f"{label}: {explained}", {k: round(v, 6) for k, v in ex.items()})
    table = ["what,predicted,measured,difference,tolerance,unit,ok"]
    for r in ag.rows:
        unit = f"{r['predicted'].units:~P}"
        table.append(
            f"{r['what']},{r['predicted'].magnitude:.4f},{r['measured'].to(unit).magnitude:.4f},"
            f"{r['difference'].to(unit).magnitude:.4f},{r['tolerance'].to(unit).magnitude:.4f},{unit},"
            f"{r['ok']}"
        )
    return "\n".join(table) + "\n", explained
