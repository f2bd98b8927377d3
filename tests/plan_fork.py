"""Whole-plan runs and `bench` commands for the tests, each in its own process forked from a server that has
imported the bench.

The suite runs about a hundred whole plans in processes of their own (interruption points, safety-chain
cases, site acceptance runs), because a plan run must be a real process: real signals, its own exit code and output. A fresh
`python -m pytest` pays about 1.2 s of CPU before the plan's first step (pytest, pint, pymodbus, cantools
and the bench imported, the DBC parsed). Here one server per test worker pays that once
(`python tests/plan_fork.py`, started on first use) and forks a child per run. The child is a real
process: it resets its signal handlers to the defaults a fresh interpreter has, takes the working folder,
environment and `sys.path` head (working folder, then PYTHONPATH) a `python -m pytest` started there would
have, writes its own stdout/stderr files, runs `pytest.main(args)` (exactly what `bench run` does) or
`bench.cli.main(args)` (what `python -m bench` does) and leaves through the normal interpreter exit
(non-daemon threads joined, atexit run; a SystemExit from the entry point, argparse's exit 2 say, ends it
as it would end a fresh interpreter).

The one visible difference: pytest cannot assertion-rewrite the `bench` and `instruments` packages (already
imported), and would warn about it; the pytest child passes `-W ignore::pytest.PytestAssertRewriteWarning`.
(`bench run` passes it itself: in `python -m bench` they are imported before pytest starts too.)

`run(args, cwd=, env=, timeout=)` (`python -m pytest ARGS`) and `run_bench(...)` (`python -m bench ARGS`)
are drop-ins for `subprocess.run(capture_output=True, text=True)`: they return a CompletedProcess and raise
subprocess.TimeoutExpired after killing the child.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOG = os.environ.get("PLAN_FORK_LOG", "")
NO_REWRITE_WARNING = ("-W", "ignore::pytest.PytestAssertRewriteWarning")


# -- the server (runs as `python tests/plan_fork.py`) -----------------------------------------------
def _preload() -> None:
    """Import what plan runs import, and build what every run builds the same way, before forking.

    Measured in a forked child before this list grew: 384 modules were still imported per run (every
    driver and its simulator, pymodbus' server with aiohttp, pyvisa-py, jsonschema, the pytest11
    plugins), the report templates compiled and the record schema checked, about 1 s of a smoke run's
    2 s of fixed CPU. What the server builds here is built the same way in a fresh process; only its
    cost is paid once.
    """
    import gc
    import importlib
    import pkgutil
    from importlib.metadata import entry_points

    import _pytest.python  # noqa: F401
    import pytest  # noqa: F401

    import bench.live.pytest_live  # noqa: F401
    import bench.plugin  # noqa: F401
    import bench.report.render
    import bench.session  # noqa: F401
    import instruments
    import instruments.sim.station  # noqa: F401
    from bench.report.record import _validator
    from instruments.foxbms_protocol import load_dbc

    for ep in entry_points(group="pytest11"):  # what pytest loads at start-up in every run
        ep.load()
    for mod in pkgutil.walk_packages(instruments.__path__, "instruments."):  # every driver and simulator
        importlib.import_module(mod.name)
    modules = ("jsonschema", "pyvisa_py", "pymodbus.client", "pymodbus.server", "can.interfaces.virtual")
    for name in (*modules, "pdb", "unittest", "faulthandler", "readline"):  # the last four: pytest's own
        importlib.import_module(name)
    load_dbc()
    _validator()
    for template in bench.report.render._env.list_templates(extensions=["j2"]):
        bench.report.render._env.get_template(template)
    gc.collect()
    gc.freeze()  # the preloaded objects move to the permanent generation: children's collections skip them


def _child(req: dict[str, Any]) -> Any:
    """In the forked child: become the process `python -m ENTRY ARGS` started in req['cwd'] would be
    (ENTRY: req['entry'], pytest or bench); returns what that process passes to sys.exit."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the handlers a fresh interpreter starts with
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.path[:0] = [req["cwd"]] + [p for p in req["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.dont_write_bytecode = bool(req["env"].get("PYTHONDONTWRITEBYTECODE"))  # read at start-up, from its env
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, path in ((1, req["out"]), (2, req["err"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    if req["entry"] == "bench":
        import bench.cli

        sys.argv = [str(Path(bench.cli.__file__).with_name("__main__.py")), *req["args"]]
        return bench.cli.main(req["args"])  # bench/__main__.py: sys.exit(main()); a SystemExit propagates
    import pytest

    sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *req["args"]]
    return int(pytest.main([*NO_REWRITE_WARNING, *req["args"]]))


def serve() -> Any:
    """Read one JSON request per line on stdin, fork a child for each, report {"pid"} at once and
    {"pid", "code", "cpu_s"} when it ends (code < 0: killed by that signal). Ends when stdin closes."""
    _preload()
    if threading.active_count() != 1:  # forking a process with threads would copy their locks mid-use
        raise RuntimeError(f"plan fork server has {threading.active_count()} threads after preloading")
    out = sys.stdout
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    children: set[int] = set()
    pending = b""
    stdin_open = True
    while stdin_open or children:
        if stdin_open and sel.select(timeout=0.02):
            chunk = os.read(0, 65536)  # unbuffered: every complete line read is handled now
            stdin_open = bool(chunk)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    return _child(req)
                children.add(pid)
                out.write(json.dumps({"ref": req["ref"], "pid": pid}) + "\n")
                out.flush()
        elif not stdin_open:
            time.sleep(0.02)
        for pid in list(children):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                cpu = usage.ru_utime + usage.ru_stime
                out.write(json.dumps({"pid": pid, "code": code, "cpu_s": cpu}) + "\n")
                out.flush()
    return 0


# -- the client (in the test worker) -------------------------------------------------------------
class _Server:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.pids: dict[int, int] = {}  # ref -> pid
        self.ends: dict[int, tuple[int, float]] = {}  # pid -> (exit code, CPU seconds)
        self.refs = 0
        self.reader = threading.Thread(target=self._read, name="plan-fork-reader", daemon=True)
        self.reader.start()

    def close(self) -> None:
        """Close the server's stdin (it ends when its children have) and reap it, bounded."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self.cond:
                if "code" in msg:
                    self.ends[msg["pid"]] = (msg["code"], msg["cpu_s"])
                else:
                    self.pids[msg["ref"]] = msg["pid"]
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _wait_for(self, table: dict[int, Any], key: int, deadline: float) -> Any:
        with self.cond:
            while key not in table:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return table.get(key)
                self.cond.wait(min(left, 0.5))
            return table.pop(key)

    def run(
        self, entry: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory(prefix="plan-fork-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            with self.lock:
                self.refs += 1
                ref = self.refs
                assert self.proc.stdin is not None
                req = {
                    "ref": ref,
                    "entry": entry,
                    "args": args,
                    "cwd": str(cwd),
                    "env": env,
                    "out": str(out),
                    "err": str(err),
                }
                self.proc.stdin.write(json.dumps(req) + "\n")
                self.proc.stdin.flush()
            deadline = time.monotonic() + timeout
            pid = self._wait_for(self.pids, ref, time.monotonic() + 60)
            if pid is None:
                raise RuntimeError(f"plan fork server did not start {args} (server exit {self.proc.poll()})")
            end = self._wait_for(self.ends, pid, deadline)
            if end is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # ended (and reaped) meanwhile
                    pass
                self._wait_for(self.ends, pid, time.monotonic() + 30)
                raise subprocess.TimeoutExpired(args, timeout, output=_text(out), stderr=_text(err))
            code, cpu_s = end
            if LOG:  # where the suite's CPU goes (PLAN_FORK_LOG=file): one line per run
                with open(LOG, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"cpu_s": cpu_s, "entry": entry, "args": args}) + "\n")
            done = subprocess.CompletedProcess(args, code, _text(out), _text(err))
            done.cpu_s = cpu_s  # type: ignore[attr-defined]  # the child's CPU, as wait4 reported it
            return done


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="backslashreplace") if path.exists() else ""


_SERVER: _Server | None = None
_START = threading.Lock()


def _server() -> _Server:
    global _SERVER
    with _START:
        if _SERVER is None or _SERVER.proc.poll() is not None:
            _SERVER = _Server()
            atexit.register(_SERVER.close)
        return _SERVER


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`python -m pytest ARGS` in `cwd` with `env`, as a child of this worker's fork server."""
    return _server().run("pytest", list(args), Path(cwd), dict(env), timeout)


def run_bench(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in `cwd` with `env`, as a child of this worker's fork server."""
    return _server().run("bench", list(args), Path(cwd), dict(env), timeout)


def run_command(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """An argv written for a fresh interpreter, `[sys.executable, "-m", "pytest" | "bench", ...]`, forked instead."""
    if cmd[:2] != [sys.executable, "-m"] or cmd[2:3] not in (["pytest"], ["bench"]):
        raise ValueError(f"expected `python -m pytest ...` or `python -m bench ...`, got {cmd[:3]}")
    return _server().run(cmd[2], list(cmd[3:]), Path(cwd), dict(env), timeout)


def batch_module(args: list[str], log: Any, timeout_s: float | None) -> tuple[int, float, bool]:
    """A `bench.batch.run_batch` launcher: one module's `python -m pytest ...` forked from this worker's
    server, its output into the batch's log; (exit code, CPU seconds, timed out) as the batch expects."""
    try:
        done = run_command(args, cwd=Path.cwd(), env=dict(os.environ), timeout=timeout_s or 3600.0)
    except subprocess.TimeoutExpired as exc:
        log.write(f"{exc.output or ''}{exc.stderr or ''}")
        return -int(signal.SIGKILL), 0.0, True
    log.write(done.stdout + done.stderr)
    return done.returncode, done.cpu_s, False  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(serve())
