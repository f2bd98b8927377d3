"""Batch runs: one plan, many modules, one station; one pytest subprocess and one record per module.

Why subprocesses: a repurposer grades dozens of modules a day, and one module's crash (a driver
exception, a kill, a simulator bug) must not lose another module's record. Each module runs as
`python -m pytest PLAN --batch-id ID --dut SERIAL --dut-info FILE ...`, so each gets its own run
in the journal (COMPLETED or ABORTED, never silently missing), and the summary is read back from
the journal, not from the child's output.

The module list is a CSV with a header. Columns (only `serial` is required):

    serial       module serial number
    chemistry    picks a limit set from the plan's [batch.limits_by_chemistry] table
    limits       a limit-set file (overrides chemistry)
    station      a station file (default: the plan's)
    dut_info     a JSON file of identity/history (imported passport), merged into the DUT info
    sim_profile  simulated station only: a profile of the plan's [batch] sim_profiles file
    sim_seed     simulated station only: plant seed
    sim_faults   simulated station only: JSON list of fault dicts (instruments/sim/plant/faults.py)

The summary (counts per grade, yield, per-module verdict, grade and deciding rule) is printed and
written to `<report-dir>/batch-<id>.json` and `.html`. The grade of a module is read from its
run's "grade" event (data: grade, route, rule, measurement); the plan decides it, not this file.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import secrets
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.journal import Journal

COLUMNS = {"serial", "chemistry", "limits", "station", "dut_info", "sim_profile", "sim_seed", "sim_faults"}
REUSABLE = ("A", "B", "C")


@dataclass
class ModuleRow:
    serial: str
    chemistry: str = ""
    limits: str = ""
    station: str = ""
    dut_info: str = ""
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
    exit_code: int | None = None
    wall_s: float = 0.0
    log: str = ""
    report: str = ""
    profile: str = ""
    expect: dict[str, Any] = field(default_factory=dict)


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
            raise ConfigError(f"unknown column(s) {unknown}; expected some of {sorted(COLUMNS)}", source=str(p),
                              key="header")
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
            if row.get("sim_faults"):
                try:
                    if not isinstance(json.loads(row["sim_faults"]), list):
                        raise ValueError("not a list")
                except ValueError as exc:
                    errors.append(ConfigError(f"sim_faults must be a JSON list of fault dicts: {exc}", source=str(p),
                                              key=f"line {n}"))
            rows.append(ModuleRow(line=n, **{k: row.get(k, "") for k in COLUMNS}))
    if errors:
        from bench.errors import ConfigErrors

        raise ConfigErrors(errors)
    if not rows:
        raise ConfigError("the module list has no rows", source=str(p))
    return rows


def plan_batch_config(plan: Path) -> tuple[dict[str, Any], Path]:
    """The plan's [batch] table and the plan folder."""
    folder = plan if plan.is_dir() else plan.parent
    f = folder / "plan.toml"
    if not f.exists():
        return {}, folder
    return dict(tomllib.loads(f.read_text(encoding="utf-8")).get("batch", {})), folder


def load_profiles(plan: Path) -> dict[str, dict[str, Any]]:
    cfg, folder = plan_batch_config(plan)
    name = cfg.get("sim_profiles")
    if not name:
        return {}
    data = tomllib.loads((folder / name).read_text(encoding="utf-8"))
    return dict(data.get("profiles", {}))


def _toml_answers(answers: dict[str, str]) -> str:
    return "[answers]\n" + "".join(f"{json.dumps(k)} = {json.dumps(str(v))}\n" for k, v in answers.items())


