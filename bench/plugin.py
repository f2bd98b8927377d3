"""The pytest plugin: options, fixtures and step journalling for test plans.

A plan uses only fixtures (`psu`, `load`, `chamber`, `bms`, `dmm`, `irt`, `gas`, `measure`,
`require`, `clock`, `prompt`, `telemetry`, `limits`, `dut`, `sim`) and the markers
`clause("...")` and `plan_level("module")`. The session opens on the first test that asks for
a bench fixture; defaults for station and limits come from the plan's `plan.toml`.
On a failed `require`, an exception in a step, Ctrl-C or SIGTERM the bench goes to its safe
state, the run is closed ABORTED, and the report is still rendered from the journal.
"""

from __future__ import annotations

import html
import signal
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bench.errors import BenchError, ConfigError, RequirementFailed
from bench.fleet.hook import sync_at_run_end
from bench.recorder import StepContext
from bench.report.render import limit_text
from bench.safety.interlocks import InterlockTrip
from bench.safety.timeouts import BenchAbort, Deadline, parse_duration
from bench.session import BenchSession
from bench.verdict import Verdict

PLAN_LEVELS = {"cell", "module", "unit", "installation", "site"}
ROLE_FIXTURES = ("psu", "load", "chamber", "dmm", "irt", "gas", "bms_can", "bms_modbus")

_state: dict[str, Any] = {"session": None, "report": None, "plan": {}}
SIM_WALL_BACKSTOP_S = 600.0  # a simulated step that burns this much wall time is hung


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ess-bench", "ESS Bench")
    g.addoption("--station", help="station file (stations/*.toml); default from the plan's plan.toml")
    g.addoption("--limits", action="append", default=[], help="limit set file; repeat for several")
    g.addoption("--dut", default="", help="serial number of the device under test")
    g.addoption("--operator", default="", help="operator name recorded in the run")
    g.addoption("--report-dir", default="reports", help="where the journal and run reports are written")
    g.addoption("--answers", default=None, help="TOML file of prepared answers to operator prompts")
    g.addoption("--batch-id", default=None, help="batch this run belongs to (set by `bench run --dut-list`)")
    g.addoption("--dut-info", default=None, help="JSON file of DUT identity/passport data for this run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(text): standard clause this step derives from")
    config.addinivalue_line("markers", "plan_level(level): cell|module|unit|installation|site")
    config.addinivalue_line("markers", "timeout_step(duration): time limit of this step, e.g. \"10 min\" "
                                       "(virtual time in simulation, wall time on hardware)")
    config.addinivalue_line("markers", "interlock_inhibit(*names, reason): interlocks this step provokes on "
                                       "purpose (e.g. gas_stage during a bump test); journalled, lifted after")


