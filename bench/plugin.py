"""The pytest plugin: options, fixtures and step journalling for test plans.

A plan uses only fixtures and the markers `clause("...")` and `plan_level("module")`. Instrument
fixtures are bound by capability (`psu`, `load`, `chamber`, `bms`, `dmm`, `irt`, `gas`,
`stimulus`, and any capability a new instrument class declares): see bench/bindings.py; the
`instruments` fixture maps every role name to its driver. Others: `measure`, `require`, `clock`,
`prompt`, `telemetry`, `limits`, `dut`, `event`. Station, limit sets and the plan's declarations
(plan.toml) are loaded and checked once, before any step runs: a configuration problem is
reported once with file and key and the run exits with a usage error. On a failed `require` the
plan stops (run STOPPED, verdict FAIL); on an exception, an interlock trip, Ctrl-C or SIGTERM the
run is ABORTED; either way the bench goes to its safe state and the report is rendered from the
journal. Run state lives on the pytest config (`current_session(config)`), not in module globals.
"""

from __future__ import annotations

import importlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.bindings import known_fixture_names
from bench.declarations import PlanDeclarations, load_plan_file
from bench.errors import BenchError, ConfigError, ConfigErrors, RequirementFailed
from bench.fleet.hook import sync_at_run_end
from bench.recorder import StepContext
from bench.safety.interlocks import InterlockTrip
from bench.safety.timeouts import BenchAbort, Deadline, parse_duration
from bench.session import BenchSession
from bench.verdict import Verdict

PLAN_LEVELS = {"cell", "module", "unit", "installation", "site"}
SIM_WALL_BACKSTOP_S = 600.0  # a simulated step that burns this much wall time is hung
USAGE_ERROR = 4


@dataclass
class RunState:
    """What the plugin holds for one pytest run: the bench session, the plan, the report outcome."""

    session: BenchSession | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    plan_file: Path | None = None
    report: Path | None = None
    report_error: str | None = None
    fleet_sync: str | None = None  # how the run-end sync to the fleet store went ([fleet] stations)


_STATE_KEY = pytest.StashKey[RunState]()


def run_state(config: pytest.Config) -> RunState:
    if _STATE_KEY not in config.stash:
        config.stash[_STATE_KEY] = RunState()
    return config.stash[_STATE_KEY]


def current_session(config: pytest.Config) -> BenchSession | None:
    """The bench session of this pytest run (None before the first bench step or outside a plan)."""
    return run_state(config).session


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
    g.addoption(
        "--no-pdf",
        action="store_true",
        default=os.environ.get("ESS_BENCH_NO_PDF") == "1",
        help="render the report without its PDF (batch children, CI; also ESS_BENCH_NO_PDF=1); "
        "`bench report RUN_ID` renders it later",
    )
    g.addoption(
        "--resume",
        default=None,
        metavar="RUN_ID",
        help="continue an interrupted (ABORTED) run: completed steps are kept, the cut step reruns",
    )


def pytest_configure(config: pytest.Config) -> None:
    _CONFIGS.append(config)
    config.addinivalue_line("markers", "clause(text): standard clause this step derives from")
    config.addinivalue_line("markers", "plan_level(level): cell|module|unit|installation|site")
    config.addinivalue_line(
        "markers",
        'timeout_step(duration): time limit of this step, e.g. "10 min" '
        "(virtual time in simulation, wall time on hardware)",
    )
    config.addinivalue_line(
        "markers",
        "interlock_inhibit(*names, reason): interlocks this step provokes on "
        "purpose (e.g. gas_stage during a bump test); journalled, lifted after",
    )