def prepare(row: ModuleRow, *, plan: Path, work: Path, profiles: dict[str, dict[str, Any]],
            base_args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Command line and expectation for one module; writes its DUT-info JSON (and answers) into `work`."""
    info: dict[str, Any] = {}
    if row.dut_info:
        info.update(json.loads(Path(row.dut_info).read_text(encoding="utf-8")))
    info["serial"] = row.serial
    expect: dict[str, Any] = {}
    answers: dict[str, str] = {}
    if row.sim_profile:
        if row.sim_profile not in profiles:
            raise ConfigError(f"unknown sim_profile {row.sim_profile!r}; known: {sorted(profiles)}",
                              key=f"line {row.line}")
        prof = profiles[row.sim_profile]
        for key in ("sim_overrides", "sim_faults"):
            if key in prof:
                info[key] = prof[key]
        info.update(prof.get("dut", {}))
        answers.update(prof.get("prompts", {}))
        expect = dict(prof.get("expect", {}))
    if row.sim_seed:
        info["sim_seed"] = int(row.sim_seed)
    if row.sim_faults:
        info["sim_faults"] = list(info.get("sim_faults", [])) + json.loads(row.sim_faults)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in row.serial)
    info_path = work / f"{safe}.dut.json"
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
    args = [*base_args, "--dut", row.serial, "--dut-info", str(info_path)]
    if row.station:
        args += ["--station", row.station]
    limits = row.limits
    if not limits and row.chemistry:
        cfg, _ = plan_batch_config(plan)
        by_chem = {k.upper(): v for k, v in dict(cfg.get("limits_by_chemistry", {})).items()}
        limits = by_chem.get(row.chemistry.upper(), "")
        if not limits:
            raise ConfigError(f"no limit set for chemistry {row.chemistry!r} in the plan's "
                              "[batch.limits_by_chemistry]", key=f"line {row.line}")
    if limits:
        args += ["--limits", limits]
    if answers:
        ans = work / f"{safe}.answers.toml"
        ans.write_text(_toml_answers(answers), encoding="utf-8")
        args += ["--answers", str(ans)]
    return args, expect


def _outcome_from_journal(journal_path: Path, batch_id: str, serial: str, out: ModuleOutcome) -> None:
    if not journal_path.exists():
        return
    j = Journal(journal_path)
    try:
        runs = j._rows("SELECT run_id FROM runs WHERE batch_id = ? AND dut_serial = ? ORDER BY started_wall DESC",
                       (batch_id, serial))
        if not runs:
            return
        run = j.run(runs[0]["run_id"])
        out.run_id, out.status, out.verdict = run["run_id"], run["status"], run.get("verdict") or ""
        for e in j.events(out.run_id):
            if e["kind"] == "grade":
                data = json.loads(e["data_json"]) if isinstance(e.get("data_json"), str) else e.get("data", {})
                out.grade = str(data.get("grade", ""))
                out.route = str(data.get("route", ""))
                out.rule = str(data.get("rule", ""))
                out.measurement = str(data.get("measurement", ""))
                out.value = str(data.get("value", ""))
    finally:
        j.close()


def run_batch(plan: Path, dut_list: Path, *, report_dir: Path, batch_id: str | None = None,
              extra_args: list[str] | None = None, jobs: int = 1, timeout_s: float | None = None,
              echo: bool = True) -> dict[str, Any]:
    """Run the plan once per module; return (and write) the batch summary."""
    rows = read_dut_list(dut_list)
    profiles = load_profiles(plan)
    batch_id = batch_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    report_dir = Path(report_dir)
    work = report_dir / f"batch-{batch_id}"
    work.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pytest", str(plan), "-q", "-rN", "-p", "no:cacheprovider", "-o", "addopts=",
            "--rootdir", str(Path.cwd()), "--batch-id", batch_id, "--report-dir", str(report_dir),
            *(extra_args or [])]
    prepared = [(row, *prepare(row, plan=plan, work=work, profiles=profiles, base_args=base)) for row in rows]
    t_batch = time.monotonic()

    def one(item: tuple[ModuleRow, list[str], dict[str, Any]]) -> ModuleOutcome:
        row, args, expect = item
        safe = Path(args[args.index("--dut-info") + 1]).name.removesuffix(".dut.json")
        log = work / f"{safe}.log"
        out = ModuleOutcome(serial=row.serial, log=str(log), profile=row.sim_profile, expect=expect)
        t0 = time.monotonic()
        try:
            with log.open("w", encoding="utf-8") as fh:
                proc = subprocess.run(args, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
            out.exit_code = proc.returncode
        except subprocess.TimeoutExpired:
            out.exit_code = -1
            out.status = "TIMEOUT"
        out.wall_s = time.monotonic() - t0
        _outcome_from_journal(report_dir / "journal.sqlite", batch_id, row.serial, out)
        if out.run_id:
            out.report = str(report_dir / out.run_id / "report.html")
        if echo:
            print(f"  {row.serial:<24} {out.grade or '-':<10} {out.rule or out.status:<34} {out.wall_s:6.1f} s",
                  flush=True)
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


def summarise(batch_id: str, plan: Path, dut_list: Path, outcomes: list[ModuleOutcome], wall_s: float
              ) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for o in outcomes:
        key = o.grade or ("aborted" if o.status in ("ABORTED", "TIMEOUT", "NOT RUN") else "no grade")
        counts[key] = counts.get(key, 0) + 1
    reusable = sum(1 for o in outcomes if o.grade in REUSABLE)
    return {"batch_id": batch_id, "plan": str(plan), "dut_list": str(dut_list),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "modules": len(outcomes),
            "counts": dict(sorted(counts.items())), "reusable": reusable,
            "yield_percent": round(100.0 * reusable / len(outcomes), 1) if outcomes else 0.0,
            "wall_s": round(wall_s, 1), "results": [asdict(o) for o in outcomes],
            "statement": "Grades from the limit set's rule table; sequence derived from UL 1974 (not a certification)."}


def format_table(summary: dict[str, Any]) -> str:
    lines = [f"batch {summary['batch_id']}: {summary['modules']} module(s), yield {summary['yield_percent']} % "
             f"({summary['reusable']} reusable), {summary['wall_s']} s wall",
             "counts: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()),
             f"{'serial':<24} {'status':<10} {'verdict':<8} {'grade':<10} {'deciding rule':<28} measurement"]
    for r in summary["results"]:
        lines.append(f"{r['serial']:<24} {r['status']:<10} {r['verdict']:<8} {r['grade'] or '-':<10} "
                     f"{r['rule'] or '-':<28} {r['measurement']} {r['value']}")
    return "\n".join(lines)


def write_summary(summary: dict[str, Any], report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    jpath = report_dir / f"batch-{summary['batch_id']}.json"
    jpath.write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r['serial'])}</td><td>{e(r['status'])}</td><td>{e(r['verdict'])}</td><td><b>{e(r['grade'])}</b>"
        f"</td><td>{e(r['route'])}</td><td>{e(r['rule'])}</td><td>{e(r['measurement'])} {e(r['value'])}</td>"
        f"<td>{r['wall_s']:.1f}</td><td>{_link(r['report'], report_dir)}</td></tr>" for r in summary["results"])
    counts = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in summary["counts"].items())
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Batch {e(summary['batch_id'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;font-size:13px}}table{{border-collapse:collapse;margin:.5em 0}}
th,td{{border:1px solid #bbb;padding:3px 6px;text-align:left}}th{{background:#eee}}</style></head><body>
<h1>Batch {e(summary['batch_id'])}</h1><p>Plan {e(summary['plan'])}, module list {e(summary['dut_list'])},
created {e(summary['created'])}. {e(summary['statement'])}</p>
<p><b>Yield {summary['yield_percent']} %</b> ({summary['reusable']} of {summary['modules']} modules graded A, B or C).</p>
<h2>Counts per grade</h2><table><tr><th>Grade</th><th>Modules</th></tr>{counts}</table>
<h2>Modules</h2><table><tr><th>Serial</th><th>Run status</th><th>Verdict</th><th>Grade</th><th>Route</th>
<th>Deciding rule</th><th>Deciding measurement</th><th>Wall (s)</th><th>Report</th></tr>{rows}</table>
</body></html>"""
    hpath = report_dir / f"batch-{summary['batch_id']}.html"
    hpath.write_text(page, encoding="utf-8")
    return jpath, hpath


def _link(path: str, base: Path) -> str:
    if not path:
        return ""
    try:
        rel = Path(path).relative_to(base)
    except ValueError:
        rel = Path(path)
    return f'<a href="{html.escape(str(rel))}">report</a>'
