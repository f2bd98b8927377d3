"""A batch's summary: counts per grade, yield, and each module's verdict, grade, deciding rule and
reason, as JSON and an HTML page (template), from the modules' outcomes read back from the journal.

The fleet's yield queries summarise with the same function (bench.fleet.queries)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.batch import ModuleOutcome

REUSABLE = ("A", "B", "C")


def summarise(
    batch_id: str, plan: Path, dut_list: Path, outcomes: list[ModuleOutcome], wall_s: float
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for o in outcomes:
        key = o.grade or "no grade"
        counts[key] = counts.get(key, 0) + 1
    reusable = sum(1 for o in outcomes if o.grade in REUSABLE)
    walls = [o.wall_s for o in outcomes]
    cpus = [o.cpu_s for o in outcomes]
    return {
        "batch_id": batch_id,
        "plan": str(plan),
        "dut_list": str(dut_list),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "modules": len(outcomes),
        "counts": dict(sorted(counts.items())),
        "reusable": reusable,
        "not_completed": sum(1 for o in outcomes if o.status != "COMPLETED"),
        "yield_percent": round(100.0 * reusable / len(outcomes), 1) if outcomes else 0.0,
        "wall_s": round(wall_s, 1),
        "module_wall_s": {
            "min": round(min(walls), 1),
            "mean": round(sum(walls) / len(walls), 1),
            "max": round(max(walls), 1),
        }
        if walls
        else {},
        "module_cpu_s": {
            "min": round(min(cpus), 1),
            "mean": round(sum(cpus) / len(cpus), 1),
            "max": round(max(cpus), 1),
        }
        if cpus
        else {},
        "results": [asdict(o) for o in outcomes],
        "statement": "Grades from the limit set's rule table; sequence derived from UL 1974 (not a certification). "
        "A module whose run did not complete is quarantined and counts against yield.",
    }


def format_table(summary: dict[str, Any]) -> str:
    lines = [
        f"batch {summary['batch_id']}: {summary['modules']} module(s), yield {summary['yield_percent']} % "
        f"({summary['reusable']} reusable, {summary['not_completed']} not completed), {summary['wall_s']} s wall",
        "counts: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()),
        f"{'serial':<24} {'status':<10} {'verdict':<13} {'grade':<10} {'deciding rule':<28} reason",
    ]
    for r in summary["results"]:
        lines.append(
            f"{r['serial']:<24} {r['status']:<10} {r['verdict']:<13} {r['grade'] or '-':<10} "
            f"{r['rule'] or '-':<28} {r['measurement']} {r['value']} {r['reason']}".rstrip()
        )
    return "\n".join(lines)


def write_summary(summary: dict[str, Any], report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    jpath = report_dir / f"batch-{summary['batch_id']}.json"
    jpath.write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    page = (
        _env()
        .get_template("batch.html.j2")
        .render(s=summary, links=[_link(r["report"], report_dir) for r in summary["results"]])
    )
    hpath = report_dir / f"batch-{summary['batch_id']}.html"
    hpath.write_text(page, encoding="utf-8")
    return jpath, hpath


def _env() -> Any:
    """The Jinja2 environment of the batch page (templates next to this module, autoescaped)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("bench", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


def _link(path: str, base: Path) -> str:
    """The report's path relative to the batch page (escaped by the template)."""
    if not path:
        return ""
    try:
        rel = Path(path).relative_to(base)
    except ValueError:
        rel = Path(path)
    return str(rel)
