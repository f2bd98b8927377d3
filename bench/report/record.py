"""The canonical run record, built from the journal only (never from in-memory state).

Everything the report shows comes from this record (plus the raw series for plots), so a
report re-rendered years later from the same journal says the same thing, byte for byte in
record.json (written with canonical JSON). The sections follow ISO/IEC 17025 §7.8: identity and
end of report, location, item and its condition (passport), method (plan, limit sets with
hashes), equipment with calibration status, conditions, results with units, limits and
decision rules, deviations, amendments and the "items tested" statement.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.calibration import calibration_status
from bench.errors import BenchError
from bench.journal import INTERRUPTED, Journal
from bench.report.series import SeriesData, load_series
from bench.verdict import worst

RECORD_SCHEMA_VERSION = "2.1"  # 2.0: sessions (resume), step attempts, superseded results, series checks
# 2.1: `telemetry` (high-rate capture: settings, Parquet files with SHA-256, channels, anomaly flags)
STATEMENT = (
    "The results relate only to the items tested. Test sequences are derived from the cited standards; "
    "this report is not a certification."
)
REPRODUCTION = "This report shall not be reproduced except in full without the written approval of the laboratory."
DEVIATION_KINDS = ("abort", "interlock", "safe_state", "safe_state_failed", "deviation")
CONDITION_NAMES = re.compile(r"(ambient|chamber|humidity|condition|room)", re.IGNORECASE)
HIDDEN_DUT_KEYS = ("passport",)  # shown in its own section; simulation settings never enter the DUT record


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "record.schema.json"


class RecordSchemaError(BenchError):
    """A record that does not follow schemas/record.schema.json: a bench defect, never written as valid."""


@functools.cache
def _validator() -> Any:
    """The record schema's validator, built once per process. The schema is shipped with the bench, so
    its own validity is proved by the tests (tests/report/test_report_record.py), not re-checked
    in every run (a metaschema check costs about 0.2 s of CPU per process)."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate_record(record: dict[str, Any]) -> None:
    """Check a record against the versioned schema; every problem named by its JSON path."""
    errors = sorted(_validator().iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors[:10]]
        raise RecordSchemaError(
            f"record of run {record.get('run', {}).get('run_id')} does not follow "
            f"{SCHEMA_PATH.name} v{RECORD_SCHEMA_VERSION}:\n  " + "\n  ".join(lines)
        )


def report_id(run_id: str, amendment: int = 0) -> str:
    """ESSB-<run id>, with -A<n> for the n-th amendment so it never collides with the report it replaces."""
    return f"ESSB-{run_id}" + (f"-A{amendment}" if amendment else "")


