"""Running the operator page: in the foreground (`bench ui`) or beside a plan (`bench run --ui`)."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import uvicorn

from bench.errors import BenchError
from bench.ui.app import OperatorApp
from bench.ui.security import is_loopback, new_token


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0 picks a free one); a clear error when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BenchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


class UiServer:
    """One uvicorn server on a socket we bound ourselves (so the port is known before it starts)."""

    def __init__(
        self,
        journal: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        report_dir: Path | None = None,
        trust: Path | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.host = host
        self.sock = bind(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.token = new_token()
        self.app = OperatorApp(journal, report_dir=report_dir, token=self.token, host=host, port=self.port, trust=trust)
        config = uvicorn.Config(
            self.app.guard, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.out = out or sys.stdout

    @property
    def url(self) -> str:
        host = socket.gethostname() if self.host in ("0.0.0.0", "::") else self.host  # bound to every address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/"

    def announce(self) -> None:
        """Print where the page is; the token only when one is required (not loopback), and only here."""
        if is_loopback(self.host):
            print(f"bench ui: {self.url}  (this machine only)", file=self.out, flush=True)
        else:
            print(
                f"bench ui: {self.url}?token={self.token}\n  bound to {self.host}: every request needs this token; "
                "keep it to the people operating this bench",
                file=self.out,
                flush=True,
            )

    def run(self) -> None:
        self.announce()
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.close()

    def close(self) -> None:
        self.app.close()
        with contextlib.suppress(OSError):
            self.sock.close()


LINGER_S = 5.0  # after the plan: open pages get the final status and the report link before the server stops


@contextlib.contextmanager
def serve_in_background(
    journal: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    report_dir: Path | None = None,
    trust: Path | None = None,
    linger_s: float = LINGER_S,
) -> Iterator[UiServer]:
    """Serve the page from a thread while the caller runs a plan; stopped (and the port freed) on exit,
    `linger_s` later, so the pages watching see how the run ended."""
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    srv = UiServer(journal, host=host, port=port, report_dir=report_dir, trust=trust)
    # uvicorn installs no signal handlers off the main thread: the plan keeps SIGINT/SIGTERM (safe state)
    thread = threading.Thread(target=srv.server.run, kwargs={"sockets": [srv.sock]}, name="bench-ui", daemon=True)
    srv.announce()
    thread.start()
    try:
        yield srv
        time.sleep(linger_s)
    finally:
        srv.server.should_exit = True
        thread.join(timeout=5)
        srv.close()
