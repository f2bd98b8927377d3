"""Batch runs: one plan, many modules, one station; one pytest subprocess and one record per module.

Why subprocesses: a repurposer grades dozens of modules a day, and one module's crash (a driver
exception, a kill, a simulator bug) must not lose another module's record. Each module runs as
`python -m pytest PLAN --batch-id ID --dut SERIAL --dut-info FILE ...`, so each gets its own run
in the journal (COMPLETED or ABORTED, never silently missing), and the summary is read back from
the journal, not from the child's output. A module whose run aborted, or that never got a run,
is in the summary all the same: status ABORTED (or NOT RUN / TIMEOUT), grade `quarantine` with
the reason, counted against yield.

The module list is a CSV with a header. Columns (only `serial` is required):

    serial       module serial number
    chemistry    picks a limit set from the plan's [batch.limits_by_chemistry] table
    limits       a limit-set file (overrides chemistry)
    station      a station file (default: the one given to the batch, else the plan's)
    dut_info     a JSON file of identity/history (imported passport), merged into the DUT info
    simulation   simulated station only: a TOML file of this module's simulated condition
    sim_profile  simulated station only: a named condition of the plan's [batch] sim_profiles file
    sim_seed     simulated station only: plant seed
    sim_faults   simulated station only: JSON list of fault dicts (instruments/sim/plant/faults.py)

A simulated condition (a profile, or a `simulation` file, or both: the file refines the profile)
has the keys `description`, `seed`, `overrides` (plant config sections), `faults` (list of fault
tables), `prompts` (answers of the simulated operator, e.g. the visual check), `dut` (DUT-info
extras such as history, which ARE passport data) and `expect` (what a ground-truth test expects;
never read by the run). The simulated condition is what the module IS, so it never enters the
DUT record: the batch writes `<work>/<serial>.station.toml`, a station file that includes the
batch's station and sets `[simulation.module]` and `[simulation.prompts]`, and runs the module
on it. The run's record then shows the station files it ran on, and the DUT only as received.

The summary (counts per grade, yield, per-module verdict, grade, deciding rule and reason) is
printed and written to `<report-dir>/batch-<id>.json` and `.html`. The grade of a module is
read from its run's "grade" event (data: grade, route, rule, measurement, reason); the plan
decides it, not this file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.batch_summary import REUSABLE, format_table, summarise, write_summary  # noqa: F401 - part of the API
from bench.errors import ConfigError, ConfigErrors
from bench.journal import Journal
from bench.station import load_station

COLUMNS = {
    "serial",
    "chemistry",
    "limits",
    "station",
    "dut_info",
    "simulation",
    "sim_profile",
    "sim_seed",
    "sim_faults",
}
CONDITION_KEYS = {"description", "seed", "overrides", "faults", "prompts", "dut", "expect"}
ABORT_GRADE = "quarantine"
ABORT_ROUTE = "hold: the run did not complete, re-test"
RECENT_RUNS = 100_000  # runs read back from the journal to find this batch's (newest first)
KILL_GRACE_S = 15.0  # after SIGTERM at the module timeout (the run closes ABORTED), then SIGKILL


@dataclass
class ModuleRow:
    serial: str
    chemistry: str = ""
    limits: str = ""
    station: str = ""
    dut_info: str = ""
    simulation: str = ""
    sim_profile: str = ""
    sim_seed: str = ""
    sim_faults: str = ""
    line: int = 0


@dataclass
class ModuleOutcome:
    serial: str
    run_id: str = ""
    status: str = "NOT RUN"
    verdict: str = ""
    grade: str = ""
    route: str = ""
    rule: str = ""
    measurement: str = ""
    value: str = ""
    reason: str = ""
    exit_code: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + system CPU of the module's process: comparable on a loaded machine
    log: str = ""
    report: str = ""
    station: str = ""
    profile: str = ""
    description: str = ""
    expect: dict[str, Any] = field(default_factory=dict)


def check_condition(table: Any, source: str, key: str) -> list[ConfigError]:
    """Problems of one simulated condition (profile or `simulation` file), each by file and key."""
    if not isinstance(table, dict):
        return [ConfigError(f"expected a table with some of {sorted(CONDITION_KEYS)}", source=source, key=key)]
    errors = [
        ConfigError(
            f"unknown key; expected some of {sorted(CONDITION_KEYS)}", source=source, key=f"{key}.{k}" if key else k
        )
        for k in sorted(set(table) - CONDITION_KEYS)
    ]

    def err(sub: str, msg: str) -> None:
        errors.append(ConfigError(msg, source=source, key=f"{key}.{sub}" if key else sub))

    if "seed" in table and (isinstance(table["seed"], bool) or not isinstance(table["seed"], int)):
        err("seed", f"expected an integer plant seed, got {table['seed']!r}")
    for sub in ("overrides", "prompts", "dut", "expect"):
        if sub in table and not isinstance(table[sub], dict):
            err(sub, "expected a table")
    faults = table.get("faults", [])
    if not isinstance(faults, list):
        err("faults", "expected a list of fault tables")
    else:
        for i, f in enumerate(faults):
            if not isinstance(f, dict) or not isinstance(f.get("type"), str):
                err(f"faults[{i}]", "expected a fault table with a 'type' (instruments/sim/plant/faults.py)")
    for name, answer in dict(table.get("prompts", {}) if isinstance(table.get("prompts"), dict) else {}).items():
        if not isinstance(answer, str):
            err(f"prompts.{name}", f"expected a text answer, got {answer!r}")
    if "description" in table and not isinstance(table["description"], str):
        err("description", "expected text")
    return errors


def read_dut_list(path: str | Path) -> list[ModuleRow]:
    """Read and check the CSV; every problem is reported at once by line and column."""
    p = Path(path)
    errors: list[ConfigError] = []
    rows: list[ModuleRow] = []
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if "serial" not in header:
            raise ConfigError("the module list needs a 'serial' column", source=str(p), key="header")
        unknown = sorted(set(header) - COLUMNS)
        if unknown:
            raise ConfigError(
                f"unknown column(s) {unknown}; expected some of {sorted(COLUMNS)}", source=str(p), key="header"
            )
        seen: set[str] = set()
        for n, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            serial = row.get("serial", "")
            if not serial:
                errors.append(ConfigError("empty serial", source=str(p), key=f"line {n}"))
                continue
            if serial in seen:
                errors.append(ConfigError(f"serial {serial!r} listed twice", source=str(p), key=f"line {n}"))
            seen.add(serial)
            if row.get("sim_seed"):
                try:
                    int(row["sim_seed"])
                except ValueError:
                    errors.append(
                        ConfigError(
                            f"sim_seed must be an integer, got {row['sim_seed']!r}", source=str(p), key=f"line {n}"
                        )
                    )
            if row.get("sim_faults"):
                try:
                    faults = json.loads(row["sim_faults"])
                except ValueError as exc:
                    errors.append(
                        ConfigError(
                            f"sim_faults must be a JSON list of fault dicts: {exc}", source=str(p), key=f"line {n}"
                        )
                    )
                else:
                    errors += check_condition({"faults": faults}, str(p), f"line {n}.sim_faults")
            if row.get("simulation") and not Path(row["simulation"]).exists():
                errors.append(
                    ConfigError(f"simulation file {row['simulation']!r} not found", source=str(p), key=f"line {n}")
                )
            rows.append(ModuleRow(line=n, **{k: row.get(k, "") for k in COLUMNS}))
    if errors:
        raise ConfigErrors(errors)
    if not rows:
        raise ConfigError("the module list has no rows", source=str(p))
    return rows


def plan_batch_config(plan: Path) -> tuple[dict[str, Any], Path]:
    """The plan's plan.toml (all of it) and the plan folder."""
    folder = plan if plan.is_dir() else plan.parent
    f = folder / "plan.toml"
    if not f.exists():
        return {}, folder
    return dict(tomllib.loads(f.read_text(encoding="utf-8"))), folder