def _find_plan_toml(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        cand = d / "plan.toml"
        if cand.exists():
            return cand
        if (d / "pyproject.toml").exists():
            break
    return None


def _plan_defaults(item_path: Path) -> tuple[dict[str, Any], Path | None, PlanDeclarations]:
    plan_file = _find_plan_toml(item_path.parent)
    if plan_file is None:
        return {}, None, PlanDeclarations()
    plan, decl = load_plan_file(plan_file)
    return plan, plan_file, decl


def _uses_bench(item: pytest.Item) -> bool:
    return "bench_session" in getattr(item, "fixturenames", ())


def _build_session(config: pytest.Config, items: list[pytest.Item]) -> BenchSession | None:
    """Load and check station, limit sets and plan declarations (nothing opened yet)."""
    first = next((i for i in items if _uses_bench(i)), None)
    if first is None:
        return None
    state = run_state(config)
    plan, plan_file, declarations = _plan_defaults(Path(str(first.path)))
    root = config.rootpath
    station = config.getoption("--station") or plan.get("station")
    limits = config.getoption("--limits") or plan.get("limits", [])
    if not station:
        raise ConfigError("no station given: pass --station FILE or set station in the plan's plan.toml")
    dut_info = None
    if config.getoption("--dut-info"):
        import json

        path = Path(config.getoption("--dut-info"))
        try:
            dut_info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read DUT info: {exc}", source=str(path)) from exc
        if not isinstance(dut_info, dict):
            raise ConfigError("expected a JSON object", source=str(path))

    # plan.toml names files relative to its checkout (the folder holding pyproject.toml)
    project = next((d for d in (plan_file.parents if plan_file else []) if (d / "pyproject.toml").exists()), root)

    def resolve(p: str) -> Path:
        path = Path(p)
        if path.is_absolute() or path.exists():
            return path
        return project / path if (project / path).exists() else root / path

    telemetry, telemetry_source = None, "plan.toml"
    if plan_file is not None:
        from bench.tomlfile import read_toml

        telemetry, telemetry_source = read_toml(plan_file)[0].get("telemetry"), str(plan_file)
    session = BenchSession(
        station=resolve(station),
        limits=[resolve(p) for p in limits],
        dut=config.getoption("--dut"),
        operator=config.getoption("--operator"),
        report_dir=root / config.getoption("--report-dir"),
        plan=str(plan.get("name", plan_file.parent.name if plan_file else "")),
        plan_version=str(plan.get("version", "")),
        answers=config.getoption("--answers"),
        batch_id=config.getoption("--batch-id"),
        dut_info=dut_info,
        declarations=declarations,
        resume=_resume_option(config, plan, plan_file),
        telemetry=telemetry,
        telemetry_source=telemetry_source,
    )
    for hook in plan.get("checks", []):
        module_name, _, fn_name = str(hook).partition(":")
        try:
            check = getattr(importlib.import_module(module_name), fn_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"cannot load plan check {hook!r}: {exc}", source=str(plan_file), key="plan.checks"
            ) from exc
        check(session.limits)
    state.plan, state.plan_file = plan, plan_file
    return session


def _resume_option(config: pytest.Config, plan: dict[str, Any], plan_file: Path | None) -> str | None:
    run_id = config.getoption("--resume")
    if run_id and not plan.get("resumable", False):
        raise ConfigError(
            f"plan {plan.get('name', '?')!r} cannot be resumed: its steps keep state between them in "
            "memory (declare `resumable = true` in [plan] once every step sets up its own "
            "preconditions)",
            source=str(plan_file),
            key="plan.resumable",
        )
    return run_id


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every configuration file once, before any step runs; a problem ends the run here.
    On --resume, the steps the interrupted run completed are deselected (kept from the journal)."""
    if config.option.collectonly or run_state(config).session is not None:
        return
    try:
        bench = _build_session(config, items)
    except (ConfigError, ConfigErrors) as exc:
        config.get_terminal_writer().line(f"ESS Bench: configuration error, nothing was run:\n{exc}", red=True)
        pytest.exit("ESS Bench configuration error (above); nothing was run", returncode=USAGE_ERROR)
    run_state(config).session = bench
    if bench is not None and bench.resumed:
        done = bench.journal.completed_steps(bench.run_id)
        kept = [i for i in items if i.nodeid not in done]
        dropped = [i for i in items if i.nodeid in done]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


@pytest.fixture(scope="session")
def bench_session(request: pytest.FixtureRequest) -> Any:
    config = request.config
    state = run_state(config)
    session = state.session
    if session is None:  # a plan collected in an unusual way: build it now
        session = _build_session(config, list(request.session.items))
        if session is None:
            raise ConfigError("no bench step collected")
        state.session = session
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        session.abort_reason = session.abort_reason or "SIGTERM received"
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)
    session.interrupter.install()
    session.open()
    try:
        yield session
    finally:
        _finish(config, session)
        signal.signal(signal.SIGTERM, previous)
        session.interrupter.uninstall()


def _finish(config: pytest.Config, session: BenchSession, aborted: str | None = None) -> None:
    """Close the run (safe state, drivers, journal end). Bounded by the teardown budget; the report is
    rendered afterwards (`_render`), outside any step's teardown time limit."""
    if session.closed or not session.opened:
        return
    session.close(aborted=aborted)


def _render(config: pytest.Config, session: BenchSession) -> None:
    """Render the report folder from the journal once the run is closed; a failure is journalled."""
    state = run_state(config)
    if not session.closed or state.report is not None or state.report_error is not None:
        return
    try:
        from bench.report.render import render_run

        state.report = render_run(
            session.journal, session.run_id, session.report_dir / session.run_id, pdf=not config.getoption("--no-pdf")
        )
    except Exception as exc:  # the run is journalled; a report can be rendered later with `bench report`
        state.report_error = f"{type(exc).__name__}: {exc}"
        try:
            session.event("report_failed", f"report not rendered: {state.report_error}")
        except Exception:  # noqa: BLE001 - the journal may be the thing that failed
            pass
    finally:
        state.fleet_sync = sync_at_run_end(session)  # [fleet] stations only; never raises or fails the run
        if session._own_journal:
            session.journal.close()


def _make_capability_fixture(name: str) -> Any:
    @pytest.fixture(name=name)
    def fixture(bench_session: BenchSession) -> Any:
        return bench_session.bindings.require(
            name, station=bench_session.station.name, source=str(bench_session.station.path)
        )

    fixture.__doc__ = f"The station's instrument serving the {name!r} capability."
    return fixture


for _name in known_fixture_names():
    globals()[f"fixture_{_name}"] = _make_capability_fixture(_name)


@pytest.fixture
def instruments(bench_session: BenchSession) -> dict[str, Any]:
    """Every role of the station by name (for stations with several instruments of one kind)."""
    return dict(bench_session.instruments)


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
def attach(bench_session: BenchSession) -> Any:
    """`attach(name, content, kind)`: journal an attachment for this step; it lands in the report folder."""
    return bench_session.attach


@pytest.fixture
def earlier(bench_session: BenchSession) -> Any:
    """`earlier(name)`: (quantity, note) of this run's standing results of a measurement (all sessions, oldest
    first; results of an interrupted step attempt excluded), so a step can use what an earlier one measured,
    also after a resume."""
    return bench_session.earlier


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
    session = current_session(item.config)
    if session is None or session.closed or not session.opened or not _uses_bench(item):
        yield
        return
    session.recorder.step = StepContext(nodeid=item.nodeid, clauses=_clauses(item))
    session.journal.start_step(
        session.run_id, item.nodeid, item.name, _clauses(item), _plan_level(item), session.clock.now_s()
    )
    session.capture_step(item.nodeid)
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
    plan_value = run_state(item.config).plan.get("step_timeout")
    if plan_value is not None:
        return parse_duration(plan_value, source="plan.toml", key="plan.step_timeout")
    return session.safety.step_timeout_s


def _step_deadline(session: BenchSession, item: pytest.Item) -> Deadline:
    limit = _step_timeout_s(session, item)
    if session.clock.virtual:
        wall = session.safety.step_wall_timeout_s or SIM_WALL_BACKSTOP_S
        return Deadline(
            session.clock, session.interrupter, what=f"step {item.name}", virtual_s=limit, wall_s=wall
        ).start()
    return Deadline(session.clock, session.interrupter, what=f"step {item.name}", virtual_s=None, wall_s=limit).start()


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
    session.event(
        "interlock",
        f"inhibited for step {item.name}: {', '.join(names)} ({reason})",
        {"inhibit": names, "reason": reason},
    )
    return names


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Fixture teardown of a step gets its own wall-time limit ([safety] teardown_timeout)."""
    session = current_session(item.config)
    if session is None or session.closed or not session.opened:
        yield
        return
    deadline = Deadline(
        session.clock,
        session.interrupter,
        what=f"teardown of {item.name}",
        virtual_s=None,
        wall_s=session.safety.teardown_timeout_s,
    ).start()
    try:
        yield
    finally:
        deadline.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    session = current_session(item.config)
    if session is None or call.when != "call" or session.recorder.step.nodeid != item.nodeid:
        return
    step = session.recorder.step
    failed = [m for m in step.measurements if m.verdict == Verdict.FAIL]
    verdict = Verdict.combine([m.verdict for m in step.measurements]) if step.measurements else None
    message = ""
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        message = f"skipped: {call.excinfo.value}"  # a plan may skip a step (a gate); that stops nothing
    elif call.excinfo is not None:
        exc = call.excinfo.value
        kind = "required measurement failed" if isinstance(exc, RequirementFailed) else type(exc).__name__
        message = f"{kind}: {exc}"
        verdict = Verdict.FAIL
        if isinstance(exc, BenchAbort):
            message = exc.reason
        if not isinstance(exc, KeyboardInterrupt):
            reason = f"step {item.name} stopped: {message}"
            if isinstance(exc, RequirementFailed):  # the device failed: a FAIL that ended the run early
                session.event("stop", reason)
                session.stop_reason = session.stop_reason or reason
            else:  # something outside the test cut it short
                session.event("abort", reason)
                session.abort_reason = session.abort_reason or reason
            if not isinstance(exc, InterlockTrip):  # a trip has driven the safe state already
                session.safe_state(reason)
            item.session.shouldstop = reason
    elif failed and report.passed:
        report.outcome = "failed"
        report.longrepr = "step verdict FAIL:\n" + "\n".join(f"  {m}" for m in failed)
        message = "; ".join(str(m) for m in failed)
    session.capture_step(None)
    session.journal.end_step(
        session.run_id, item.nodeid, report.outcome, str(verdict or "NONE"), message, session.clock.now_s()
    )
    _attach_html(report, step)


def _attach_html(report: Any, step: StepContext) -> None:
    try:
        import pytest_html
    except ImportError:
        return
    # the report stack is loaded only when pytest-html asks
    from bench.report.render import limit_text, step_table

    if not step.measurements:
        return
    table = step_table(
        [
            {"name": m.name, "value": f"{m.value:~.6gP}", "limit": limit_text(m.limit), "verdict": str(m.verdict)}
            for m in step.measurements
        ]
    )
    report.extras = [*getattr(report, "extras", []), pytest_html.extras.html(table)]


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    config = _CONFIGS[-1] if _CONFIGS else None
    session = current_session(config) if config is not None else None
    if session is not None and not session.closed and session.opened:
        reason = session.abort_reason or "operator interrupt (Ctrl-C)"
        session.event("abort", reason)
        _finish(config, session, aborted=reason)


_CONFIGS: list[pytest.Config] = []  # pytest_keyboard_interrupt gets no config; the active one is kept here


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _CONFIGS:
        _CONFIGS.remove(config)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bench = current_session(session.config)
    if bench is None or not bench.opened:
        return
    if not bench.closed:
        _finish(session.config, bench, aborted=bench.abort_reason)
    _render(session.config, bench)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    state = run_state(terminalreporter.config)
    bench = state.session
    if bench is None or not bench.opened:
        return
    tr = terminalreporter
    tr.section("ESS Bench")
    tr.write_line(f"run {bench.run_id}  DUT {bench.dut}  station {bench.station.name}")
    reason = bench.abort_reason or bench.stop_reason
    verdict = "ABORTED" if bench.abort_reason else str(bench.final_verdict or bench.overall_verdict())
    tr.write_line(f"verdict: {verdict}  status: {bench.status}" + (f"  ({reason})" if reason else ""))
    if state.report:
        tr.write_line(f"report: {state.report}")
    elif state.report_error:
        tr.write_line(f"report not rendered: {state.report_error} (render later with `bench report {bench.run_id}`)")
    if state.fleet_sync:
        tr.write_line(state.fleet_sync)


def pytest_exception_interact(node: Any, call: Any, report: Any) -> None:
    """Bench errors in fixtures (bad station, unreachable instrument) read as one clear line."""
    if call.excinfo is not None and isinstance(call.excinfo.value, BenchError):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
