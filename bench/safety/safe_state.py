"""Driving every instrument to its safe state, in a defined order, confirmed by read-back.

Order: load off and supply output off first (order 10/20), then the chamber to ambient (30),
then a BMS contactor-open request where the station allows it (40). An instrument opts in by
having `safe_state()` (which must confirm its effect by read-back and raise if it cannot) and
an optional `safe_state_order`. A failing action is retried and then reported; it never stops
the others. Each attempt is bounded (`action_timeout_s`, run on a worker thread), so an
instrument that never answers costs at most retries x timeout and cannot hang the sequence.
Nothing raised inside an action (an interlock trip, a timeout, even Ctrl-C) stops the sequence:
it completes in order, and a Ctrl-C is re-raised only after the last instrument.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bench.safety.timeouts import run_bounded


class SafeStateCapable(Protocol):
    def safe_state(self) -> str: ...


@dataclass
class SafeAction:
    role: str
    ok: bool
    detail: str
    attempts: int


def drive_safe_state(
    instruments: dict[str, Any],
    *,
    cause: str,
    journal_event: Callable[[str, str, dict[str, Any]], None],
    allowed: Callable[[str], bool] = lambda role: True,
    retries: int = 3,
    retry_delay_s: float = 0.05,
    action_timeout_s: float | None = None,
) -> list[SafeAction]:
    """Call `safe_state()` on each instrument by order; journal each result with the cause."""
    ordered = sorted(
        (
            (getattr(inst, "safe_state_order", 50), role, inst)
            for role, inst in instruments.items()
            if hasattr(inst, "safe_state")
        ),
        key=lambda x: (x[0], x[1]),
    )
    results: list[SafeAction] = []
    postponed: BaseException | None = None
    for _order, role, inst in ordered:
        if not allowed(role):
            journal_event(
                "safe_state",
                f"{role}: skipped (station does not allow a safe-state command)",
                {"role": role, "cause": cause, "ok": None},
            )
            continue
        last = ""
        for attempt in range(1, retries + 1):
            try:
                if action_timeout_s is None:
                    detail = inst.safe_state() or "safe"
                else:
                    detail = run_bounded(inst.safe_state, action_timeout_s, f"{role} safe state") or "safe"
                results.append(SafeAction(role, True, str(detail), attempt))
                journal_event(
                    "safe_state", f"{role}: {detail}", {"role": role, "cause": cause, "ok": True, "attempts": attempt}
                )
                break
            except BaseException as exc:  # every failure is reported; the others still run
                last = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    postponed = postponed or exc  # Ctrl-C again: finish making things safe first
                if attempt < retries:
                    time.sleep(retry_delay_s)
        else:
            results.append(SafeAction(role, False, last, retries))
            journal_event(
                "safe_state_failed",
                f"{role}: could not confirm safe state after {retries} attempts: {last}",
                {"role": role, "cause": cause, "ok": False, "attempts": retries},
            )
    if postponed is not None:
        raise postponed
    return results