def build_record(
    journal: Journal, run_id: str, series: list[SeriesData] | None = None, telemetry: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The canonical record of one run. `series` and the `telemetry` section (bench.report.captured)
    may be passed when already built (render_report does)."""
    run = journal.run(run_id)
    run_id = run["run_id"]
    steps = journal.steps(run_id)
    measurements = journal.measurements(run_id)
    events = journal.events(run_id)
    attachments = journal.attachments(run_id)
    if series is None:
        series = load_series(journal, run_id)
    if telemetry is None and journal.chunks(run_id):
        from bench.report import captured
        from bench.telemetry.reader import StoreReader

        telemetry = captured.section(journal, run_id, StoreReader(journal, run_id), [], events)
    by_step: dict[tuple[str, int], list[int]] = defaultdict(list)  # (step, session) -> measurement ids
    for m in measurements:
        by_step[(m["step"] or "", m["session"])].append(m["id"])
    amendment = _amendment(run, events)
    dut = run.get("dut") or {}
    station_detail = run.get("station_detail") or {}
    run_date = (run.get("started_wall") or "")[:10]
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "report_id": report_id(run_id, amendment["number"] if amendment else 0),
        "run": {
            k: run.get(k)
            for k in (
                "run_id",
                "plan",
                "plan_version",
                "station",
                "dut_serial",
                "operator",
                "code_version",
                "site",
                "mode",
                "simulated",
                "started_wall",
                "ended_wall",
                "status",
                "verdict",
                "reason",
                "batch_id",
                "amends",
            )
        },
        "lab": {
            "site": run.get("site") or station_detail.get("site") or "",
            "location": station_detail.get("location") or "",
        },
        "station": run.get("station"),
        "station_detail": station_detail,
        "instruments": _instruments(station_detail, measurements, run_date),
        "dut": dut,
        "dut_identity": {k: v for k, v in sorted(dut.items()) if k not in HIDDEN_DUT_KEYS},
        "passports": _passports(dut, attachments),
        "limit_sets": run.get("limits") or [],
        "steps": [
            {
                **{
                    k: st[k]
                    for k in (
                        "name",
                        "nodeid",
                        "clauses",
                        "plan_level",
                        "outcome",
                        "verdict",
                        "message",
                        "started_wall",
                        "ended_wall",
                        "started_t",
                        "ended_t",
                        "session",
                    )
                },
                "measurements": by_step.get((st["nodeid"], st["session"]), []),
            }
            for st in steps
        ],
        "sessions": [
            {
                k: se[k]
                for k in (
                    "n",
                    "operator",
                    "started_wall",
                    "ended_wall",
                    "host",
                    "code_version",
                    "t_offset",
                    "end_status",
                    "end_reason",
                )
            }
            for se in journal.sessions(run_id)
        ],
        "measurements": [
            {
                **{
                    k: m[k]
                    for k in (
                        "id",
                        "step",
                        "name",
                        "value",
                        "unit",
                        "uncertainty",
                        "limit",
                        "verdict",
                        "reason",
                        "grade",
                        "clause",
                        "instrument",
                        "instrument_info",
                        "t",
                        "wall",
                        "required",
                        "note",
                        "session",
                        "superseded",
                    )
                },
                "series_check": {"series": m["series"], "aggregate": m["aggregate"]} if m.get("series") else None,
            }
            for m in measurements
        ],
        "grades": [
            {"measurement": m["id"], "name": m["name"], "step": m["step"], "grade": m["grade"]}
            for m in measurements
            if m.get("grade")
        ],
        "events": [{k: e[k] for k in ("step", "kind", "message", "data", "t", "wall")} for e in events],
        "prompts": [
            {
                "step": e["step"],
                "key": e["data"].get("key"),
                "question": e["data"].get("question"),
                "answer": e["data"].get("answer"),
                "origin": e["data"].get("origin"),
                "t": e["t"],
                "wall": e["wall"],
            }
            for e in events
            if e["kind"] == "prompt"
        ],
        "deviations": [
            {k: e[k] for k in ("step", "kind", "message", "data", "t", "wall")}
            for e in events
            if e["kind"] in DEVIATION_KINDS
        ],
        "conditions": _conditions(events, measurements, series),
        "amendment": amendment,
        "compliance_matrix": _compliance(steps, by_step),
        "series": [
            {
                **s.stats(),
                "checks": [m["id"] for m in measurements if m.get("series") == s.name],
            }
            for s in series
        ],
        "attachments": [_attachment(a) for a in attachments],
        "telemetry": telemetry,
        "statement": STATEMENT,
        "reproduction": REPRODUCTION,
    }


def _instruments(station: dict[str, Any], measurements: list[dict[str, Any]], run_date: str) -> list[dict[str, Any]]:
    """Every station role with its calibration status on the run date and the steps that used it."""
    used: dict[str, set[str]] = defaultdict(set)
    for m in measurements:
        if m.get("instrument"):
            used[m["instrument"]].add(m["step"] or "")
    out = []
    for role, info in sorted((station.get("roles") or {}).items()):
        cal = info.get("calibration") or None
        status = calibration_status(cal.get("due") if cal else None, run_date)
        out.append(
            {
                "role": role,
                "make": info.get("make") or "",
                "model": info.get("model") or "",
                "serial": info.get("serial") or "",
                "firmware": info.get("firmware") or "",
                "driver": info.get("driver") or "",
                "resource": info.get("resource") or "",
                "calibration": cal,
                "calibration_status": status,
                "steps": sorted(used.get(role, set())),
            }
        )
    return out


def _passports(dut: dict[str, Any], attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The DUT's battery passport: from the DUT info and/or a passport.json attachment."""
    out: list[dict[str, Any]] = []
    if isinstance(dut.get("passport"), dict):
        out.append({"source": "DUT information", "data": dut["passport"], "error": None})
    for a in attachments:
        if a["name"] != "passport.json":
            continue
        try:
            data = json.loads(bytes(a["content"]).decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            json.dumps(data, allow_nan=False)
            out.append({"source": "attachment passport.json", "data": data, "error": None})
        except ValueError as exc:
            out.append({"source": "attachment passport.json", "data": {}, "error": f"unreadable: {exc}"})
    return out


def _conditions(
    events: list[dict[str, Any]], measurements: list[dict[str, Any]], series: list[SeriesData]
) -> dict[str, Any]:
    """Environmental conditions: `conditions` events, ambient/chamber measurements and series."""
    return {
        "events": [
            {"step": e["step"], "message": e["message"], "data": e["data"], "t": e["t"], "wall": e["wall"]}
            for e in events
            if e["kind"] == "conditions"
        ],
        "measurements": [m["id"] for m in measurements if CONDITION_NAMES.search(m["name"])],
        "series": [s.name for s in series if CONDITION_NAMES.search(s.name)],
    }


def _amendment(run: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Which report this one replaces, why, and the amendment history (events kind "amendment")."""
    history = [
        {
            "amends": e["data"].get("amends"),
            "reason": e["data"].get("reason") or e["message"],
            "report_id": e["data"].get("report_id"),
            "wall": e["wall"],
        }
        for e in events
        if e["kind"] == "amendment"
    ]
    if not run.get("amends") and not history:
        return None
    latest = history[-1] if history else {"amends": run.get("amends"), "reason": "", "wall": None}
    return {
        "number": max(len(history), 1),
        "amends": run.get("amends") or latest["amends"],
        "reason": latest["reason"],
        "history": history,
    }


def _compliance(steps: list[dict[str, Any]], by_step: dict[tuple[str, int], list[int]]) -> list[dict[str, Any]]:
    """Clause -> steps -> verdict; a step attempt cut by an interruption (and rerun) does not count."""
    matrix: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"steps": [], "verdicts": [], "n": []})
    for st in steps:
        if st["outcome"] == INTERRUPTED:
            continue
        for clause in st["clauses"] or ["(no clause)"]:
            matrix[clause]["steps"].append(st["name"])
            matrix[clause]["verdicts"].append(st["verdict"] or "NONE")
            matrix[clause]["n"].append(len(by_step.get((st["nodeid"], st["session"]), [])))
    return [
        {
            "clause": clause,
            "steps": e["steps"],
            "step_verdicts": e["verdicts"],
            "measurements": sum(e["n"]),
            "verdict": worst([v for v in e["verdicts"] if v not in ("NONE", None)]),
        }
        for clause, e in sorted(matrix.items())
    ]


def _attachment(a: dict[str, Any]) -> dict[str, Any]:
    content = bytes(a["content"] or b"")
    folder = "limits" if a["kind"] == "limit-set" else "attachments"
    return {
        "name": a["name"],
        "kind": a["kind"],
        "step": a["step"],
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "path": f"{folder}/{safe_name(a['name'])}",
    }


def safe_name(name: str) -> str:
    """A file name that stays inside its folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return safe or "attachment"
