"""pytest plugin part of the operator view: the plan's step list for viewers, the terminal view,
and how long an unprepared prompt waits.

Registered as its own pytest11 entry point (beside bench.plugin), so every run, however started,
journals its planned steps with their expected durations (the `plan` event) for any viewer.
`bench run` turns the terminal view on (`--live auto`): a rich panel on a terminal, plain lines
elsewhere. The view polls the journal from a thread; it writes to the terminal pytest had before it
started capturing output (a duplicate of the original stdout), and hands the prompt the original
stdin, so a prompt can be answered at the terminal while steps run under capture.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, TextIO

import pytest

from bench.live.estimate import learned_durations, plan_steps
from bench.live.view import PLAN_EVENT, RunView

REFRESH_S = 0.25
_STATE = pytest.StashKey["LiveState"]()


@dataclass
class LiveState:
    mode: str = "off"  # off | tty | plain
    items: list[tuple[str, str, list[str]]] = field(default_factory=list)
    journalled: bool = False
    out: TextIO | None = None
    inp: TextIO | None = None
    display: Any = None


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ess-bench-live", "ESS Bench operator view")
    g.addoption(
        "--live",
        default="off",
        choices=("auto", "tty", "plain", "off"),
        help="terminal view of the run: a live panel on a terminal, plain lines otherwise (auto); "
        "default off (bench run sets auto)",
    )
    g.addoption(
        "--prompt-wait",
        default=None,
        metavar="DURATION",
        help="how long a prompt without a prepared answer waits for the terminal or bench ui, e.g. "
        '"30 min" (default: not at all in simulation, 12 h on hardware)',
    )


def _state(config: pytest.Config) -> LiveState:
    if _STATE not in config.stash:
        config.stash[_STATE] = LiveState()
    return config.stash[_STATE]


_TERMINAL_IN: int | None = None  # a duplicate of the operator's stdin, taken before pytest captures it


def hand_over_terminal() -> None:
    """Called by `bench run` before pytest starts: keep the operator's stdin (pytest points fd 0 at
    /dev/null for as long as it captures, which is the whole run), so a prompt can read the terminal."""
    global _TERMINAL_IN
    try:
        if _TERMINAL_IN is None and sys.stdin is not None and sys.stdin.isatty():
            _TERMINAL_IN = os.dup(sys.stdin.fileno())
    except (OSError, ValueError):
        _TERMINAL_IN = None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Keep the real terminal output (output capture is suspended between phases, so fd 1 is the real one
    here) and the stdin `bench run` handed over."""
    global _TERMINAL_IN
    st = _state(config)
    mode = config.getoption("--live", "off")
    if mode == "off":
        return
    try:
        out = open(os.dup(sys.__stdout__.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    except (AttributeError, OSError, ValueError):
        return
    tty = out.isatty()
    st.mode = ("tty" if tty else "plain") if mode == "auto" else mode
    st.out = out
    if _TERMINAL_IN is not None:
        st.inp = open(_TERMINAL_IN, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed at unconfigure
        _TERMINAL_IN = None


def _session(config: pytest.Config) -> Any:
    from bench.plugin import current_session

    return current_session(config)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    st = _state(config)
    st.items = [
        (i.nodeid, i.name, [str(m.args[0]) for m in i.iter_markers("clause") if m.args])
        for i in session.items
        if "bench_session" in getattr(i, "fixturenames", ())
    ]
    bench = _session(config)
    if bench is None:
        return
    wait = config.getoption("--prompt-wait", None)
    if wait is not None:
        from bench.errors import ConfigError
        from bench.safety.timeouts import parse_duration

        try:
            seconds = parse_duration(wait, source="--prompt-wait")
        except ConfigError:
            raise
        except Exception as exc:
            raise pytest.UsageError(f'--prompt-wait {wait!r}: expected a duration such as "30 min" ({exc})') from None
        if not 0 <= seconds <= 7 * 86400:
            raise pytest.UsageError(f"--prompt-wait {wait!r}: expected 0 s .. 7 d")
        bench.prompt.wait_s = seconds
    if st.inp is not None:
        bench.prompt.terminal_in = st.inp
        bench.prompt.terminal_out = st.out
        if wait is not None:  # asked to wait for an operator: the terminal is one, in simulation too
            bench.prompt.interactive = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    yield
    st = _state(item.config)
    bench = _session(item.config)
    if st.journalled or bench is None or not bench.opened or bench.closed:
        return
    st.journalled = True
    declared = {name: spec.expected_s for name, spec in bench.declarations.steps.items()}
    try:
        learned = learned_durations(bench.journal, bench.plan, exclude_run=bench.run_id)
    except Exception:  # noqa: BLE001 - an estimate is never worth stopping a run for
        learned = {}
    steps = plan_steps(st.items, declared, learned)
    known = [s["expected_s"] for s in steps if s["expected_s"] is not None]
    bench.event(
        PLAN_EVENT,
        f"{len(steps)} step(s) planned; expected run time "
        f"{_fmt(sum(known))} for {len(known)} of them (declared in plan.toml or learned from "
        "earlier runs)",
        {"steps": steps},
    )
    if st.mode != "off" and st.out is not None and st.display is None:
        st.display = LiveDisplay(bench, st)
        st.display.start()


def _fmt(seconds: float) -> str:
    from bench.live.estimate import fmt_duration

    return fmt_duration(seconds)


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """With the terminal view on, pytest's progress letters would break its lines: print none."""
    if _state(config).display is None or hasattr(report, "wasxfail"):
        return None
    outcome = report.outcome
    if report.when in ("collect", "setup", "teardown") and outcome == "failed":
        outcome = "error"
    if report.when != "call" and outcome == "passed":
        return "", "", ""
    return outcome, "", outcome.upper()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After the bench closed the run (bench.plugin's sessionfinish): last update, the end banner."""
    st = _state(session.config)
    if st.display is not None:
        st.display.stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    st = _state(config)
    if st.display is not None:
        st.display.stop()
    if st.inp is not None:
        from bench.prompts import release_terminal

        release_terminal(st.inp)
    for f in (st.out, st.inp):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
    st.out = st.inp = None


class LiveDisplay:
    """Polls a RunView of the session's run and draws it (rich panel or plain lines)."""

    def __init__(self, bench: Any, st: LiveState) -> None:
        from bench.journal import Journal

        self.st = st
        self.journal = Journal(bench.journal.path)  # its own connection: reads never wait on the plan's lock
        self.view = RunView(self.journal, bench.run_id)
        self.out = st.out
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="live-view", daemon=True)
        self.live: Any = None
        self.lines: Any = None
        if st.mode == "tty":
            from rich.live import Live

            from bench.live.terminal import console_for

            self.live = Live(
                console=console_for(self.out),
                auto_refresh=False,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
        else:
            from bench.live.terminal import PlainLines

            self.lines = PlainLines(self.out)
        bench.prompt.listeners.append(self._on_prompt)
        self._stopped = False

    def start(self) -> None:
        if self.live is not None:
            self.live.start()
        self._thread.start()

    def _on_prompt(self, what: str, request: dict[str, Any]) -> None:
        """The prompt is about to ask at the terminal: stop drawing over it; draw again once answered."""
        if self.live is None:
            return
        with self._lock:
            if what == "open":
                self._draw()
                self._paused.set()
                self.live.stop()
            else:
                self._paused.clear()
                self.live.start()

    def _draw(self) -> None:
        changes = self.view.refresh()
        if self.live is not None:
            from bench.live.terminal import render

            if not self._paused.is_set():
                self.live.update(render(self.view), refresh=True)
        else:
            self.lines.update(self.view, changes)

    def _run(self) -> None:
        while not self._stop.wait(REFRESH_S):
            with self._lock:
                try:
                    self._draw()
                except Exception:  # noqa: BLE001 - the view must never take the run down
                    pass

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            try:
                self._paused.clear()
                self._draw()
            except Exception:  # noqa: BLE001
                pass
            if self.live is not None:
                self.live.stop()
        self.journal.close()
