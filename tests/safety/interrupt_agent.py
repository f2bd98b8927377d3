"""pytest plugin (loaded with `-p interrupt_agent`) that interrupts a simulated run at a set point.

Configured by the environment variable ESS_INTERRUPT (JSON): kind = sigint | sigterm | mute |
exception, at_s = virtual time of the interruption (from the run's start, or with `step` = a step's
function name, from the moment that step starts), role (for mute), mute_s (wall seconds the
instrument stays silent), out = where to write the outcome. The interruption fires from a
one-shot SimClock callback, i.e. inside whatever `clock.sleep` the plan is in at that instant;
`mute` makes the plan's next exchange with that instrument time out, wherever that is.

At the end it writes what the tests check: the simulated supply/load outputs and chamber set
point as the plant holds them, the run status, and the measurements the plan took (in memory)
against those in the journal.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import pytest

CFG: dict[str, Any] = json.loads(os.environ.get("ESS_INTERRUPT", "{}") or "{}")
STATE: dict[str, Any] = {"armed": False, "fired": None}


def _fire(session: Any) -> None:
    kind = CFG.get("kind")
    STATE["fired"] = {"kind": kind, "t_s": session.clock.now_s()}
    if kind == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
    elif kind == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    elif kind == "exception":
        raise RuntimeError("injected exception in the plan")
    elif kind == "mute":
        server = session.sim.server(CFG["role"])
        server.mute(True)
        if CFG.get("mute_s") is not None:  # None: silent for good
            t = threading.Timer(float(CFG["mute_s"]), lambda: server.mute(False))
            t.daemon = True
            t.start()


GARBAGE_SAFETY = {
    "safe_state_action_timeout": "abc",
    "teardown_timeout": "nan s",
    "safe_state_retries": "many",
    "safe_state_retry_delay": "-1 s",
}


def pytest_configure(config: pytest.Config) -> None:
    """With garbage_safety, the station's [safety] table is replaced by garbage after it passed the
    load-time check (as if a future code path skipped it): the session's own fallback must hold."""
    if not CFG.get("garbage_safety"):
        return
    import bench.session as bench_session

    original = bench_session.load_station

    def load_with_garbage(path: Any, **kwargs: Any) -> Any:
        station = original(path, **kwargs)
        station.safety = dict(GARBAGE_SAFETY)
        return station

    bench_session.load_station = load_with_garbage


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    from bench.plugin import current_session

    session = current_session(item.config)
    if STATE["armed"] or session is None or session.closed or not CFG:
        return
    if CFG.get("step") and item.name != CFG["step"]:  # anchored to a step: armed when that step starts
        return
    STATE["armed"] = True
    from bench.units import Q_

    start = session.clock.now_s() if CFG.get("step") else 0.0
    delay = max(1e-3, start + float(CFG["at_s"]) - session.clock.now_s())
    holder: dict[str, Any] = {}

    def once(_t: float) -> None:
        session.clock.cancel(holder["h"])
        _fire(session)

    holder["h"] = session.clock.every(Q_(delay, "s"), once, name="interrupt-agent")


def pytest_unconfigure(config: pytest.Config) -> None:
    from bench.plugin import current_session

    out = CFG.get("out")
    session = current_session(config)
    if not out or session is None:
        return
    plant = session.sim.plant if session.sim is not None else None
    taken = [(m.name, m.step) for m in session.recorder.all]
    run = session.journal.run(session.run_id) if not session._own_journal else None
    try:
        from bench.journal import Journal

        j = Journal(session.report_dir / "journal.sqlite")
        journalled = [(m["name"], m["step"]) for m in j.measurements(session.run_id)]
        row = j.run(session.run_id)
        status_row = {"status": row["status"], "reason": row["reason"]}
        events = [
            (e["kind"], e["message"])
            for e in j.events(session.run_id)
            if e["kind"] in ("safe_state", "safe_state_failed", "interlock", "abort", "stop", "safety_fallback")
        ]
        j.close()
    except Exception as exc:  # reported, the test fails on it
        journalled, status_row, events = [], {"status": "UNREADABLE", "reason": str(exc)}, []
    result = {
        "fired": STATE["fired"],
        "supply_on": None if plant is None else bool(plant.supply.output_on),
        "load_on": None if plant is None else bool(plant.load.input_on),
        "chamber_setpoint_degC": None if plant is None else float(plant.chamber.setpoint_degC),
        "ambient_degC": None if plant is None else float(plant.ambient_degC),
        "contactor_closed": None if plant is None else bool(plant.bms.contactor_closed),
        "taken": taken,
        "journalled": journalled,
        "run": status_row,
        "events": events,
        "run_status_attr": None if run is None else run["status"],
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
