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
from bench.clock import Clock, RealClock, SimClock
from bench.errors import BenchError, ConfigError
from bench.journal import ABORTED, COMPLETED, Journal
from bench.limits import Limits, load_limit_set
from bench.prompts import Prompter
from bench.recorder import Recorder
from bench.safety.interlocks import InterlockWatcher, Trip, merge_config
from bench.safety.safe_state import drive_safe_state
from bench.safety.timeouts import ActionTimeout, Interrupter, parse_duration, run_bounded
from bench.station import Station, load_station, resolve_driver
from bench.telemetry import Telemetry
from bench.tomlfile import read_toml
from bench.units import Q_, parse_quantity
from bench.verdict import Verdict

DEFAULT_SIM_BACKEND = "instruments.sim.station:SimulatedStation"
# [safety] keys of the station file and their defaults (durations as text, like the file).
SAFETY_DEFAULTS: dict[str, Any] = {
    "safe_state_retries": 3, "safe_state_retry_delay": "0.2 s", "safe_state_action_timeout": "10 s",
    "teardown_timeout": "60 s", "step_timeout": None, "step_wall_timeout": None,
}


def code_version() -> str:
    """git commit of the checkout (with -dirty), or the package version when not in git."""
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=here,
                             capture_output=True, text=True, timeout=5)
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
    def __init__(self, *, station: str | Path, limits: list[str | Path], dut: str = "", operator: str = "",
                 report_dir: str | Path = "reports", plan: str = "", plan_version: str = "",
                 answers: str | Path | None = None, interactive: bool = True, batch_id: str | None = None,
                 dut_info: dict[str, Any] | None = None, journal: Journal | None = None) -> None:
        self.station: Station = load_station(station)
        if not limits:
            raise ConfigError("no limit set given (use --limits FILE or the plan's plan.toml)", key="--limits")
        if self.station.production:
            self.limits = Limits([self._load_signed_limit_set(p) for p in limits])
        else:
            self.limits = Limits([load_limit_set(p) for p in limits])
        self.dut_info = {**self.station.dut, **(dut_info or {})}
        self.dut = dut or str(self.dut_info.get("serial", "")) or "UNKNOWN-DUT"
        self.dut_info["serial"] = self.dut
        self.operator = operator or os.environ.get("USER", "")
        self.report_dir = Path(report_dir)
        self.plan = plan
        self.plan_version = plan_version
        self.batch_id = batch_id
        self.answers_path = answers
        self.interactive = interactive
        self.clock: Clock = self._make_clock()
        self.sim: Any = None
        self.instruments: dict[str, Any] = {}
        self.run_id = new_run_id(self.dut)
        self._own_journal = journal is None
        self.journal = journal or Journal(self.report_dir / "journal.sqlite")
        self.closed = False
        self.abort_reason: str | None = None
        self.interrupter = Interrupter()
        self.interlocks: InterlockWatcher | None = None
        self.trip: Trip | None = None
        self._safe_lock = threading.RLock()
        self.recorder = Recorder(self.journal, self.run_id, self.limits, self.station, self.clock.now_s,
                                 role_of=self.role_of)
        self.telemetry = Telemetry(self.journal, self.run_id, self.clock, self.recorder)
        self.prompt = Prompter(self._answers(), interactive=interactive and not self.station.simulated,
                               journal_event=self.event, source=str(answers or self.station.path))

    # -- set-up --------------------------------------------------------------------------
    def _load_signed_limit_set(self, path: str | Path) -> Any:
        """Production: read the file once; verify, parse and (at open) journal those same bytes."""
        from bench.signing.verify import check_signed_limit_set
        trust = self.station.safety.get("trust_file")
        if not trust:
            raise ConfigError("production mode needs [safety] trust_file = \"...\" to check limit-set signatures",
                              source=str(self.station.path), key="safety.trust_file")
        _, raw = read_toml(path)
        check_signed_limit_set(Path(path), self.station.path.parent / trust, data=raw)
        return load_limit_set(path, raw=raw)

    def _make_clock(self) -> Clock:
        if self.station.simulated:
            step = self.station.simulation.get("max_step", "1 s")
            return SimClock(max_step=parse_quantity(step, source=str(self.station.path), key="simulation.max_step",
                                                    dimension="time"))
        return RealClock()

    def _answers(self) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        if self.station.simulated:
            answers.update(self.station.simulation.get("prompts", {}))
        if self.answers_path:
            data, _ = read_toml(self.answers_path)
            answers.update(data.get("answers", data))
        return answers

    def open(self) -> BenchSession:
        self.journal.start_run(
            self.run_id, plan=self.plan, plan_version=self.plan_version, station=self.station.name,
            station_json=self.station.summary(), dut_serial=self.dut, dut_json=self.dut_info,
            operator=self.operator, limits_json=self.limits.summaries(), code_version=code_version(),
            site=self.station.site, mode=self.station.mode, simulated=int(self.station.simulated),
            batch_id=self.batch_id,
        )
        for s in self.limits.sets:
            self.journal.add_attachment(self.run_id, s.path.name, s.raw, kind="limit-set")
        try:
            resources = {name: r.resource for name, r in self.station.roles.items()}
            if self.station.simulated:
                backend = resolve_driver(self.station.simulation.get("backend", DEFAULT_SIM_BACKEND))
                self.sim = backend(self.station, self.clock, dut=self.dut_info)
                resources.update(self.sim.start())
                self.event("simulation", f"simulated station started: {self.sim.describe()}",
                           {"resources": resources})
            for name, cfg in self.station.roles.items():
                cls = resolve_driver(cfg.driver)
                try:
                    inst = cls(resources[name], name=name, timeout=cfg.timeout, **cfg.options)
                except BenchError:
                    raise
                except Exception as exc:
                    raise ConfigError(f"cannot open {cfg.driver} at {resources[name]!r}: {type(exc).__name__}: {exc}",
                                      source=str(self.station.path), key=f"roles.{name}") from exc
                self.instruments[name] = inst
                ident = getattr(inst, "identity", None)
                idn = ident() if callable(ident) else ""
                self.event("instrument", f"{name}: opened {cfg.driver} at {resources[name]} ({idn})",
                           {"role": name, "idn": str(idn)})
                if self.station.simulated and hasattr(inst, "attach_clock"):
                    inst.attach_clock(self.clock)  # driver waits advance virtual time
            self._start_interlocks()
        except BaseException as exc:
            self.close(aborted=f"set-up failed: {type(exc).__name__}: {exc}")
            raise
        return self

    def setting(self, key: str) -> Any:
        """A `[safety]` value of the station, or its default."""
        return self.station.safety.get(key, SAFETY_DEFAULTS.get(key))

    def duration(self, key: str) -> float | None:
        value = self.setting(key)
        if value is None:
            return None
        return parse_duration(value, source=str(self.station.path), key=f"safety.{key}")

    def _start_interlocks(self) -> None:
        """Watch the station's and the limit sets' interlocks from now until the session closes."""
        tables = [(str(self.station.path), self.station.interlocks)]
        tables += [(str(s.path), s.interlocks) for s in self.limits.sets]
        cfg = merge_config(tables)
        if not cfg.interlocks or not cfg.enabled:
            self.event("interlock", "no interlocks declared" if cfg.enabled else "interlocks disabled by config",
                       {"armed": False})
            return
        self.interlocks = InterlockWatcher(cfg, self.instruments, self.clock, on_trip=self._on_trip,
                                           interrupter=self.interrupter)
        self.interlocks.start()
        self.event("interlock", f"armed {len(cfg.interlocks)} interlock(s), every {cfg.period_s:g} s, "
                                f"sources {', '.join(self.interlocks.sources) or 'none'}",
                   {"armed": True, "period_s": cfg.period_s, "link_timeout_s": cfg.link_timeout_s,
                    "interlocks": [il.describe() for il in cfg.interlocks.values()],
                    "sources": self.interlocks.sources})

    def _on_trip(self, trip: Trip) -> None:
        """Journal the trip with its values, mark the run ABORTED, drive the safe state. Never raises."""
        self.trip = trip
        reason = f"interlock {trip.name} tripped: {trip.message}"
        try:
            self.event("interlock", reason, {"tripped": True, **trip.data()})
        except Exception:  # the safe state matters more than the journal line
            pass
        self.abort_reason = self.abort_reason or reason
        try:
            self.safe_state(reason)
        except Exception as exc:
            try:
                self.event("safe_state_failed", f"safe state after interlock trip failed: {exc}")
            except Exception:
                pass

    # -- during the run ------------------------------------------------------------------
    def role_of(self, obj: Any) -> str | None:
        for name, inst in self.instruments.items():
            if inst is obj:
                return name
        return None

    def event(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        self.journal.add_event(self.run_id, kind, message, step=self.recorder.step.nodeid, data=data,
                               t=self.clock.now_s())

    def safe_state(self, cause: str) -> list[Any]:
        allow_bms = bool(self.station.safety.get("bms_contactor_open_on_abort", True))

        def allowed(role: str) -> bool:
            return allow_bms or not role.startswith("bms")

        with self._safe_lock:
            return drive_safe_state(
                self.instruments, cause=cause, allowed=allowed,
                journal_event=lambda kind, msg, data: self.event(kind, msg, data),
                retries=max(1, int(self.setting("safe_state_retries"))),
                retry_delay_s=self.duration("safe_state_retry_delay") or 0.0,
                action_timeout_s=self.duration("safe_state_action_timeout"))

    def overall_verdict(self) -> Verdict:
        return Verdict.combine([m.verdict for m in self.recorder.all])

    # -- tear-down -----------------------------------------------------------------------
    def close(self, aborted: str | None = None) -> str:
        """Safe state, close drivers and simulator, close the run. Returns the final status."""
        if self.closed:
            return ABORTED if self.abort_reason else COMPLETED
        self.closed = True
        if self.interlocks is not None:
            self.interlocks.stop()
            if self.interlocks.trip is not None:
                self.interlocks.done.wait(self.duration("teardown_timeout") or 60.0)
        reason = aborted or self.abort_reason
        self.abort_reason = reason
        budget = self.duration("teardown_timeout") or 60.0
        deadline = time.monotonic() + budget
        try:
            if self.instruments:
                self.safe_state(reason or "end of run")
        finally:
            for name, inst in self.instruments.items():
                self._bounded_teardown(f"{name}: close", inst.close, deadline, "instrument")
            if self.sim is not None:
                self._bounded_teardown("simulator stop", self.sim.stop, deadline, "simulation")
            status = ABORTED if reason else COMPLETED
            verdict = "ABORTED" if reason else str(self.overall_verdict())
            self.journal.end_run(self.run_id, status, verdict, reason or "")
            if isinstance(self.clock, RealClock):
                self.clock.shutdown()
        return status

    def _bounded_teardown(self, what: str, fn: Any, deadline: float, kind: str) -> None:
        """Close one thing within what is left of the teardown budget; a hang is reported, not waited out."""
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise ActionTimeout(f"teardown budget of {self.duration('teardown_timeout'):g} s used up")
            run_bounded(fn, remaining, what)
        except ActionTimeout as exc:
            self.event("teardown_timeout", f"{what}: abandoned: {exc}", {"what": what})
        except Exception as exc:
            self.event(kind, f"{what} failed: {exc}")

    def elapsed(self) -> Any:
        return Q_(self.clock.now_s(), "s")
