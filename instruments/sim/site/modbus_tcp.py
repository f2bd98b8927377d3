"""A small Modbus TCP server that behaves like a site controller's network port.

Why not the pymodbus server used by the other simulated instruments: a site controller's port
has behaviour that lives at the connection, not the register: it serves one client at a time
(a second connection is accepted and closed at once), it refuses writes from source addresses
not on its allow-list, some refuse function 06, and a site network drops requests. Those need
the peer address and the connection, which pymodbus' request callback does not see. The
protocol subset is what SunSpec needs: FC 3 (read holding registers), 6 and 16, with Modbus
exceptions 1 (illegal function), 2 (illegal address), 3 (illegal value) and 4 (device failure).

A `Device` answers `read(address, count) -> list[int]` and `write(address, values, peer)`,
raising `ModbusError(code)`; both run under the simulated clock's lock.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from instruments.sim.loop_server import LoopServer


class ModbusError(Exception):
    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text or f"exception {code}")
        self.code = code


class Device(Protocol):
    def read(self, address: int, count: int) -> list[int]: ...
    def write(self, address: int, values: list[int], peer: str) -> None: ...


class SiteModbusServer(LoopServer):
    """Serve devices (by unit id) on host:port (0 = a free port) from a thread of its own."""

    def __init__(
        self,
        devices: dict[int, Device],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "site",
        lock: AbstractContextManager[Any] | None = None,
        max_clients: int = 0,
        allow_write: list[str] | None = None,
        refuse_fc6: bool = False,
        drop: Callable[[], bool] | None = None,
        mute_when: Callable[[], bool] | None = None,
    ) -> None:
        self.devices = devices
        self.host, self.port, self.name = host, port, name
        self.lock = lock if lock is not None else nullcontext()
        self.max_clients = int(max_clients)
        self.allow_write = None if allow_write is None or "*" in allow_write else set(allow_write)
        self.refuse_fc6 = refuse_fc6
        self.drop = drop
        self.mute_when = mute_when
        self.clients: set[asyncio.StreamWriter] = set()
        self.refused_connections = 0
        self.requests = 0
        self.dropped = 0
        super().__init__()

    # -- protocol ----------------------------------------------------------------------------------
    def _pdu(self, unit: int, pdu: bytes, peer: str) -> bytes | None:
        fc = pdu[0] if pdu else 0
        dev = self.devices.get(unit)
        if dev is None:
            return bytes([fc | 0x80, 11])  # gateway target failed to respond
        try:
            if fc == 3:
                addr, count = struct.unpack(">HH", pdu[1:5])
                if not 1 <= count <= 125:
                    raise ModbusError(3)
                with self.lock:
                    regs = dev.read(addr, count)
                return bytes([3, 2 * count]) + b"".join(int(r & 0xFFFF).to_bytes(2, "big") for r in regs)
            if fc == 6:
                if self.refuse_fc6:
                    raise ModbusError(1)
                addr, value = struct.unpack(">HH", pdu[1:5])
                self._check_peer(peer)
                with self.lock:
                    dev.write(addr, [value], peer)
                return pdu[:5]
            if fc == 16:
                addr, count, nbytes = struct.unpack(">HHB", pdu[1:6])
                if not 1 <= count <= 123 or nbytes != 2 * count or len(pdu) < 6 + nbytes:
                    raise ModbusError(3)
                values = [int.from_bytes(pdu[6 + 2 * i : 8 + 2 * i], "big") for i in range(count)]
                self._check_peer(peer)
                with self.lock:
                    dev.write(addr, values, peer)
                return pdu[:5]
            raise ModbusError(1)
        except ModbusError as exc:
            return bytes([fc | 0x80, exc.code])
        except struct.error:
            return bytes([fc | 0x80, 3])
        except Exception:  # a simulator bug answers "device failure", as a real device's firmware would
            import traceback

            traceback.print_exc()
            return bytes([fc | 0x80, 4])

    def _check_peer(self, peer: str) -> None:
        if self.allow_write is not None and peer not in self.allow_write:
            raise ModbusError(1, f"write from {peer} refused (not on the allow-list)")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("?", 0))[0])
        if self.max_clients and len(self.clients) >= self.max_clients:
            self.refused_connections += 1
            writer.close()  # accepted and closed at once, as a one-client controller does
            return
        self.clients.add(writer)
        try:
            for _ in range(10**9):  # bounded by the connection's life
                header = await reader.readexactly(7)
                tid, pid, length, unit = struct.unpack(">HHHB", header)
                if length < 2 or length > 260:
                    break
                pdu = await reader.readexactly(length - 1)
                self.requests += 1
                if self.drop is not None and self.drop():
                    self.dropped += 1
                    continue
                if self.mute_when is not None and self.mute_when():
                    continue
                reply = self._pdu(unit, pdu, peer)
                if reply is not None:
                    writer.write(struct.pack(">HHHB", tid, pid, len(reply) + 1, unit) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    # -- life ----------------------------------------------------------------------------------------
    async def _begin(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self.clients):
            w.close()
