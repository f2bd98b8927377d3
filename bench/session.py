"""A bench session: one run of one plan on one station against one DUT.

It loads the station and limit sets, picks the clock (virtual when the station is simulated),
starts the simulated instruments if any, opens every driver, opens the run in the journal, and
at the end (normally or not) drives everything to its safe state, closes the run and renders
the report from the journal.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench import __version__
from bench.bindings import Bindings, fixtures_of
from bench.clock import Clock, RealClock, SimClock
from bench.declarations import PlanDeclarations
from bench.errors import BenchError, ConfigError, ConfigErrors
from bench.identifiers import check_name, check_serial
from bench.journal import ABORTED, COMPLETED, STOPPED, Journal
from bench.limits import Limits, load_limit_set, parse_limit_set
from bench.live.controls import RunControls
from bench.prompts import HARDWARE_WAIT_S, JournalChannel, Prompter
from bench.recorder import Recorder
from bench.safety.interlocks import InterlockWatcher, Trip, merge_config
from bench.safety.safe_state import drive_safe_state
from bench.safety.settings import SafetySettings, resolve
from bench.safety.timeouts import ActionTimeout, Interrupter, run_bounded
from bench.station import DEFAULT_SIM_BACKEND, Station, load_station, resolve_driver
from bench.telemetry.config import TelemetrySettings, check_roles, merge_tables, parse_telemetry
from bench.telemetry.series import Telemetry
from bench.tomlfile import read_bytes, read_toml
from bench.units import Q_
from bench.verdict import Verdict


def code_version() -> str:
    """git commit of the checkout (with -dirty), or the package version when not in git."""
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def new_run_id(dut: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in dut)[:32] or "dut"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


class BenchSession:
    def __init__(
        self,
        *,
        station: str | Path,
        limits: list[str | Path],
        dut: str = "",
        operator: str = "",
        report_dir: str | Path = "reports",
        plan: str = "",
        plan_version: str = "",
        answers: str | Path | None = None,
        interactive: bool = True,
        batch_id: str | None = None,
        dut_info: dict[str, Any] | None = None,
        journal: Journal | None = None,
        declarations: PlanDeclarations | None = None,
        resume: str | None = None,
        telemetry: dict[str, Any] | None = None,
        telemetry_source: str = "plan.toml",
    ) -> None:
        """Load and check everything a run needs (station, limit sets against the plan's declarations,
        merged interlocks, identifiers) before anything is opened; every problem is a ConfigError."""
        self.station: Station = load_station(station)
        if not limits:
            raise ConfigError("no limit set given (use --limits FILE or the plan's plan.toml)", key="--limits")
        self.declarations = declarations or PlanDeclarations()
        errors: list[ConfigError] = []
        sets = []
        for p in limits:
            try:
                sets.append(self._load_limit_set(p))
            except ConfigErrors as exc:
                errors += exc.errors
            except ConfigError as exc:
                errors.append(exc)
        if errors:
            raise ConfigErrors(errors)
        self.limits = Limits(sets, self.declarations)
        self.interlock_config = merge_config(
            [(str(self.station.path), self.station.interlocks)]
            + [(str(s.path), s.interlocks) for s in self.limits.sets]
        )
        self.dut_info = {**self.station.dut, **(dut_info or {})}
        self.dut = check_serial(
            dut or str(self.dut_info.get("serial", "")) or "UNKNOWN-DUT",
            source="--dut" if dut else str(self.station.path),
            key=None if dut else "dut.serial",
        )
        self.dut_info["serial"] = self.dut
        self.operator = check_name(operator or os.environ.get("USER", ""), source="--operator")
        if batch_id is not None:
            check_serial(batch_id, "batch id", source="--batch-id")
        self.safety: SafetySettings = resolve(self.station.safety, str(self.station.path))
        self.telemetry_settings = self._telemetry_settings(telemetry, telemetry_source)
        self.capture: Any = None  # bench.telemetry.capture.Capture while high-rate capture runs
        self.report_dir = Path(report_dir)
        self.plan = plan
        self.plan_version = plan_version
        self.batch_id = batch_id
        self.answers_path = answers
        self.interactive = interactive
        self.sim: Any = None
        self.instruments: dict[str, Any] = {}
        self._own_journal = journal is None
        self.journal = journal or Journal(self.report_dir / "journal.sqlite")
        self.resumed = resume is not None
        self.run_id = self._check_resume(resume, dut) if resume is not None else new_run_id(self.dut)
        self.clock: Clock = self._make_clock(self.journal.last_t(self.run_id) if self.resumed else 0.0)
        self.closed = False
        self.opened = False
        self.final_verdict: str | None = None
        self.abort_reason: str | None = None  # cut short by something outside the test (trip, Ctrl-C, crash)
        self.stop_reason: str | None = None  # stopped early because the device failed a required check
        self.interrupter = Interrupter()
        self.interlocks: InterlockWatcher | None = None
        self.bindings = Bindings({})
        self.trip: Trip | None = None
        self._safe_lock = threading.RLock()
        self._in_safe_state = threading.Event()
        self.recorder = Recorder(
            self.journal, self.run_id, self.limits, self.station, self.clock.now_s, role_of=self.role_of
        )
        self.telemetry = Telemetry(self.journal, self.run_id, self.clock, self.recorder)
        self.prompt = Prompter(
            self._answers(),
            interactive=interactive and not self.station.simulated,
            journal_event=self.event,
            source=str(answers or self.station.path),
            channel=JournalChannel(self.journal, self.run_id, lambda: self.recorder.step.nodeid, self.clock.now_s),
            wait_s=0.0 if self.station.simulated else HARDWARE_WAIT_S,
            operator=self.operator,
        )
        self.controls: RunControls | None = None  # abort requests from viewers, live status for them

    # -- set-up --------------------------------------------------------------------------
    def _load_limit_set(self, path: str | Path) -> Any:
        """Read a limit set once; in production verify its signature over those very bytes, then parse them.

        The bytes parsed are the bytes verified and (at open) journalled: a file swapped between two
        reads can never run unsigned.
        """
        if not self.station.production:
            return load_limit_set(path, self.declarations)
        from bench.signing.verify import check_signed_limit_set

        trust = self.station.safety_settings.trust_file
        if not trust:
            raise ConfigError(
                'production mode needs [safety] trust_file = "..." to check limit-set signatures',
                source=str(self.station.path),
                key="safety.trust_file",
            )
        raw = read_bytes(path)
        check_signed_limit_set(Path(path), self.station.path.parent / trust, data=raw)
        return parse_limit_set(raw, path, self.declarations)

    def _telemetry_settings(self, plan: dict[str, Any] | None, source: str) -> TelemetrySettings | None:
        """The station's [telemetry] with the plan's (plan.toml) over it, key by key; checked now."""
        if not plan:
            return self.station.telemetry_settings
        errors: list[ConfigError] = []
        parse_telemetry(plan, source, errors)  # the plan's own table, so problems name its file
        if not errors:
            settings = parse_telemetry(merge_tables(self.station.telemetry, plan), source, errors)
            if settings is not None:
                errors += check_roles(settings, self.station.roles, source)
                if not errors:
                    return settings
        raise ConfigErrors(errors)

    def _make_clock(self, start_s: float) -> Clock:
        if self.station.simulated:
            return SimClock(max_step=Q_(self.station.max_step_s, "s"), start_s=start_s)
        return RealClock(start_s=start_s)

    def _check_resume(self, run_id: str, dut: str) -> str:
        """The interrupted run to continue: same plan, station, limit sets (bytes) and DUT, or a named error."""
        try:
            run = self.journal.run(run_id)
        except KeyError as exc:
            raise ConfigError(str(exc).strip("'\""), key="--resume") from None
        problems = []
        if run["status"] != ABORTED:
            problems.append(
                f"it is {run['status']} ({run.get('verdict') or 'no verdict'}); only an interrupted run "
                "(ABORTED) can be resumed"
            )
        if self.plan and run.get("plan") != self.plan:
            problems.append(f"it ran plan {run.get('plan')!r}, not {self.plan!r}")
        if run.get("station") != self.station.name:
            problems.append(f"it ran on station {run.get('station')!r}, not {self.station.name!r}")
        had = sorted((s["id"], s["sha256"]) for s in run.get("limits") or [])
        now = sorted((s.id, s.sha256) for s in self.limits.sets)
        if had != now:
            problems.append(f"its limit sets were {had}, now {now} (a changed limit set needs a new run)")
        if dut and dut != run.get("dut_serial"):
            problems.append(f"its DUT is {run.get('dut_serial')!r}, not {dut!r}")
        if problems:
            raise ConfigError(f"cannot resume run {run['run_id']}: " + "; ".join(problems), key="--resume")
        self.dut = str(run.get("dut_serial"))
        self.dut_info = dict(run.get("dut") or self.dut_info)
        return str(run["run_id"])

    def _answers(self) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        if self.station.simulated:
            answers.update(self.station.simulation.get("prompts", {}))
        if self.answers_path:
            data, _ = read_toml(self.answers_path)
            answers.update(data.get("answers", data))
        return answers

    def open(self) -> BenchSession:
        if self.resumed:
            n = self.journal.resume_run(self.run_id, operator=self.operator, code_version=code_version())
            done = sorted(self.journal.completed_steps(self.run_id))
            self.opened = True
            self.event(
                "resume",
                f"run resumed in session {n} by {self.operator or 'unknown operator'}; "
                f"{len(done)} completed step(s) kept",
                {"session": n, "kept_steps": done},
            )
            return self._open_instruments()
        self.journal.start_run(
            self.run_id,
            plan=self.plan,
            plan_version=self.plan_version,
            station=self.station.name,
            station_json=self.station.summary(),
            dut_serial=self.dut,
            dut_json=self.dut_info,
            operator=self.operator,
            limits_json=self.limits.summaries(),
            code_version=code_version(),
            site=self.station.site,
            mode=self.station.mode,
            simulated=int(self.station.simulated),
            batch_id=self.batch_id,
        )
        self.opened = True
        for s in self.limits.sets:
            self.journal.add_attachment(self.run_id, s.path.name, s.raw, kind="limit-set")
        return self._open_instruments()

    def _open_instruments(self) -> BenchSession:
        for fallback in self.safety.fallbacks:
            self.event("safety_fallback", fallback, {"settings": self.safety.describe()})
        try:
            resources = {name: r.resource for name, r in self.station.roles.items()}
            if self.station.simulated:
                backend = resolve_driver(self.station.simulation.get("backend", DEFAULT_SIM_BACKEND))
                self.sim = backend(self.station, self.clock, dut=self.dut_info)
                resources.update(self.sim.start())
                self.event("simulation", f"simulated station started: {self.sim.describe()}", {"resources": resources})
            for name, cfg in self.station.roles.items():
                cls = resolve_driver(cfg.driver)
                try:
                    # options.sim is the simulator's table (instruments/sim/*), never the driver's
                    options = {k: v for k, v in cfg.options.items() if k != "sim"}
                    inst = cls(resources[name], name=name, timeout=cfg.timeout, **options)
                except BenchError:
                    raise
                except Exception as exc:
                    raise ConfigError(
                        f"cannot open {cfg.driver} at {resources[name]!r}: {type(exc).__name__}: {exc}",
                        source=str(self.station.path),
                        key=f"roles.{name}",
                    ) from exc
                self.instruments[name] = inst
                ident = getattr(inst, "identity", None)
                idn = ident() if callable(ident) else ""
                self.event(
                    "instrument",
                    f"{name}: opened {cfg.driver} at {resources[name]} ({idn})",
                    {"role": name, "idn": str(idn)},
                )
                if self.station.simulated and hasattr(inst, "attach_clock"):
                    inst.attach_clock(self.clock)  # driver waits advance virtual time
                if hasattr(inst, "attach_journal"):
                    inst.attach_journal(self.event)  # retries, fall-backs, re-connections go to the journal
                if hasattr(inst, "attach_prompt"):
                    inst.attach_prompt(self.prompt)  # drivers that ask the operator (OperatorStimulus)
            self.bindings = Bindings(self.instruments)
            self.event("bindings", "fixtures bound by capability", {"fixtures": self.bindings.describe()})
            self._start_interlocks()
            self.controls = RunControls(
                self.journal, self.run_id, self.clock, abort=self.request_abort, event=self.event
            ).start()
            self.prompt.on_wait = self.controls.poll
            self._start_capture()
        except BaseException as exc:
            self.close(aborted=f"set-up failed: {type(exc).__name__}: {exc}")
            raise
        return self

    def _start_interlocks(self) -> None:
        """Watch the station's and the limit sets' interlocks from now until the session closes."""
        cfg = self.interlock_config
        if not cfg.interlocks or not cfg.enabled:
            self.event(
                "interlock",
                "no interlocks declared" if cfg.enabled else "interlocks disabled by config",
                {"armed": False},
            )
            return
        self.interlocks = InterlockWatcher(
            cfg,
            self.bindings,
            self.clock,
            on_trip=self._on_trip,
            interrupter=self.interrupter,
            on_sample=self._on_interlock_sample,
        )
        self.interlocks.start()
        self.event(
            "interlock",
            f"armed {len(cfg.interlocks)} interlock(s), every {cfg.period_s:g} s, "
            f"sources {', '.join(self.interlocks.sources) or 'none'}",
            {
                "armed": True,
                "period_s": cfg.period_s,
                "link_timeout_s": cfg.link_timeout_s,
                "interlocks": [il.describe() for il in cfg.interlocks.values()],
                "sources": self.interlocks.sources,
            },
        )

    def _on_trip(self, trip: Trip) -> None:
        """Journal the trip with its values, mark the run ABORTED, drive the safe state. Never raises.

        A trip while the safe state is already being driven is journalled and merged into it: the
        sequence in progress completes in order, nothing is raised into it."""
        reason = f"interlock {trip.name} tripped: {trip.message}"
        merged = self._in_safe_state.is_set()
        self.trip = self.trip or trip
        try:
            self.event(
                "interlock",
                reason + (" (during the safe state: merged into it)" if merged else ""),
                {"tripped": True, "merged": merged, **trip.data()},
            )
        except Exception:  # noqa: BLE001 - the safe state matters more than the journal line
            pass
        if merged:  # the run is already being made safe for another cause; that cause stays the reason
            return
        self.abort_reason = self.abort_reason or reason
        try:
            self.safe_state(reason)
        except Exception as exc:  # noqa: BLE001
            try:
                self.event("safe_state_failed", f"safe state after interlock trip failed: {exc}")
            except Exception:  # noqa: BLE001
                pass

    def _on_interlock_sample(self, readings: dict[str, Any]) -> None:
        """Each interlock sample's margins to the live status viewers read (throttled there)."""
        if self.controls is None or self.interlocks is None:
            return
        watcher = self.interlocks
        try:
            self.controls.publish_interlocks(lambda: watcher.margins(readings))
        except Exception as exc:  # noqa: BLE001 - a viewer's status must never stop the watch or the plan
            if not getattr(self, "_live_failed", False):
                self._live_failed = True
                self.event("live_status_failed", f"interlock margins not published for viewers: {exc}")

    def request_abort(self, reason: str, request: dict[str, Any]) -> None:
        """An abort asked by a viewer (`bench ui`): journalled with who asked, then the Ctrl-C path
        (KeyboardInterrupt in the plan thread: safe state, ABORTED, report)."""
        if self.closed or self.abort_reason:
            return
        self.abort_reason = reason
        self.event("abort_request", reason, {"request": request, "honoured": True})
        if not self.interrupter.interrupt(KeyboardInterrupt(reason)):
            import _thread

            _thread.interrupt_main()

    def _start_capture(self) -> None:
        """High-rate capture ([telemetry]) from now until the safe state is reached at the end."""
        settings = self.telemetry_settings
        if settings is None or not settings.enabled:
            return
        from bench.telemetry.capture import Capture  # Arrow/Parquet loaded only by runs that capture

        self.capture = Capture(
            settings,
            journal=self.journal,
            run_id=self.run_id,
            run_dir=self.run_dir,
            clock=self.clock,
            instruments=self.instruments,
            sim_servers=getattr(self.sim, "servers", None),
            event=self.event,
        ).start()
        self.telemetry.capture = self.capture

    @property
    def run_dir(self) -> Path:
        """The run's report folder; captured telemetry is written into its attachments/telemetry/."""
        return self.report_dir / self.run_id

    def capture_step(self, nodeid: str | None) -> None:
        """A step starts (nodeid) or ends (None): captured data from now on goes to that step's files."""
        if self.capture is not None:
            self.capture.set_step(nodeid)

    # -- during the run ------------------------------------------------------------------
    def earlier(self, name: str) -> list[tuple[Any, str]]:
        """(quantity, note) of each standing result of `name` in this run, oldest first; NaN where not finite."""
        return [
            (Q_(float("nan") if m["value"] is None else m["value"], m["unit"] or ""), m.get("note") or "")
            for m in self.results(name)
        ]

    def attach(self, name: str, content: bytes, kind: str) -> None:
        """Journal an attachment (a plot, a table, a passport) for the step in progress."""
        self.journal.add_attachment(self.run_id, name, content, kind=kind, step=self.recorder.step.nodeid)

    def role_of(self, obj: Any) -> str | None:
        for name, inst in self.instruments.items():
            if inst is obj:
                return name
        return None

    def event(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        self.journal.add_event(
            self.run_id, kind, message, step=self.recorder.step.nodeid, data=data, t=self.clock.now_s()
        )

    def safe_state(self, cause: str) -> list[Any]:
        """Drive every instrument to its safe state, in order, with the settings parsed at load time.

        Nothing is parsed here, so no configuration value can stop it; interlock trips and
        watchdog interrupts arriving meanwhile are journalled and merged, never raised into it."""
        cfg = self.safety
        allow_bms = cfg.bms_contactor_open_on_abort

        def allowed(role: str) -> bool:
            return allow_bms or "bms" not in fixtures_of(self.instruments[role])

        with self._safe_lock:
            nested = self._in_safe_state.is_set()
            self._in_safe_state.set()
            try:
                with self.interrupter.hold() as held:
                    results = drive_safe_state(
                        self.instruments,
                        cause=cause,
                        allowed=allowed,
                        journal_event=lambda kind, msg, data: self.event(kind, msg, data),
                        retries=cfg.safe_state_retries,
                        retry_delay_s=cfg.safe_state_retry_delay_s,
                        action_timeout_s=cfg.safe_state_action_timeout_s,
                    )
                for exc in held:
                    self.event(
                        "safe_state",
                        f"interrupt during the safe state merged, not raised: {exc}",
                        {"merged": type(exc).__name__},
                    )
                return results
            finally:
                if not nested:
                    self._in_safe_state.clear()

    def overall_verdict(self) -> Verdict:
        """Worst of every journalled verdict of this run (all sessions; results of an interrupted step
        attempt that was rerun do not count): the journal is the record, not memory."""
        return Verdict.combine([Verdict(m["verdict"]) for m in self.results()])

    def results(self, name: str | None = None) -> list[dict[str, Any]]:
        """Journalled measurements of this run that stand (not superseded), optionally of one name.

        A resumed plan rebuilds what earlier sessions measured from here, never from memory."""
        return [
            m
            for m in self.journal.measurements(self.run_id)
            if not m["superseded"] and (name is None or m["name"] == name)
        ]

    # -- tear-down -----------------------------------------------------------------------
    def close(self, aborted: str | None = None) -> str:
        """Safe state, close drivers and simulator, close the run. Returns the final status:
        COMPLETED, STOPPED (a required check failed: verdict FAIL) or ABORTED (cut short from outside)."""
        if self.closed:
            return self.status
        self.closed = True
        budget = self.safety.teardown_timeout_s
        deadline = time.monotonic() + budget
        reason = aborted or self.abort_reason
        self.abort_reason = reason
        try:
            if self.controls is not None:
                self.controls.stop()
            if self.interlocks is not None:
                self.interlocks.stop()
                if self.interlocks.trip is not None:
                    self.interlocks.done.wait(budget)
            if self.instruments:
                self.safe_state(reason or self.stop_reason or "end of run")
        finally:
            if self.capture is not None:  # after the safe state (captured), before the drivers close
                self._bounded_teardown("telemetry capture stop", self.capture.stop, deadline, "telemetry")
            for name, inst in self.instruments.items():
                self._bounded_teardown(f"{name}: close", inst.close, deadline, "instrument")
            if self.sim is not None:
                self._bounded_teardown("simulator stop", self.sim.stop, deadline, "simulation")
            status = self.status
            verdict = "ABORTED" if status == ABORTED else str(self.overall_verdict())
            if status == STOPPED and verdict == str(Verdict.PASS):
                verdict = str(Verdict.FAIL)  # a stop without a failed measurement journalled is still a stop
            self.final_verdict = verdict
            self.journal.end_run(self.run_id, status, verdict, reason or self.stop_reason or "")
            if isinstance(self.clock, RealClock):
                self.clock.shutdown()
        return status

    @property
    def status(self) -> str:
        return ABORTED if self.abort_reason else STOPPED if self.stop_reason else COMPLETED

    def _bounded_teardown(self, what: str, fn: Any, deadline: float, kind: str) -> None:
        """Close one thing within what is left of the teardown budget; a hang is reported, not waited out."""
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise ActionTimeout(f"teardown budget of {self.safety.teardown_timeout_s:g} s used up")
            run_bounded(fn, remaining, what)
        except ActionTimeout as exc:
            self.event("teardown_timeout", f"{what}: abandoned: {exc}", {"what": what})
        except Exception as exc:
            self.event(kind, f"{what} failed: {exc}")

    def elapsed(self) -> Any:
        return Q_(self.clock.now_s(), "s")