def load_profiles(plan: Path) -> dict[str, dict[str, Any]]:
    """The plan's named simulated conditions ([batch] sim_profiles), checked key by key."""
    cfg, folder = plan_batch_config(plan)
    name = cfg.get("batch", {}).get("sim_profiles")
    if not name:
        return {}
    path = folder / name
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    profiles = data.get("profiles", {})
    errors: list[ConfigError] = []
    for key, table in profiles.items():
        errors += check_condition(table, str(path), f"profiles.{key}")
    if errors:
        raise ConfigErrors(errors)
    return dict(profiles)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def module_condition(row: ModuleRow, profiles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The module's simulated condition: profile, refined by its `simulation` file, seed and faults columns."""
    cond: dict[str, Any] = {}
    if row.sim_profile:
        if row.sim_profile not in profiles:
            raise ConfigError(
                f"unknown sim_profile {row.sim_profile!r}; known: {sorted(profiles)}", key=f"line {row.line}"
            )
        cond = json.loads(json.dumps(profiles[row.sim_profile]))
    if row.simulation:
        path = Path(row.simulation)
        try:
            extra = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from exc
        errors = check_condition(extra, str(path), "")
        if errors:
            raise ConfigErrors(errors)
        faults = list(cond.get("faults", [])) + list(extra.get("faults", []))
        cond = _merge(cond, {k: v for k, v in extra.items() if k != "faults"})
        if faults:
            cond["faults"] = faults
    if row.sim_seed:
        cond["seed"] = int(row.sim_seed)
    if row.sim_faults:
        cond["faults"] = list(cond.get("faults", [])) + json.loads(row.sim_faults)
    return cond


def _toml_value(v: Any, key: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ConfigError(f"non-finite number {v!r}", key=key)
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x, key) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x, f'{key}.{k}')}" for k, x in v.items()) + " }"
    raise ConfigError(f"cannot write {type(v).__name__} {v!r} to a station file", key=key)


