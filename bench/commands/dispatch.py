"""`bench dispatch`: an optimal peak-shaving / time-of-use schedule as a duty cycle, with economics (docs/dispatch.md)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dispatch",
        help="optimal battery schedule (peak shaving, time of use) from a site's load and tariff",
        description="Solve the dispatch LP (HiGHS) for a battery on a site and write the schedule as a duty cycle "
        "(schedule.dutycycle.csv), per-interval results (schedule.csv), economics.json, prediction.json "
        "and dispatch.html into --out. See docs/dispatch.md for the file formats and the formulation.",
    )
    p.add_argument("--load", required=True, metavar="CSV", help="time,load[kW][,pv[kW]]; hourly or 15 min")
    p.add_argument("--tariff", required=True, metavar="TOML", help="time-of-use energy prices, demand charges, export")
    p.add_argument("--battery", required=True, metavar="TOML", help="ratings, efficiencies, SoC window, wear, costs")
    p.add_argument(
        "--passport",
        nargs="+",
        action="extend",
        default=[],
        metavar="JSON",
        help="battery passport(s) of the pack's modules (from the intake plan): energy = sum of measured "
        "remaining energy, power capped by the sum of measured power capability",
    )
    p.add_argument("--out", default="reports/dispatch", metavar="DIR", help="output folder (default reports/dispatch)")
    p.add_argument("--energy", metavar="Q", help='override the battery energy, e.g. "500 kWh"')
    p.add_argument("--power", metavar="Q", help='override the battery power (charge and discharge), e.g. "250 kW"')
    p.add_argument(
        "--max-gap",
        default="1 h",
        metavar="Q",
        help="longest run of missing intervals filled by interpolation (default 1 h); longer is an error",
    )
    p.add_argument(
        "--interval-ending",
        action="store_true",
        help="the load file's timestamps mark the end of each interval (default: the start)",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="sizing sweep: energy x power at 0.5, 1, 1.5, 2 x the battery's (or --sweep-energy/-power)",
    )
    p.add_argument("--sweep-energy", metavar="LIST", help='energies for the sweep, e.g. "200 kWh, 400 kWh, 800 kWh"')
    p.add_argument("--sweep-power", metavar="LIST", help='powers for the sweep, e.g. "100 kW, 200 kW"')
    p.add_argument(
        "--sweep-limits",
        metavar="LIST",
        help='annual throughput limits for the sweep, e.g. "none, 80 MWh/year, 50 MWh/year"',
    )
    p.add_argument(
        "--threshold",
        action="store_true",
        help="find the peak/off-peak price differential at which the NPV turns positive",
    )
    p.add_argument(
        "--trade",
        action="store_true",
        help="throughput limit (lifetime) against savings, at 100..50 %% of the unlimited throughput",
    )
    p.add_argument("--studies", action="store_true", help="all of --sweep, --threshold and --trade")
    p.add_argument(
        "--cap-mode",
        choices=["price", "row"],
        default="price",
        help="throughput cap by its Lagrange price (default, fast) or as an explicit LP row (slow; checks)",
    )
    p.add_argument("--time-limit", default=None, metavar="Q", help='solver time limit per solve, e.g. "60 s"')
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _list(text: str | None, dimension: str, unit: str, key: str, allow_none: bool = False) -> list[float | None] | None:
    from bench.units import parse_quantity

    if text is None:
        return None
    out: list[float | None] = []
    for part in text.split(","):
        part = part.strip()
        if allow_none and part.lower() == "none":
            out.append(None)
            continue
        q = parse_quantity(part, key=key, dimension=dimension)
        value = float(q.to(unit).magnitude)
        if not value > 0 or value != value or value == float("inf"):
            raise ConfigError(f"{part!r} must be positive and finite", key=key)
        out.append(value)
    if not out:
        raise ConfigError("empty list", key=key)
    return out


def run(args: argparse.Namespace) -> int:
    from bench.dispatch.battery import apply_passports, read_battery
    from bench.dispatch.economics import evaluate
    from bench.dispatch.load import read_load
    from bench.dispatch.optimiser import Optimiser
    from bench.dispatch.output import Studies, write_all
    from bench.dispatch.sizing import default_grid, differential_threshold, size_sweep, throughput_trade
    from bench.dispatch.tariff import read_tariff
    from bench.signing.manifest import sha256_file
    from bench.units import parse_quantity

    say = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    tariff = read_tariff(args.tariff)
    battery = read_battery(args.battery)
    if battery.currency != tariff.currency:
        raise ConfigError(
            f"the battery's costs are in {battery.currency}, the tariff's in {tariff.currency}",
            source=args.battery,
            key="economics.currency",
        )
    if args.passport:
        battery = apply_passports(battery, args.passport)
    if args.energy or args.power:
        e = parse_quantity(args.energy, key="--energy", dimension="energy") if args.energy else None
        p = parse_quantity(args.power, key="--power", dimension="power") if args.power else None
        for q, k in ((e, "--energy"), (p, "--power")):
            if q is not None and not (q.magnitude > 0 and q.magnitude < float("inf")):
                raise ConfigError(f"{q:~P} must be positive and finite", key=k)
        battery = battery.resized(
            None if e is None else float(e.to("kWh").magnitude), None if p is None else float(p.to("kW").magnitude)
        )
    max_gap = parse_quantity(args.max_gap, key="--max-gap", dimension="time")
    load = read_load(args.load, timezone=tariff.timezone, max_gap=max_gap, interval_ending=args.interval_ending)
    t_read = time.perf_counter()
    say(f"load: {load.n:,} intervals of {load.step_s / 60:g} min, {load.quality.first} .. {load.quality.last}")
    for f in load.quality.findings:
        say(f"data quality [{f.severity}] {f.kind}: {f.count:,} - {f.message}; {f.action}")
    limit = (
        None
        if args.time_limit is None
        else float(parse_quantity(args.time_limit, key="--time-limit", dimension="time").to("s").magnitude)
    )
    opt = Optimiser(load, tariff, battery, cap_mode=args.cap_mode, time_limit_s=limit)
    say(
        f"LP: {opt.model.size['rows']:,} rows, {opt.model.size['columns']:,} columns, "
        f"{opt.model.size['nonzeros']:,} non-zeros; solving"
    )
    schedule = opt.run()
    econ = evaluate(schedule, tariff)
    t_solve = time.perf_counter()
    studies = Studies()
    if args.sweep or args.studies or args.sweep_energy or args.sweep_power or args.sweep_limits:
        energies = _list(args.sweep_energy, "energy", "kWh", "--sweep-energy") or default_grid(battery.energy_kwh)
        powers = _list(args.sweep_power, "power", "kW", "--sweep-power") or default_grid(battery.discharge_kw)
        limits = _list(args.sweep_limits, "kWh/year", "MWh/year", "--sweep-limits", allow_none=True)
        studies.sizing = size_sweep(opt, tariff, battery, energies, powers, limits, progress=say)  # type: ignore[arg-type]
    if args.threshold or args.studies:
        studies.threshold = differential_threshold(opt, tariff, battery, progress=say).as_dict(tariff.currency)
    if args.trade or args.studies:
        if battery.lifetime_throughput is None:
            studies.notes.append(
                "throughput trade: no lifetime_throughput or cycle_life in the battery file, so "
                "life does not depend on throughput (calendar life only)"
            )
        studies.trade = throughput_trade(opt, tariff, battery, progress=say)
    t_studies = time.perf_counter()
    load_hash = sha256_file(Path(args.load))[0]
    inputs = {
        "load": {"file": str(args.load), "sha256": load_hash},
        "tariff": tariff.describe(),
        "battery": battery.describe(),
    }
    timings = {
        **schedule.timings,
        "read_inputs_s": t_read - t0,
        "solve_total_s": t_solve - t_read,
        "studies_s": t_studies - t_solve,
    }
    source = (
        f"bench dispatch --load {args.load} --tariff {args.tariff} --battery {args.battery}"
        + "".join(f" --passport {p}" for p in args.passport)
        + (f" --energy '{args.energy}'" if args.energy else "")
        + (f" --power '{args.power}'" if args.power else "")
    )
    paths = write_all(Path(args.out), schedule, econ, tariff, studies, inputs=inputs, timings=timings, source=source)
    v = econ.valuation
    cur = tariff.currency
    print(
        f"{battery.name}: {battery.energy_kwh:g} kWh / {battery.discharge_kw:g} kW on {load.n:,} intervals "
        f"({opt.model.size['rows']:,} rows x {opt.model.size['columns']:,} columns, "
        f"{schedule.timings['solve_s']:.2f} s to solve)"
    )
    print(
        f"annual bill {v.annual_bill_before:,.0f} -> {v.annual_bill_after:,.0f} {cur} (demand {v.annual_demand_savings:,.0f}, "
        f"energy {v.annual_energy_savings:,.0f}); throughput {v.annual_throughput_kwh / 1000:,.1f} MWh/year = "
        f"{v.equivalent_full_cycles:,.0f} full cycles; NPV {v.npv:,.0f} {cur} over {v.life_years:.1f} years"
        + (f"; payback {v.simple_payback_years:.1f} years" if v.simple_payback_years else "; no payback")
    )
    sim = schedule.simultaneous()
    if sim["intervals"]:
        print(
            f"warning: simultaneous charge and discharge in {sim['intervals']} interval(s), {sim['energy_kwh']:.3g} kWh "
            "(non-positive prices); see economics.json simultaneous_charge_discharge"
        )
    worst = schedule.check()
    bad = {k: x for k, x in worst.items() if x > 1e-6}
    if bad:
        print(f"error: constraints violated by the solution: {bad}", file=sys.stderr)
        return 1
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return 0
