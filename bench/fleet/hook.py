"""Synchronisation at the end of a run, for stations that declare `[fleet]`.

Called from the plugin's finish path after the report is rendered. It never raises and never
changes the run's verdict: an offline station keeps working; a failed or partial sync is
journalled as a `fleet_sync` event of the run and everything pending goes at the next run end
or `bench sync` (the high-water marks make that exact).
"""

from __future__ import annotations

import time
from typing import Any


def sync_at_run_end(session: Any) -> str | None:
    """One line for the terminal, or None when the station has no [fleet] table (or opts out)."""
    cfg = getattr(session.station, "fleet", None)
    if cfg is None or not cfg.sync_at_run_end:
        return None
    try:
        from bench.fleet.sync import sync_journal

        result = sync_journal(
            cfg.conninfo(f"ess-bench run-end sync {cfg.station_id}"),
            session.journal.path,
            cfg.station_id,
            batch_rows=cfg.batch_rows,
            folders=cfg.folders,
            report_dir=session.report_dir,
            journal=session.journal,
            deadline=time.monotonic() + cfg.run_end_budget_s,
        )
    except Exception as exc:  # offline, refused, schema too old: the run stands, the next sync catches up
        message = (
            f"fleet sync failed: {type(exc).__name__}: {exc}; the run is kept in the local journal and sent "
            "at the next run end or `bench sync`"
        )
        _journal(session, message, {"ok": False, "error": str(exc)})
        return message
    line = f"fleet sync to {cfg.station_id}: {result.total_rows} rows, {result.files} files in {result.elapsed_s:.1f} s"
    if not result.ok:
        why = "; ".join(result.problems) or "time budget used up"
        message = f"fleet sync incomplete: {why}; the rest is sent at the next run end or `bench sync`"
        _journal(session, message, {"ok": False, **result.as_dict()})
        return f"{line} — {message}"
    return line


def _journal(session: Any, message: str, data: dict[str, Any]) -> None:
    try:
        session.journal.add_event(session.run_id, "fleet_sync", message, data=data)
    except Exception:  # the journal is closing; the message still reaches the terminal
        pass
