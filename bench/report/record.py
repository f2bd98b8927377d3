"""The canonical run record, built from the journal only (never from in-memory state)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.journal import Journal

RECORD_SCHEMA_VERSION = "1.0"
STATEMENT = ("The results relate only to the items tested. Test sequences are derived from the cited standards; "
             "this report is not a certification.")


def build_record(journal: Journal, run_id: str) -> dict[str, Any]:
    run = journal.run(run_id)
    steps = journal.steps(run_id)
    measurements = journal.measurements(run_id)
    events = journal.events(run_id)
    matrix: dict[str, dict[str, Any]] = defaultdict(lambda: {"steps": [], "verdicts": []})
    by_step: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in measurements:
        by_step[m["step"] or ""].append(m)
    for st in steps:
        for clause in st["clauses"] or ["(no clause)"]:
            matrix[clause]["steps"].append(st["name"])
            matrix[clause]["verdicts"].append(st["verdict"] or "NONE")
    compliance = []
    for clause, entry in sorted(matrix.items()):
        verdicts = [v for v in entry["verdicts"] if v not in ("NONE", None)]
        compliance.append({"clause": clause, "steps": entry["steps"], "verdict": _worst(verdicts)})
    series = [{"name": n, "unit": u, "samples": c} for n, u, c in journal.series_names(run_id)]
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "report_id": f"ESSB-{run_id}",
        "run": {k: run.get(k) for k in ("run_id", "plan", "plan_version", "station", "dut_serial", "operator",
                                        "code_version", "site", "mode", "simulated", "started_wall", "ended_wall",
                                        "status", "verdict", "reason", "batch_id", "amends")},
        "station": run.get("station"),
        "station_detail": run.get("station_detail", {}),
        "dut": run.get("dut", {}),
        "limit_sets": run.get("limits", []),
        "steps": [{**{k: st[k] for k in ("name", "nodeid", "clauses", "plan_level", "outcome", "verdict", "message",
                                          "started_wall", "ended_wall", "started_t", "ended_t")},
                   "measurements": [m["id"] for m in by_step.get(st["nodeid"], [])]} for st in steps],
        "measurements": [{k: m[k] for k in ("id", "step", "name", "value", "unit", "uncertainty", "limit", "verdict",
                                            "reason", "grade", "clause", "instrument", "instrument_info", "t", "wall",
                                            "required", "note")} for m in measurements],
        "events": [{k: e[k] for k in ("step", "kind", "message", "data", "t", "wall")} for e in events],
        "compliance_matrix": compliance,
        "series": series,
        "statement": STATEMENT,
    }


def _worst(verdicts: list[str]) -> str:
    for v in ("ABORTED", "FAIL", "INDETERMINATE", "MARGINAL", "PASS"):
        if v in verdicts:
            return v
    return "NOT RUN"
