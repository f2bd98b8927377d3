"""The whole analysis of a BMS log: load, check, de-drift, measure, summarise.

One call, `analyze_bms_log`, returns a `BmsLogResult` whose numbers are pint quantities; the
writers in `output` and `html` turn it into JSON, CSV and an HTML section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pint

from bench.analyze import drift as drift_mod
from bench.analyze import inputs as inputs_mod
from bench.analyze import metrics as metrics_mod
from bench.analyze import patterns as patterns_mod
from bench.analyze import quality as quality_mod
from bench.analyze.loading import LogInputError, load_log
from bench.analyze.memory import reuse_freed_memory
from bench.analyze.profile import LogProfile, load_profile
from bench.analyze.progress import SILENT, Progress
from bench.errors import ConfigError
from bench.units import Q_, parse_quantity


@dataclass
class BmsLogResult:
    """Everything the analysis found; see docs/log-analytics.md for each field."""

    profile: LogProfile
    inputs: list[str]
    quality: quality_mod.QualityReport
    drift: drift_mod.DriftResult
    metrics: metrics_mod.Metrics
    patterns: patterns_mod.Patterns
    input_files: dict[str, object] = field(default_factory=dict)  # see bench.analyze.inputs.describe

    def module_history(self) -> dict[str, object]:
        """The few numbers a module's intake history and battery passport carry from its field log."""
        m, q = self.metrics, self.quality
        exc = m.excursions
        return {
            "source": "BMS field log analysis",
            "profile": self.profile.name,
            "period_start": str(m.daily["date"].min()) if m.daily.height else None,
            "period_end": str(m.daily["date"].max()) if m.daily.height else None,
            "days_with_data": m.totals["days"],
            "data_coverage": Q_(100 * q.coverage, "percent"),
            "equivalent_full_cycles": m.totals["equivalent_full_cycles"],
            "charge_throughput": m.totals["charge"],
            "discharge_throughput": m.totals["discharge"],
            "discharge_energy": m.totals["discharge_energy"],
            "capacity_loss": m.totals["capacity_loss"],
            "energy_loss": m.totals["energy_loss"],
            "temperature_min": m.temperature_summary.get("min"),
            "temperature_max": m.temperature_summary.get("max"),
            "temperature_spread_max": m.temperature_summary.get("spread_max"),
            "cell_imbalance_charging_mean": m.imbalance_summary["charging_mean"],
            "cell_imbalance_max": m.imbalance_summary["max"],
            "cells_outside_window": sorted(set(exc["cell"].to_list())) if exc.height else [],
            "clock_drift_total": self.drift.total,
            "data_quality_findings": len(q.findings),
        }

    def intake_history(self) -> dict[str, object]:
        """The field log as a module's history, in the shape the intake plan reads (`--dut-info`).

        Cycle count is equivalent full cycles (discharged Ah / nominal Ah); throughputs are the
        discharged charge and energy; cells outside the chemistry window become negative events
        (recorded in the passport, graded by the limit set's own rules, not rejected here).
        """
        h = self.module_history()
        exc = self.metrics.excursions
        events = []
        for side, label in (("above", "cell overvoltage"), ("below", "cell undervoltage")):
            sub = exc.filter(exc["side"] == side)
            if sub.height:
                events.append(
                    f"{label} in field log: {', '.join(sorted(set(sub['cell'].to_list())))}, "
                    f"{sub.height} excursion(s), first {sub['start'].min()}"
                )
        period = f"{h['period_start']} to {h['period_end']}"
        return {
            "history": {
                "source": f"BMS field log analysis ({self.profile.name}, {period}, "
                f"{h['data_coverage'].magnitude:.1f} % coverage)",
                "cycle_count": round(float(h["equivalent_full_cycles"].magnitude), 1),
                "energy_throughput": f"{h['discharge_energy'].to('kWh').magnitude:.3f} kWh",
                "capacity_throughput": f"{h['discharge_throughput'].to('A*h').magnitude:.1f} A*h",
                "events": events,
                "field_log": h,
            }
        }


def analyze_bms_log(
    paths: list[str | Path],
    profile: LogProfile | str | Path | None = None,
    *,
    nominal_capacity: pint.Quantity | str | None = None,
    progress: Progress = SILENT,
    drift_correction: str | None = None,
    hash_inputs: bool = False,
) -> BmsLogResult:
    """Analyse one log (files, folders or globs). Bad input raises a BenchError naming what is wrong.

    `hash_inputs` records every input file's SHA-256 (and one over the set) in the result.
    """
    with reuse_freed_memory():
        return _analyze(paths, profile, nominal_capacity, progress, drift_correction, hash_inputs)


def _analyze(
    paths: list[str | Path],
    profile: LogProfile | str | Path | None,
    nominal_capacity: pint.Quantity | str | None,
    progress: Progress,
    drift_correction: str | None,
    hash_inputs: bool = False,
) -> BmsLogResult:
    if not isinstance(profile, LogProfile):
        profile = load_profile(profile, drift_correction=drift_correction)
    elif drift_correction:
        profile.drift_correction = drift_correction
    cap = profile.nominal_capacity
    if nominal_capacity is not None:
        cap = parse_quantity(nominal_capacity, source="--nominal-capacity", dimension="charge")
        if cap.magnitude <= 0:
            raise ConfigError(f"must be positive, got {cap:~P}", source="--nominal-capacity")
    nominal_ah = float(cap.to("A*h").magnitude)
    log = load_log(paths, profile, progress)
    progress.phase("checking data quality")
    qreport, clean = quality_mod.check(log, profile)
    files = log.files
    del log
    if len(clean.t_us) < 2:
        raise LogInputError(f"only {len(clean.t_us)} usable row(s) after the quality checks; need 2 or more")
    progress.phase("estimating clock drift")
    gap_s = float(profile.gap_threshold.to("s").magnitude)
    w = metrics_mod._weights(clean.t_us, gap_s)
    rest_a = float(profile.rest_current.to("A").magnitude)
    local = drift_mod.to_local(clean.t_us, profile.timezone)
    days = drift_mod.Days(local)
    dres = drift_mod.estimate(
        clean.t_us,
        local,
        clean.current,
        w,
        nominal_ah=nominal_ah,
        rest_a=rest_a,
        event=profile.drift_event,
        mode=profile.drift_correction,
        days_index=days,
    )
    if dres.applied:
        clean.t_us = drift_mod.correct(clean.t_us, dres)
        local = drift_mod.to_local(clean.t_us, profile.timezone)
        days = drift_mod.Days(local)
        w = metrics_mod._weights(clean.t_us, gap_s)
    progress.phase("computing usage and health metrics")
    pat = patterns_mod.compute(local, clean.current, w, nominal_ah, rest_a, profile.pattern_clusters, days)
    met = metrics_mod.compute(clean, local, profile, nominal_ah, w, days)
    del w, days
    met.daily = met.daily.join(pat.days.select("date", "cluster"), on="date", how="left")
    described = inputs_mod.describe(files, hash_files=hash_inputs, progress=progress)
    progress.done(f"analysed {qreport.rows_used:,} rows, {len(met.daily)} days")
    return BmsLogResult(
        profile=profile,
        inputs=[str(p) for p in paths],
        quality=qreport,
        drift=dres,
        metrics=met,
        patterns=pat,
        input_files=described,
    )