def write_station_overlay(path: Path, base: Path, serial: str, cond: dict[str, Any], batch_id: str) -> Path:
    """A station file that includes `base` and sets this module's simulated condition."""
    lines = [
        f"# Simulated condition of module {serial} in batch {batch_id}, written by bench/batch.py.",
        "# What the simulated module IS (the plan must find it from measurements); not DUT data.",
        "[station]",
        f"include = [{json.dumps(str(base.resolve()))}]",
        "",
        "[simulation.module]",
        f"serial = {json.dumps(serial)}",
    ]
    for key in ("description", "seed", "overrides", "faults"):
        if key in cond:
            lines.append(f"{key} = {_toml_value(cond[key], key)}")
    if cond.get("prompts"):
        lines += ["", "[simulation.prompts]"]
        lines += [f"{json.dumps(k)} = {_toml_value(str(v), k)}" for k, v in cond["prompts"].items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _option(args: list[str], name: str) -> str:
    """The last value of `name` in a command line (`--x V` or `--x=V`), or ''."""
    value = ""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a.split("=", 1)[1]
    return value


def _without(args: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == name:
            skip = True
            continue
        if not a.startswith(name + "="):
            out.append(a)
    return out


def prepare(
    row: ModuleRow,
    *,
    plan: Path,
    work: Path,
    profiles: dict[str, dict[str, Any]],
    base_args: list[str],
    batch_id: str = "",
) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """Command line, simulated condition and expectation for one module; writes its files into `work`."""
    cfg, _ = plan_batch_config(plan)
    info: dict[str, Any] = {}
    if row.dut_info:
        info.update(json.loads(Path(row.dut_info).read_text(encoding="utf-8")))
    cond = module_condition(row, profiles)
    info.update(cond.get("dut", {}))
    info["serial"] = row.serial
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in row.serial)
    info_path = work / f"{safe}.dut.json"
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
    station = row.station or _option(base_args, "--station") or str(cfg.get("plan", {}).get("station", ""))
    args = [*_without(base_args, "--station"), "--dut", row.serial, "--dut-info", str(info_path)]
    if any(k in cond for k in ("seed", "overrides", "faults", "prompts", "description")):
        base = Path(station)
        if not base.exists():
            raise ConfigError(
                f"station {station!r} not found (from the working directory {Path.cwd()})", key=f"line {row.line}"
            )
        if not load_station(base, check_drivers=False).simulated:
            raise ConfigError(
                f"a simulated condition (sim_profile, simulation, sim_seed, sim_faults) needs a "
                f"simulated station; {station} is not",
                key=f"line {row.line}",
            )
        station = str(write_station_overlay(work / f"{safe}.station.toml", base, row.serial, cond, batch_id))
    if station:
        args += ["--station", station]
    limits = row.limits
    if not limits and row.chemistry:
        by_chem = {k.upper(): v for k, v in dict(cfg.get("batch", {}).get("limits_by_chemistry", {})).items()}
        limits = by_chem.get(row.chemistry.upper(), "")
        if not limits:
            raise ConfigError(
                f"no limit set for chemistry {row.chemistry!r} in the plan's [batch.limits_by_chemistry]",
                key=f"line {row.line}",
            )
    if limits:
        args = _without(args, "--limits") + ["--limits", limits]
    return args, cond, dict(cond.get("expect", {}))


def _last_error(log: Path) -> str:
    """The most telling line of a child's output when it opened no run (set-up error)."""
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    problems = [ln[2:] for ln in lines if ln.startswith("- ")]  # the bench's "N problem(s):" list
    if problems:
        return "; ".join(problems)[:600]
    for ln in reversed(lines):
        if ("Error" in ln or "error" in ln) and not ln.startswith("!"):
            return ln[:300]
    return lines[-1][:300] if lines else ""


def _outcome_from_journal(journal_path: Path, batch_id: str, serial: str, out: ModuleOutcome) -> None:
    if not journal_path.exists():
        return
    j = Journal(journal_path)
    try:
        runs = [r for r in j.runs(limit=RECENT_RUNS) if r.get("batch_id") == batch_id and r.get("dut_serial") == serial]
        if not runs:
            return
        run = runs[0]
        out.run_id, out.status, out.verdict = run["run_id"], run["status"], run.get("verdict") or ""
        out.reason = str(run.get("reason") or "")
        for e in j.events(out.run_id):
            if e["kind"] == "grade":
                data = e.get("data") or {}
                out.grade = str(data.get("grade", ""))
                out.route = str(data.get("route", ""))
                out.rule = str(data.get("rule", ""))
                out.measurement = str(data.get("measurement", ""))
                out.value = str(data.get("value", ""))
                out.reason = str(data.get("reason", "")) or out.reason
    finally:
        j.close()


def settle_ungraded(out: ModuleOutcome, log: Path | None = None) -> None:
    """A module without a grade is quarantined with the reason; it stays in the summary and the yield.

    One rule for the station's batch summary and the fleet's yield queries (bench.fleet.queries)."""
    if out.grade:
        return
    if out.status == "NOT RUN":
        why = (_last_error(log) if log is not None else "") or f"exit code {out.exit_code}"
        out.reason = f"no run was opened: {why}"
    elif out.status == "TIMEOUT":
        out.reason = out.reason or "the module's process was stopped at the batch's module timeout"
    elif out.status == "COMPLETED":
        out.reason = out.reason or "the run completed without a grade event"
    else:
        out.reason = out.reason or "run aborted"
    out.grade, out.route, out.rule = ABORT_GRADE, ABORT_ROUTE, f"run {out.status.lower()}"


def _run_child(args: list[str], log: Any, timeout_s: float | None) -> tuple[int, float, bool]:
    """Run one module's process; (exit code, CPU seconds, timed out). At the timeout the child gets
    SIGTERM (the bench closes its run ABORTED and writes the report), then SIGKILL after a grace."""
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    fired = threading.Event()
    reaped = threading.Lock()
    done = False

    def stop(sig: int) -> None:
        with reaped:
            if not done:
                fired.set()
                os.kill(proc.pid, sig)

    timers = (
        []
        if timeout_s is None
        else [
            threading.Timer(timeout_s, stop, (signal.SIGTERM,)),
            threading.Timer(timeout_s + KILL_GRACE_S, stop, (signal.SIGKILL,)),
        ]
    )
    for t in timers:
        t.daemon = True
        t.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        with reaped:
            done = True
        for t in timers:
            t.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, fired.is_set()


def run_batch(
    plan: Path,
    dut_list: Path,
    *,
    report_dir: Path,
    batch_id: str | None = None,
    extra_args: list[str] | None = None,
    jobs: int = 1,
    timeout_s: float | None = None,
    echo: bool = True,
    launcher: Callable[[list[str], Any, float | None], tuple[int, float, bool]] | None = None,
) -> dict[str, Any]:
    """Run the plan once per module; return (and write) the batch summary.

    `launcher(args, log, timeout_s)` runs one module's process (`args`: `python -m pytest ...`; output to
    the open `log`) and returns (exit code, CPU seconds, timed out); by default a fresh interpreter per
    module with the timeout's SIGTERM then SIGKILL. The test suite forks its modules from a server that
    has the bench imported instead (tests/plan_fork.py), each still a process of its own."""
    launch = launcher or _run_child
    rows = read_dut_list(dut_list)
    profiles = load_profiles(plan)
    batch_id = batch_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    report_dir = Path(report_dir)
    work = report_dir / f"batch-{batch_id}"
    work.mkdir(parents=True, exist_ok=True)
    base = [
        sys.executable,
        "-m",
        "pytest",
        str(plan),
        "-q",
        "-rN",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--rootdir",
        str(Path.cwd()),
        "--batch-id",
        batch_id,
        "--report-dir",
        str(report_dir),
        *(extra_args or []),
    ]
    errors: list[ConfigError] = []
    prepared = []
    for row in rows:
        try:
            prepared.append(
                (row, *prepare(row, plan=plan, work=work, profiles=profiles, base_args=base, batch_id=batch_id))
            )
        except ConfigErrors as exc:
            errors += list(exc.errors)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigErrors(errors)
    t_batch = time.monotonic()

    def one(item: tuple[ModuleRow, list[str], dict[str, Any], dict[str, Any]]) -> ModuleOutcome:
        row, args, cond, expect = item
        safe = Path(args[args.index("--dut-info") + 1]).name.removesuffix(".dut.json")
        log = work / f"{safe}.log"
        out = ModuleOutcome(
            serial=row.serial,
            log=str(log),
            profile=row.sim_profile,
            expect=expect,
            station=_option(args, "--station"),
            description=str(cond.get("description", "")),
        )
        t0 = time.monotonic()
        with log.open("w", encoding="utf-8") as fh:
            out.exit_code, out.cpu_s, timed_out = launch(args, fh, timeout_s)
        out.wall_s = time.monotonic() - t0
        _outcome_from_journal(report_dir / "journal.sqlite", batch_id, row.serial, out)
        if timed_out:
            out.status = "TIMEOUT"
        settle_ungraded(out, log)
        if out.run_id:
            out.report = str(report_dir / out.run_id / "report.html")
        if echo:
            print(
                f"  {row.serial:<24} {out.status:<10} {out.grade or '-':<10} {out.rule:<30} {out.wall_s:6.1f} s "
                f"({out.cpu_s:.1f} s CPU)",
                flush=True,
            )
        return out

    if echo:
        print(f"batch {batch_id}: {len(rows)} module(s), plan {plan}, {jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(one, prepared))
    summary = summarise(batch_id, plan, dut_list, outcomes, time.monotonic() - t_batch)
    write_summary(summary, report_dir)
    if echo:
        print(format_table(summary))
    return summary
