"""The terminal view of a run: a live rich panel on a terminal, plain lines anywhere else.

Both read a `RunView` (the journal), never the plan's memory, so what the terminal shows is what
`bench ui` shows. On a terminal the panel holds plan, DUT, step i of N with its clause, time in
step, elapsed (run time and wall time in simulation), time left, the last measurements with their
verdicts, the interlocks with their margins, an open prompt, and a banner on safe state or abort.
Elsewhere (CI, a log file) each step start, step end, measurement, prompt and safe-state event is
one plain line with no control characters.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bench.live.estimate import fmt_duration
from bench.live.view import RunView

VERDICT_STYLE = {
    "PASS": "bold green",
    "MARGINAL": "bold yellow",
    "FAIL": "bold red",
    "INDETERMINATE": "bold magenta",
    "ABORTED": "bold white on red",
    "NONE": "dim",
}
STATUS_STYLE = {
    "RUNNING": "bold cyan",
    "COMPLETED": "bold green",
    "STOPPED": "bold red",
    "ABORTED": "bold white on red",
}
LAST_MEASUREMENTS = 8
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """One line without control characters (ANSI escapes, tabs, carriage returns, newlines)."""
    return _CONTROL.sub(" ", str(text).replace("\n", " ").replace("\t", " ").replace("\x1b", " "))


def _value(m: dict[str, Any]) -> str:
    return "-" if m["value"] is None else f"{m['value']:.6g} {m['unit']}".strip()


def _t(t: float | None) -> str:
    return f"[{fmt_duration(t):>12}]" if t is not None else "[" + " " * 12 + "]"


class PlainLines:
    """Lines for a log: each new step start/end, measurement, prompt and safe-state event once."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._started: set[int] = set()
        self._ended: set[int] = set()
        self._prompts: set[int] = set()
        self._final = False

    def update(self, view: RunView, changes: dict[str, Any]) -> None:
        lines: list[tuple[str, int, str]] = []  # (wall, rank, text): in the order they were journalled
        n = max(len(view.planned), len(view.steps))
        order = [p["nodeid"] for p in view.planned]
        for s in view.steps:
            index = order.index(s["nodeid"]) + 1 if s["nodeid"] in order else None
            of = f"{index}/{n}" if index else f"?/{n}"
            if s["id"] not in self._started:
                self._started.add(s["id"])
                clause = f" ({', '.join(s['clauses'])})" if s["clauses"] else ""
                lines.append((s["started_wall"] or "", 0, f"{_t(s['started_t'])} step {of} start: {s['name']}{clause}"))
            if s["ended_wall"] is not None and s["id"] not in self._ended:
                self._ended.add(s["id"])
                took = (
                    (s["ended_t"] - s["started_t"]) if s["ended_t"] is not None and s["started_t"] is not None else None
                )
                lines.append(
                    (
                        s["ended_wall"] or "",
                        2,
                        f"{_t(s['ended_t'])} step {of} end: {s['name']} {s['outcome']}, "
                        f"verdict {s['verdict']} ({fmt_duration(took)})",
                    )
                )
        for m in changes.get("measurements", []):
            limit = f"  limit {m['limit']}" if m["limit"] else ""
            lines.append(
                (
                    m["wall"] or "",
                    1,
                    f"{_t(m['t'])} {m['name']} = {_value(m)}  {m['verdict']}{limit}"
                    + (f"  ({m['reason']})" if m["verdict"] != "PASS" and m["reason"] else ""),
                )
            )
        for e in changes.get("events", []):
            if e["kind"] in ("safe_state", "safe_state_failed", "abort", "abort_request", "stop") or (
                e["kind"] == "interlock" and e["data"].get("tripped")
            ):
                lines.append(
                    (e["wall"] or "", 1, f"{_t(e['t'])} {e['kind'].upper().replace('_', ' ')}: {e['message']}")
                )
        for r in view.requests:
            if r["id"] not in self._prompts:
                self._prompts.add(r["id"])
                lines.append(
                    (
                        r["wall"] or "",
                        1,
                        f"{_t(r['t'])} PROMPT {r['key']}: {r['question']}"
                        + (" (waiting: answer at the terminal or in bench ui)" if r["open"] else ""),
                    )
                )
        for e in changes.get("events", []):
            if e["kind"] == "prompt":
                d = e["data"]
                by = f" by {d['answered_by']}" if d.get("answered_by") else ""
                lines.append(
                    (
                        e["wall"] or "",
                        1,
                        f"{_t(e['t'])} ANSWER {d.get('key')}: {d.get('answer')}{by} ({d.get('origin')})",
                    )
                )
        lines.sort(key=lambda x: (x[0], x[1]))
        for _, _, text in lines:
            self.out.write(plain(text) + "\n")
        run = view.run
        if run.get("status") not in (None, "RUNNING") and not self._final:
            self._final = True
            self.out.write(
                plain(
                    f"run {run['run_id']} {run['status']}, verdict {run.get('verdict') or '-'}"
                    + (f": {run['reason']}" if run.get("reason") else "")
                )
                + "\n"
            )
        self.out.flush()


