"""`bench limits check FILE...`: validate limit sets (against their plans' declarations), print id, version, SHA-256."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.declarations import PlanDeclarations, find_plan_file, load_plan_file
from bench.errors import ConfigError, ConfigErrors
from bench.limits import load_limit_set
from bench.tomlfile import read_toml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("limits", help="work with limit sets", description="Validate and inspect limit sets.")
    s = p.add_subparsers(dest="limits_cmd", metavar="ACTION", required=True)
    c = s.add_parser(
        "check",
        help="validate limit set files and print their SHA-256",
        description="Validate limit sets. A limit set naming its plans ([limit_set] plans = [...]) is "
        "checked against each plan's declarations (test_plans/<plan>/plan.toml): every "
        "limit a declared measurement of the declared dimension, every parameter declared "
        "and in range.",
    )
    c.add_argument("files", nargs="+")
    c.add_argument("--plan", help="check against this plan folder or plan.toml instead of the plans the sets name")
    c.set_defaults(func=check)


def _declarations(path: Path, plan_arg: str | None) -> list[PlanDeclarations]:
    if plan_arg:
        p = Path(plan_arg)
        return [load_plan_file(p / "plan.toml" if p.is_dir() else p)[1]]
    data, _ = read_toml(path)
    plans = (data.get("limit_set") or {}).get("plans") or []
    out = []
    for name in plans if isinstance(plans, list) else []:
        plan_file = find_plan_file(str(name), path)
        if plan_file is None:
            raise ConfigError(
                f"plan {name!r} not found (looked for test_plans/{name}/plan.toml)",
                source=str(path),
                key="limit_set.plans",
            )
        out.append(load_plan_file(plan_file)[1])
    return out or [PlanDeclarations()]


def check(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            for decl in _declarations(Path(f), args.plan):
                ls = load_limit_set(f, decl)
        except (ConfigError, ConfigErrors) as exc:
            bad += 1
            print(f"FAIL {f}: {exc}", file=sys.stderr)
            continue
        against = f", checked against plan {decl.plan!r}" if decl.declared else ""
        print(
            f"OK   {f}: {ls.id} v{ls.version}, {len(ls.limits)} limits, {len(ls.parameters)} parameters, "
            f"sha256 {ls.sha256}{against}"
        )
    return 1 if bad else 0
