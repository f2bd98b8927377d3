"""A pymodbus 3.16 server on 127.0.0.1 running its own asyncio loop in a daemon thread.

Simulated Modbus instruments describe their register space as `SimData` blocks (gaps are
invalid addresses: exception 2, as on a real device) and compute values on each request in an
async `action` (pymodbus 3.16 no longer calls datablock getValues overrides). This class only
owns the server's life: start on a free port (port 0, read back from the listening socket),
`.resource` = "127.0.0.1:PORT" for the driver, `mute()` to play a device that stopped
answering, and a clean `stop()` that leaves no thread or loop behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from instruments.sim.loop_server import LoopServer

Reader = Callable[[], list[int]]
Writer = Callable[[list[int]], None]


class RegisterValueError(ValueError):
    """Raised by a writer for a value the device refuses (Modbus exception 3)."""


@dataclass
class _Block:
    start: int
    count: int
    read: Reader


class RegisterMap:
    """Computed register space of one simulated device, served through a SimDevice `action`.

    Readers cover blocks of addresses and compute their registers from the plant on every read
    that touches them; writers own whole items (a float is two registers and must be written as
    one). Everything runs under `lock` (the simulated clock's), so replies come from one
    consistent plant state. Addresses outside every block are invalid (exception 2), writes to
    addresses without a writer are refused by pymodbus as read-only (exception 2), a writer that
    raises ValueError gives exception 3, and an injected instrument fault (an int exception code,
    or ("read"|"write", code)) fails the next matching request.
    """

    def __init__(self, lock: AbstractContextManager[Any] | None = None, faults: list[Any] | None = None) -> None:
        self.lock = lock if lock is not None else nullcontext()
        self.faults = faults if faults is not None else []
        self._blocks: list[_Block] = []
        self._writers: dict[int, tuple[int, Writer]] = {}
        self.writes: list[tuple[int, list[int]]] = []  # what clients wrote, for tests and debugging

    def read(self, start: int, count: int, fn: Reader) -> None:
        self._blocks.append(_Block(start, count, fn))

    def write(self, start: int, count: int, fn: Writer) -> None:
        self._writers[start] = (count, fn)

    def simdata(self) -> list[SimData]:
        """One SimData per run of addresses sharing the read-only flag."""
        addrs: dict[int, bool] = {}
        for b in self._blocks:
            for a in range(b.start, b.start + b.count):
                addrs.setdefault(a, True)
        for start, (count, _) in self._writers.items():
            for a in range(start, start + count):
                addrs[a] = False
        out: list[SimData] = []
        run_start, run_ro, prev = None, True, None
        for a in sorted(addrs):
            ro = addrs[a]
            if run_start is None or a != prev + 1 or ro != run_ro:
                if run_start is not None:
                    out.append(
                        SimData(
                            run_start,
                            count=prev - run_start + 1,
                            values=0,
                            datatype=DataType.REGISTERS,
                            readonly=run_ro,
                        )
                    )
                run_start, run_ro = a, ro
            prev = a
        if run_start is not None:
            out.append(
                SimData(run_start, count=prev - run_start + 1, values=0, datatype=DataType.REGISTERS, readonly=run_ro)
            )
        return out

    def device(self, device_id: int = 1) -> SimDevice:
        return SimDevice(id=device_id, simdata=self.simdata(), action=self.action)

    def _fault(self, kind: str) -> ExcCodes | None:
        """Pop the next injected instrument fault if it applies to this kind of request.

        Plant entries are {"code": n, "message": ...} (SCPI-style codes; anything outside the Modbus
        exception range becomes 4, device failure) and fail the next setting (write); an entry may
        say {"on": "read"} to fail the next read instead. Bare ints and ("read"|"write", code) work too.
        """
        if not self.faults:
            return None
        fault = self.faults[0]
        if isinstance(fault, dict):
            want, code = str(fault.get("on", "write")), fault.get("code", 4)
        elif isinstance(fault, tuple):
            want, code = fault
        else:
            want, code = "write", fault
        if want != kind:
            return None
        self.faults.pop(0)
        code = int(code) if isinstance(code, int) else 4
        return ExcCodes(code) if code in {int(c) for c in ExcCodes} else ExcCodes.DEVICE_FAILURE

    async def action(
        self,
        fc: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        with self.lock:
            if set_values is None:
                if (exc := self._fault("read")) is not None:
                    return exc
                end = address + count
                for b in self._blocks:
                    if b.start < end and address < b.start + b.count:
                        values = b.read()
                        lo, hi = max(address, b.start), min(end, b.start + b.count)
                        for a in range(lo, hi):
                            registers[a - start_address] = int(values[a - b.start]) & 0xFFFF
                return None
            if (exc := self._fault("write")) is not None:
                return exc
            vals = [int(v) for v in set_values]
            a, end = address, address + len(vals)
            while a < end:  # bounded: every pass consumes a whole writer item
                item = self._writers.get(a)
                if item is None:
                    return ExcCodes.ILLEGAL_ADDRESS  # inside an item (half a float): no such start
                size, fn = item
                if a + size > end:
                    return ExcCodes.ILLEGAL_VALUE  # item written only in part
                try:
                    fn(vals[a - address : a - address + size])
                except ValueError:
                    return ExcCodes.ILLEGAL_VALUE
                a += size
            self.writes.append((address, vals))
            return None


class ModbusSimServer(LoopServer):
    """Serve SimDevice(s) on host:port (0 = any free port) until stop()."""

    def __init__(
        self,
        devices: SimDevice | list[SimDevice],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "modbus-sim",
        framer: FramerType = FramerType.SOCKET,
        mute_when: Callable[[], bool] | None = None,
    ) -> None:
        self.devices = devices
        self.mute_when = mute_when
        self.host = host
        self.port = port
        self.name = name
        self.framer = framer
        self.muted = threading.Event()
        self.requests = 0
        super().__init__()

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """Count requests; when muted, swallow every reply (the request is still processed)."""
        if not sending:
            self.requests += 1
            return data
        if self.muted.is_set() or (self.mute_when is not None and self.mute_when()):
            return b""
        return data

    async def _begin(self) -> None:
        self._server = ModbusTcpServer(
            self.devices, address=(self.host, self.port), framer=self.framer, trace_packet=self._trace
        )
        await self._server.serve_forever(background=True)
        sockets = getattr(self._server.transport, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.shutdown()

    def mute(self, muted: bool = True) -> None:
        """Stop answering (requests are still received) or resume."""
        if muted:
            self.muted.set()
        else:
            self.muted.clear()
