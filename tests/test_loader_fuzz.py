"""Issue 11: seeded random mutations of every shipped limit set and station file.

Each mutation (a number to NaN, infinity, a negative or huge value; a unit swapped for another
dimension; a key misspelt; a value's type changed; a line dropped) must either be refused when
the files load, with the file (and, past TOML syntax, the key) named, or be accepted by the whole
load path a run takes (station, limit sets against the plan's declarations, merged interlocks).
Never a traceback. Accepted mutants of the smoke plan's files are then run to the end: none may
stop mid-run for something load time could have seen.

ESS_FUZZ_MUTATIONS (default 12 per file) scales the load-time part; ESS_FUZZ_RUNS (default 2) the
number of accepted smoke mutants run end to end.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import plan_fork
import pytest

from bench.declarations import PlanDeclarations, find_plan_file, load_plan_file
from bench.errors import ConfigError, ConfigErrors
from bench.journal import ABORTED, Journal
from bench.session import BenchSession

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261201
PER_FILE = int(os.environ.get("ESS_FUZZ_MUTATIONS", "12"))
RUNS = int(os.environ.get("ESS_FUZZ_RUNS", "2"))
LINE = re.compile(r'^(?P<indent>\s*)(?P<key>[A-Za-z0-9_"\-.]+)(?P<eq>\s*=\s*)(?P<value>.+?)\s*$')
QUANTITY = re.compile(r'^"(?P<num>[-+]?[0-9.eE+-]+)\s*(?P<unit>[^"]*)"$')
NUMBER = re.compile(r"^[-+]?[0-9][0-9_.eE+-]*$")
OTHER_UNIT = {
    "V": "A",
    "A": "V",
    "s": "V",
    "min": "A",
    "h": "ohm",
    "degC": "A",
    "delta_degC": "s",
    "ohm": "s",
    "%": "V",
    "percent": "V",
    "A*h": "V",
    "Pa": "s",
    "K": "A",
    "mV": "mA",
    "W": "V",
    "kW": "s",
}


# A limit set for another chemistry runs on that chemistry's simulated station, not the plan's default.
STATION_FOR = {"safety_chain_nmc.toml": "sim_safety_nmc.toml", "module_intake_nmc.toml": "sim_module_intake_nmc.toml"}


def _plan_for_limits(path: Path) -> Path | None:
    """plan.toml of the plan a shipped limit set serves: its plans = [...], else the plan named like it."""
    m = re.search(r'^plans\s*=\s*\["([^"]+)"', path.read_text(), re.M)
    if m:
        return find_plan_file(m.group(1), path)
    for plan_file in sorted((ROOT / "test_plans").glob("*/plan.toml")):
        if path.stem.startswith(plan_file.parent.name):
            return plan_file
    return None


def _default(plan_file: Path, key: str) -> Path | None:
    m = re.search(rf'^{key}\s*=\s*\[?"([^"]+)"', plan_file.read_text(), re.M)
    return ROOT / m.group(1) if m else None


def _pairs() -> list[tuple[str, Path, Path, Path | None]]:
    """(kind, file, partner file, plan.toml) for every shipped limit set and station."""
    out = []
    for lim in sorted((ROOT / "limits").glob("*.toml")):
        plan_file = _plan_for_limits(lim)
        if plan_file is None:
            continue
        station = (
            ROOT / "stations" / STATION_FOR[lim.name] if lim.name in STATION_FOR else _default(plan_file, "station")
        )
        out.append(("limits", lim, station, plan_file))
    by_station = {v: k for k, v in STATION_FOR.items()}
    for st in sorted((ROOT / "stations").glob("*.toml")):
        partner, plan_file = None, None
        if st.name in by_station:
            partner = ROOT / "limits" / by_station[st.name]
            plan_file = _plan_for_limits(partner)
        for pf in sorted((ROOT / "test_plans").glob("*/plan.toml")):
            if partner is None and _default(pf, "station") == st:
                partner, plan_file = _default(pf, "limits"), pf
        if partner is None:  # a base file (lab_base.toml) or an unused station: pair it with the smoke limits
            partner, plan_file = ROOT / "limits" / "smoke_lfp.toml", ROOT / "test_plans" / "smoke" / "plan.toml"
        out.append(("station", st, partner, plan_file))
    return out


def _mutate(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if LINE.match(line) and not line.lstrip().startswith("#")]
    i = rng.choice(candidates)
    m = LINE.match(lines[i])
    assert m is not None
    key, value = m["key"], m["value"]
    q, n = QUANTITY.match(value), NUMBER.match(value)
    options = ["drop", "misspell", "type"]
    if q:
        options += ["nan", "inf", "negative", "huge", "unit", "garbage"]
    if n:
        options += ["nan_number", "inf_number", "negative_number", "huge_number", "zero"]
    how = rng.choice(options)
    new = value
    if how == "drop":
        lines[i] = ""
    elif how == "misspell":
        pos = rng.randrange(len(key.strip('"')))
        bare = key.strip('"')
        spelt = bare[:pos] + rng.choice("xqz") + bare[pos + 1 :]
        lines[i] = m["indent"] + (f'"{spelt}"' if key.startswith('"') else spelt) + m["eq"] + value
    elif how == "type":
        new = rng.choice(['"text"', "7", "true", "[1, 2]", "{ a = 1 }"])
    elif q and how in ("nan", "inf", "negative", "huge", "unit", "garbage"):
        num, unit = q["num"], q["unit"]
        new = {
            "nan": f'"nan {unit}"',
            "inf": f'"inf {unit}"',
            "negative": f'"-{num.lstrip("+-")} {unit}"',
            "huge": f'"1e400 {unit}"',
            "unit": f'"{num} {OTHER_UNIT.get(unit.strip(), "V")}"',
            "garbage": '"abc"',
        }[how]
    elif n:
        new = {
            "nan_number": "nan",
            "inf_number": "inf",
            "negative_number": f"-{value.lstrip('+-')}",
            "huge_number": "1e308",
            "zero": "0",
        }[how]
    if how not in ("drop", "misspell"):
        lines[i] = m["indent"] + key + m["eq"] + new
    return "\n".join(lines) + "\n", f"line {i + 1} {key}: {how} ({value} -> {new})"


@dataclass
class Outcome:
    file: str
    mutation: str
    accepted: bool
    message: str = ""


JOURNAL = Journal(":memory:")  # the load path needs one; nothing is written to it before open()


def _load(kind: str, mutant: Path, partner: Path, plan_file: Path | None, report_dir: Path) -> Outcome:
    decl = load_plan_file(plan_file)[1] if plan_file is not None else PlanDeclarations()
    station, limits = (partner, mutant) if kind == "limits" else (mutant, partner)
    try:
        BenchSession(
            station=station,
            limits=[limits],
            report_dir=report_dir,
            dut="FUZZ-1",
            declarations=decl,
            plan=decl.plan,
            journal=JOURNAL,
        )
    except (ConfigError, ConfigErrors) as exc:
        return Outcome(str(mutant), "", False, str(exc))
    return Outcome(str(mutant), "", True)


def _outcomes(tmp_path: Path) -> list[Outcome]:
    rng = random.Random(SEED)
    out = []
    for kind, path, partner, plan_file in _pairs():
        text = path.read_text()
        for k in range(PER_FILE):
            mutant_text, what = _mutate(text, rng)
            folder = tmp_path / f"{path.stem}-{k}"
            folder.mkdir()
            mutant = folder / path.name
            # keep includes and relative paths working: mutants live beside copies of their siblings
            for sib in (ROOT / path.parent.name).glob("*.toml"):
                if sib.name != path.name:
                    (folder / sib.name).write_text(sib.read_text())
            mutant.write_text(mutant_text)
            o = _load(kind, mutant, partner, plan_file, folder)
            o.mutation = f"{path.parent.name}/{path.name} {what}"
            out.append(o)
    return out


def test_every_mutation_is_accepted_or_refused_naming_file_and_key(tmp_path):
    outcomes = _outcomes(tmp_path)
    refused = [o for o in outcomes if not o.accepted]
    for o in refused:
        assert o.file in o.message, (o.mutation, o.message)
        named_key = re.search(r"\S+\.toml(:[^\s:]+)?:", o.message)  # file:key: (a merge names both files)
        assert named_key and (named_key.group(1) or "invalid TOML" in o.message), (o.mutation, o.message)
        assert "Traceback" not in o.message
    print(
        f"\nloader fuzz (seed {SEED}): {len(outcomes)} mutations, {len(refused)} refused at load, "
        f"{len(outcomes) - len(refused)} accepted"
    )
    assert len(outcomes) >= PER_FILE * 10 and refused, "the fuzz must try every shipped file and refuse something"


@pytest.mark.slow
def test_accepted_smoke_mutants_run_without_a_config_abort(tmp_path):
    """Accepted mutants of the smoke limits run to the end (or stop on a FAIL), never abort on config."""
    rng = random.Random(SEED + 1)
    plan_file = ROOT / "test_plans" / "smoke" / "plan.toml"
    text = (ROOT / "limits" / "smoke_lfp.toml").read_text()
    ran = 0
    for k in range(200):
        if ran >= RUNS:
            break
        folder = tmp_path / f"m{k}"
        folder.mkdir()
        mutant = folder / "smoke_lfp.toml"
        mutant_text, what = _mutate(text, rng)
        mutant.write_text(mutant_text)
        if not _load("limits", mutant, ROOT / "stations" / "sim.toml", plan_file, folder).accepted:
            continue
        ran += 1
        proc = plan_fork.run_bench(
            [
                "run",
                str(ROOT / "test_plans" / "smoke"),
                "--limits",
                str(mutant),
                "--report-dir",
                str(folder / "r"),
                "--dut",
                f"FUZZ-{k}",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            timeout=600,
        )
        run = Journal(folder / "r" / "journal.sqlite").runs(1)[0]
        reason = run.get("reason") or ""
        assert not (run["status"] == ABORTED and re.search(r"ConfigError|Dimensionality|parse|non-finite", reason)), (
            what,
            reason,
            proc.stdout[-2000:],
        )
        assert run["status"] != "RUNNING", (what, proc.stdout[-2000:])
    assert ran == RUNS, f"only {ran} accepted mutants found"


def test_pairs_cover_every_shipped_file():
    files = {p for _k, p, _q, _f in _pairs()}
    assert set((ROOT / "limits").glob("*.toml")) <= files
    assert set((ROOT / "stations").glob("*.toml")) <= files
    assert find_plan_file("smoke", ROOT / "limits" / "smoke_lfp.toml") == ROOT / "test_plans" / "smoke" / "plan.toml"
