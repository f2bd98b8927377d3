"""Shared helpers for the Modbus driver tests: a plant on a virtual clock, role configs, and a
scripted raw Modbus TCP server that answers whatever a test wants (exceptions, garbage, short
frames, silence). Imported by the test modules (not a conftest, so it stays ours alone)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.clock import SimClock
from bench.station import RoleConfig
from bench.units import Q_
from instruments.sim.plant import Plant


def free_port() -> int:
    """A free loopback port (bind to port 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role(name: str, driver: str, **options: Any) -> RoleConfig:
    return RoleConfig(
        role=name,
        driver=driver,
        resource="sim",
        timeout=Q_(1, "s"),
        make="",
        model="",
        serial="",
        firmware="",
        options=options,
    )


class SimBench:
    """A plant advanced by a SimClock, as the simulated station wires it."""

    def __init__(self, preset: str = "lfp_16s5p", seed: int = 3) -> None:
        self.plant = Plant.from_config(preset, seed=seed)
        self.clock = SimClock(max_step=Q_(1, "s"))
        self.clock.add_listener(lambda t, dt: self.plant.step(dt))
        self.servers: list[Any] = []

    def serve(self, serve_fn: Callable[..., Any], role_cfg: RoleConfig) -> Any:
        server = serve_fn(self.plant, role_cfg, self.clock)
        self.servers.append(server)
        return server

    def advance(self, seconds: float) -> None:
        self.clock.sleep(Q_(seconds, "s"))

    def close(self) -> None:
        for s in self.servers:
            s.stop()


@pytest.fixture
def bench() -> Iterator[SimBench]:
    b = SimBench()
    yield b
    b.close()


Reply = Callable[[int, int, bytes], bytes | None]  # (transaction id, unit, pdu) -> raw bytes to send


def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def exception_reply(code: int) -> Reply:
    return lambda tid, unit, pdu: mbap(tid, unit, bytes([pdu[0] | 0x80, code]))


class ScriptedServer:
    """Raw Modbus TCP on 127.0.0.1: each request's reply comes from `reply` (None = stay silent)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-modbus", daemon=True)
        self._thread.start()

    @property
    def resource(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        conns: list[socket.socket] = []
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
                conn.settimeout(0.05)
                conns.append(conn)
            except (TimeoutError, OSError):
                pass
            for conn in list(conns):
                try:
                    head = conn.recv(7)
                    if not head:
                        conns.remove(conn)
                        continue
                    tid, _pid, length, unit = struct.unpack(">HHHB", head)
                    pdu = conn.recv(length - 1)
                    self.requests.append(pdu)
                    out = self.reply(tid, unit, pdu)
                    if out:
                        conn.sendall(out)
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError:
                    conns.remove(conn)
        for conn in conns:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Reply], ScriptedServer]]:
    made: list[ScriptedServer] = []

    def make(reply: Reply) -> ScriptedServer:
        s = ScriptedServer(reply)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
