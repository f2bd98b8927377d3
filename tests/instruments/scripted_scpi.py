"""A scripted fake SCPI instrument on 127.0.0.1: replays recorded request/response exchanges.

The script is a list of (expected_command, reply): reply is the text to answer (a newline is
added), raw `bytes` sent as they are (garbage, undecodable text), None for no answer (a
setting, or a query the instrument leaves unanswered, which makes the driver time out), or a
`Trickle` (bytes sent one at a time with a pause between them, as a misbehaving instrument or
a wrong port might) or a `Late` reply (sent after a pause). Every received line is recorded; a
line that differs from the script is recorded as a mismatch and not answered, so a test sees
exactly what the driver sent and in what order. `wait_sent(n)` waits (bounded) until n scripted
replies have gone out completely.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

SILENT = None  # readability alias: a query that never gets an answer


@dataclass(frozen=True)
class Trickle:
    """Send `data` one byte at a time, `interval_s` apart (stops early when the server stops)."""

    data: bytes
    interval_s: float


@dataclass(frozen=True)
class Late:
    """Send `reply` (a newline is added) after `delay_s`."""

    reply: str
    delay_s: float


class ScriptedScpiServer:
    def __init__(self, script: list[tuple[str, str | bytes | Trickle | Late | None]]) -> None:
        self.script = list(script)
        self.sent = 0  # scripted replies sent completely
        self._sent_cond = threading.Condition()
        self.received: list[str] = []
        self.mismatches: list[tuple[str, str]] = []
        self.unexpected: list[str] = []
        self._index = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, name="scripted-scpi", daemon=True)

    @property
    def resource(self) -> str:
        return f"TCPIP0::127.0.0.1::{self._sock.getsockname()[1]}::SOCKET"

    @property
    def done(self) -> bool:
        """Every scripted exchange happened, in order, and nothing else arrived."""
        return self._index == len(self.script) and not self.mismatches and not self.unexpected

    def wait_sent(self, n: int, timeout_s: float = 10.0) -> bool:
        """Wait until `n` scripted replies have been sent completely (False after `timeout_s`)."""
        with self._sent_cond:
            return self._sent_cond.wait_for(lambda: self.sent >= n, timeout=timeout_s)

    def start(self) -> ScriptedScpiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> ScriptedScpiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(0.05)
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("ascii", errors="replace").strip()
                if line:
                    self._answer(conn, line)

    def _answer(self, conn: socket.socket, line: str) -> None:
        self.received.append(line)
        if self._index >= len(self.script):
            self.unexpected.append(line)
            return
        expected, reply = self.script[self._index]
        self._index += 1
        if line != expected:
            self.mismatches.append((expected, line))
            return
        if reply is None:
            return
        try:
            if isinstance(reply, Trickle):
                for i in range(len(reply.data)):
                    if self._stop.wait(reply.interval_s if i else 0.0):
                        return
                    conn.sendall(reply.data[i : i + 1])
            elif isinstance(reply, Late):
                if self._stop.wait(reply.delay_s):
                    return
                conn.sendall((reply.reply + "\n").encode("ascii"))
            else:
                conn.sendall(reply if isinstance(reply, bytes) else (reply + "\n").encode("ascii"))
        except OSError:
            return
        with self._sent_cond:
            self.sent += 1
            self._sent_cond.notify_all()