def render(view: RunView) -> Any:
    """The rich renderable of the live panel."""
    run = view.run
    p = view.progress()
    status = run.get("status") or "RUNNING"
    head = Text()
    head.append(f"{run.get('plan') or '?'} {run.get('plan_version') or ''}".strip(), style="bold")
    head.append(f"   DUT {run.get('dut_serial')}   station {run.get('station')}   run {run.get('run_id')}   ")
    head.append(status, style=STATUS_STYLE.get(status, ""))
    parts: list[Any] = [head]
    step = Text()
    if p["current"]:
        step.append(f"Step {p['index'] or '?'} of {p['total']}: ", style="bold")
        step.append(p["current"], style="bold cyan")
        if p["clauses"]:
            step.append(f"   [{', '.join(p['clauses'])}]", style="italic")
    else:
        step.append(f"{p['done']} of {p['total']} steps done", style="bold")
    parts.append(step)
    times = Text()
    kind = "virtual" if p["virtual"] else "run"
    if p["in_step_s"] is not None:
        times.append(f"in step {fmt_duration(p['in_step_s'])}")
        if p["virtual"] and p.get("in_step_wall_s") is not None:
            times.append(f" ({fmt_duration(p['in_step_wall_s'])} wall)")
        times.append("   ")
    times.append(f"elapsed {fmt_duration(p['elapsed_s'])} {kind} time")
    if p["virtual"] and p["wall_elapsed_s"] is not None:
        times.append(f" ({fmt_duration(p['wall_elapsed_s'])} wall)")
    if status == "RUNNING":
        times.append("   time left ", style="bold")
        left = ("≥ " if p["unknown"] else "≈ ") + fmt_duration(p["left_s"])
        times.append(left, style="bold")
        if p["wall_left_s"] is not None:
            times.append(f" ({fmt_duration(p['wall_left_s'])} wall at this pace)")
        if p["unknown"]:
            times.append(f"  ({p['unknown']} step(s) without an expected duration)", style="dim")
        if p["overrun"]:
            times.append("  step over its expected duration", style="yellow")
    parts.append(times)
    for r in view.open_requests():
        choices = r["spec"].get("choices")
        parts.append(
            Panel(
                Text(
                    f"{r['question']}"
                    + (f"  [{'/'.join(choices)}]" if choices else "")
                    + "\nanswer at the terminal or in bench ui"
                ),
                title=f"PROMPT {r['key']}",
                border_style="yellow",
            )
        )
    meas = Table(title="last measurements", title_justify="left", expand=True, show_edge=False, pad_edge=False)
    for col in ("step", "measurement", "value", "limit", "verdict"):
        meas.add_column(col, overflow="fold")
    names = {s["nodeid"]: s["name"] for s in view.steps}
    for m in view.measurements[-LAST_MEASUREMENTS:]:
        meas.add_row(
            names.get(m["step"], m["step"] or ""),
            m["name"],
            _value(m),
            m["limit"],
            Text(m["verdict"], style=VERDICT_STYLE.get(m["verdict"], "")),
        )
    parts.append(meas)
    il = view.live.get("interlocks", {}).get("data", {})
    if il.get("margins"):
        t = Table(title="interlocks", title_justify="left", expand=True, show_edge=False, pad_edge=False)
        for col in ("interlock", "reading", "bound", "margin", "state"):
            t.add_column(col)
        for row in il["margins"]:
            frac = row.get("band_fraction")
            state, style = (
                ("inhibited", "dim")
                if row.get("inhibited")
                else (
                    ("EXCEEDED", "bold red")
                    if row["margin_value"] < 0
                    else ("near", "yellow")
                    if frac is not None and frac < 0.1
                    else ("ok", "green")
                )
            )
            t.add_row(
                f"{row['interlock']} {row['side']}",
                row["reading"],
                row["bound"],
                row["margin"],
                Text(state, style=style),
            )
        parts.append(t)
    banner = _banner(view)
    if banner is not None:
        parts.append(banner)
    return Panel(Group(*parts), title="ESS Bench", border_style=STATUS_STYLE.get(status, "cyan").split()[-1])


def _banner(view: RunView) -> Any:
    run = view.run
    safe = view.safe_state_events()
    if run.get("status") == "ABORTED" or any(e["kind"] in ("abort", "abort_request") for e in safe):
        last = [e for e in safe if e["kind"].startswith("safe_state")][-3:]
        lines = "\n".join(e["message"] for e in last)
        return Panel(
            Text(
                f"ABORTED: {run.get('reason') or next((e['message'] for e in safe if e['kind'].startswith('abort')), '')}"
                + (f"\n{lines}" if lines else ""),
                style="bold white",
            ),
            style="on red",
            title="ABORT — SAFE STATE",
        )
    trips = [e for e in safe if e["kind"] == "interlock" and e["data"].get("tripped")]
    if trips or any(e["kind"] == "safe_state_failed" for e in safe):
        return Panel(
            Text("\n".join(e["message"] for e in (trips + safe)[-3:]), style="bold"), style="on red", title="SAFE STATE"
        )
    if run.get("status") in ("COMPLETED", "STOPPED"):
        verdict = run.get("verdict") or "-"
        return Panel(
            Text(
                f"{run['status']}  verdict {verdict}" + (f": {run['reason']}" if run.get("reason") else ""),
                style=VERDICT_STYLE.get(verdict, "bold"),
            ),
            title="END OF RUN",
        )
    return None


def console_for(out: TextIO) -> Console:
    return Console(file=out, force_terminal=True, highlight=False, soft_wrap=False)