def _find_plan_toml(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        cand = d / "plan.toml"
        if cand.exists():
            return cand
        if (d / "pyproject.toml").exists():
            break
    return None


def _plan_defaults(item_path: Path) -> tuple[dict[str, Any], Path | None]:
    plan_file = _find_plan_toml(item_path.parent)
    if plan_file is None:
        return {}, None
    try:
        data = tomllib.loads(plan_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(plan_file)) from exc
    return data.get("plan", {}), plan_file


@pytest.fixture(scope="session")
def bench_session(request: pytest.FixtureRequest) -> Any:
    config = request.config
    item_path = Path(str(request.node.path if hasattr(request.node, "path") else config.rootpath))
    first = next(iter(request.session.items), None)
    if first is not None:
        item_path = Path(str(first.path))
    plan, plan_file = _plan_defaults(item_path)
    root = config.rootpath
    station = config.getoption("--station") or plan.get("station")
    limits = config.getoption("--limits") or plan.get("limits", [])
    if not station:
        raise ConfigError("no station given: pass --station FILE or set station in the plan's plan.toml")
    dut_info = None
    if config.getoption("--dut-info"):
        import json
        dut_info = json.loads(Path(config.getoption("--dut-info")).read_text(encoding="utf-8"))

    def resolve(p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() or path.exists() else root / path

    session = BenchSession(
        station=resolve(station), limits=[resolve(p) for p in limits], dut=config.getoption("--dut"),
        operator=config.getoption("--operator"), report_dir=resolve(config.getoption("--report-dir")),
        plan=str(plan.get("name", plan_file.parent.name if plan_file else "")),
        plan_version=str(plan.get("version", "")), answers=config.getoption("--answers"),
        batch_id=config.getoption("--batch-id"), dut_info=dut_info,
    )
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        session.abort_reason = session.abort_reason or "SIGTERM received"
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)
    _state["session"] = session
    _state["plan"] = plan
    session.interrupter.install()
    session.open()
    try:
        yield session
    finally:
        _finish(session)
        signal.signal(signal.SIGTERM, previous)
        session.interrupter.uninstall()


def _finish(session: BenchSession, aborted: str | None = None) -> None:
    if session.closed:
        return
    session.close(aborted=aborted)
    try:
        from bench.report.render import render_run

        out = render_run(session.journal, session.run_id, session.report_dir / session.run_id)
        _state["report"] = out
    except Exception as exc:  # the run is journalled; a report can be rendered later with `bench report`
        _state["report"] = None
        _state["report_error"] = f"{type(exc).__name__}: {exc}"
    finally:
        _state["fleet_sync"] = sync_at_run_end(session)  # [fleet] stations only; never raises or fails the run
        if session._own_journal:
            session.journal.close()


def _role(session: BenchSession, role: str) -> Any:
    inst = session.instruments.get(role)
    if inst is None:
        have = ", ".join(sorted(session.instruments)) or "none"
        raise ConfigError(f"this step needs a '{role}' but station {session.station.name!r} has: {have}",
                          source=str(session.station.path), key=f"roles.{role}")
    return inst


def _make_role_fixture(role: str) -> Any:
    @pytest.fixture(name=role)
    def fixture(bench_session: BenchSession) -> Any:
        return _role(bench_session, role)

    fixture.__doc__ = f"The station's '{role}' instrument."
    return fixture


for _r in ROLE_FIXTURES:
    globals()[f"fixture_{_r}"] = _make_role_fixture(_r)


@pytest.fixture
def bms(bench_session: BenchSession) -> Any:
    """The BMS link: `bms_can` if the station has one, else `bms_modbus`."""
    for role in ("bms_can", "bms_modbus", "bms"):
        if role in bench_session.instruments:
            return bench_session.instruments[role]
    return _role(bench_session, "bms_can")


@pytest.fixture
def measure(bench_session: BenchSession) -> Any:
    return bench_session.recorder.measure


@pytest.fixture
def require(bench_session: BenchSession) -> Any:
    return bench_session.recorder.require


@pytest.fixture
def clock(bench_session: BenchSession) -> Any:
    return bench_session.clock


@pytest.fixture
def prompt(bench_session: BenchSession) -> Any:
    return bench_session.prompt


@pytest.fixture
def telemetry(bench_session: BenchSession) -> Any:
    return bench_session.telemetry


@pytest.fixture
def limits(bench_session: BenchSession) -> Any:
    return bench_session.limits


@pytest.fixture
def dut(bench_session: BenchSession) -> dict[str, Any]:
    return bench_session.dut_info


@pytest.fixture
def sim(bench_session: BenchSession) -> Any:
    """The simulated station (plant, fault injection), or None on real hardware."""
    return bench_session.sim


@pytest.fixture
def event(bench_session: BenchSession) -> Any:
    """Journal a free-text event (deviation, note) for this step."""
    return bench_session.event


def _clauses(item: pytest.Item) -> list[str]:
    return [str(m.args[0]) for m in item.iter_markers("clause") if m.args]


def _plan_level(item: pytest.Item) -> str:
    m = item.get_closest_marker("plan_level")
    level = str(m.args[0]) if m and m.args else ""
    if level and level not in PLAN_LEVELS:
        raise ConfigError(f"plan_level {level!r} on {item.nodeid}; expected one of {sorted(PLAN_LEVELS)}")
    return level


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    session: BenchSession | None = _state["session"]
    if session is None or session.closed or "bench_session" not in getattr(item, "fixturenames", ()):
        yield
        return
    session.recorder.step = StepContext(nodeid=item.nodeid, clauses=_clauses(item))
    session.journal.start_step(session.run_id, item.nodeid, item.name, _clauses(item), _plan_level(item),
                               session.clock.now_s())
    inhibited = _inhibit(session, item)
    deadline = _step_deadline(session, item)
    try:
        yield
    finally:
        deadline.cancel()
        if inhibited and session.interlocks is not None:
            session.interlocks.release(inhibited)
            session.event("interlock", f"inhibit lifted: {', '.join(inhibited)}", {"inhibit": [], "lifted": inhibited})


def _step_timeout_s(session: BenchSession, item: pytest.Item) -> float | None:
    """Marker `timeout_step("10 min")`, else plan.toml `step_timeout`, else station `[safety] step_timeout`."""
    m = item.get_closest_marker("timeout_step")
    if m is not None and m.args:
        return parse_duration(m.args[0], source=item.nodeid, key="timeout_step")
    plan_value = _state.get("plan", {}).get("step_timeout")
    if plan_value is not None:
        return parse_duration(plan_value, source="plan.toml", key="plan.step_timeout")
    return session.duration("step_timeout")


def _step_deadline(session: BenchSession, item: pytest.Item) -> Deadline:
    limit = _step_timeout_s(session, item)
    if session.clock.virtual:
        wall = session.duration("step_wall_timeout") or SIM_WALL_BACKSTOP_S
        return Deadline(session.clock, session.interrupter, what=f"step {item.name}", virtual_s=limit,
                        wall_s=wall).start()
    return Deadline(session.clock, session.interrupter, what=f"step {item.name}", virtual_s=None,
                    wall_s=limit).start()


def _inhibit(session: BenchSession, item: pytest.Item) -> list[str]:
    names: list[str] = []
    reasons: list[str] = []
    for m in item.iter_markers("interlock_inhibit"):
        names += [str(a) for a in m.args]
        reasons.append(str(m.kwargs.get("reason", "")))
    if not names or session.interlocks is None:
        return []
    reason = "; ".join(r for r in reasons if r) or "no reason given"
    session.interlocks.inhibit(names, reason)
    session.event("interlock", f"inhibited for step {item.name}: {', '.join(names)} ({reason})",
                  {"inhibit": names, "reason": reason})
    return names


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Fixture teardown of a step gets its own wall-time limit ([safety] teardown_timeout)."""
    session: BenchSession | None = _state["session"]
    if session is None or session.closed:
        yield
        return
    deadline = Deadline(session.clock, session.interrupter, what=f"teardown of {item.name}", virtual_s=None,
                        wall_s=session.duration("teardown_timeout")).start()
    try:
        yield
    finally:
        deadline.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    session: BenchSession | None = _state["session"]
    if session is None or call.when != "call" or session.recorder.step.nodeid != item.nodeid:
        return
    step = session.recorder.step
    failed = [m for m in step.measurements if m.verdict == Verdict.FAIL]
    verdict = Verdict.combine([m.verdict for m in step.measurements]) if step.measurements else None
    message = ""
    if call.excinfo is not None:
        exc = call.excinfo.value
        kind = "required measurement failed" if isinstance(exc, RequirementFailed) else type(exc).__name__
        message = f"{kind}: {exc}"
        verdict = Verdict.FAIL
        if isinstance(exc, BenchAbort):
            message = exc.reason
        if not isinstance(exc, KeyboardInterrupt):
            reason = f"step {item.name} stopped: {message}"
            session.event("abort", reason)
            session.abort_reason = session.abort_reason or reason
            if not isinstance(exc, InterlockTrip):  # a trip has driven the safe state already
                session.safe_state(reason)
            item.session.shouldstop = reason
    elif failed and report.passed:
        report.outcome = "failed"
        report.longrepr = "step verdict FAIL:\n" + "\n".join(f"  {m}" for m in failed)
        message = "; ".join(str(m) for m in failed)
    session.journal.end_step(session.run_id, item.nodeid, report.outcome, str(verdict or "NONE"), message,
                             session.clock.now_s())
    _attach_html(report, step)


def _attach_html(report: Any, step: StepContext) -> None:
    try:
        import pytest_html
    except ImportError:
        return
    if not step.measurements:
        return
    rows = "".join(
        f"<tr><td>{html.escape(m.name)}</td><td>{m.value:~.6gP}</td><td>{html.escape(limit_text(m.limit))}</td>"
        f"<td>{m.verdict}</td></tr>" for m in step.measurements)
    table = f"<table><tr><th>measurement</th><th>value</th><th>limit</th><th>verdict</th></tr>{rows}</table>"
    report.extras = [*getattr(report, "extras", []), pytest_html.extras.html(table)]



def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    session: BenchSession | None = _state["session"]
    if session is not None and not session.closed:
        reason = session.abort_reason or "operator interrupt (Ctrl-C)"
        session.event("abort", reason)
        _finish(session, aborted=reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bench: BenchSession | None = _state["session"]
    if bench is not None and not bench.closed:
        _finish(bench, aborted=bench.abort_reason)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    bench: BenchSession | None = _state["session"]
    if bench is None:
        return
    tr = terminalreporter
    tr.section("ESS Bench")
    tr.write_line(f"run {bench.run_id}  DUT {bench.dut}  station {bench.station.name}")
    status = bench.journal.run(bench.run_id) if not bench._own_journal else None
    verdict = "ABORTED" if bench.abort_reason else str(bench.overall_verdict())
    tr.write_line(f"verdict: {verdict}" + (f"  ({bench.abort_reason})" if bench.abort_reason else ""))
    if status:
        tr.write_line(f"status: {status['status']}")
    if _state.get("report"):
        tr.write_line(f"report: {_state['report']}")
    elif _state.get("report_error"):
        tr.write_line(f"report not rendered: {_state['report_error']} (render later with `bench report {bench.run_id}`)")
    if _state.get("fleet_sync"):
        tr.write_line(_state["fleet_sync"])


def pytest_exception_interact(node: Any, call: Any, report: Any) -> None:
    """Bench errors in fixtures (bad station, unreachable instrument) read as one clear line."""
    if call.excinfo is not None and isinstance(call.excinfo.value, BenchError):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
