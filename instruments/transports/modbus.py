"""Synchronous Modbus client (TCP, or RTU over a serial port) for instrument drivers.

A thin layer over pymodbus 3.16 (`ModbusTcpClient` / `ModbusSerialClient`, keyword-only
`count=` and `device_id=`, `retries=0`) that turns everything pymodbus reports in its own ways
(an `ExceptionResponse` object, `ModbusIOException`, `ConnectionException`, short or garbled
frames) into the bench's instrument errors, each naming the instrument, the function, the
register address and, for a Modbus exception, its code and meaning. Drivers then never look at
pymodbus objects. Retries are off: a timeout is reported, not hidden, and the driver decides.

Resources:
  "192.168.10.30" or "192.168.10.30:502" or "tcp://host:port"      Modbus TCP (default port 502)
  "/dev/ttyUSB0", "COM3", "rtu:/dev/ttyUSB0?baud=19200&parity=E"   Modbus RTU via pyserial
Long blocks are read in chunks of at most 125 registers (the protocol's limit for FC3/FC4).
Floats are IEEE-754 in two registers; word order is selectable because vendors disagree
(Watlow F4T: low word first; SunSpec and most others: high word first).
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse

from instruments.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout

MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge (busy, retry later)",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
FUNCTION_NAMES = {
    3: "read holding registers",
    4: "read input registers",
    6: "write single register",
    16: "write multiple registers",
}


class ModbusExceptionError(InstrumentError):
    """The device answered with a Modbus exception response; `code` is the exception code."""

    def __init__(self, instrument: str, code: int, *, command: str) -> None:
        self.code = code
        meaning = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(instrument, f"Modbus exception {code} ({meaning})", command=command)


def parse_resource(resource: str) -> dict[str, Any]:
    """Split a resource string into client settings: {'kind': 'tcp'|'rtu', ...}."""
    text = resource.strip()
    if not text:
        raise ValueError("empty Modbus resource")
    if text.startswith("rtu:") or text.startswith("/dev/") or text.upper().startswith("COM"):
        body = text[4:] if text.startswith("rtu:") else text
        port, _, query = body.partition("?")
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        known = {"baud", "parity", "stopbits", "bytesize"}
        if set(q) - known:
            raise ValueError(f"unknown RTU option(s) {sorted(set(q) - known)} in {resource!r}; known {sorted(known)}")
        parity = q.get("parity", "N").upper()
        if parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be N, E or O in {resource!r}")
        return {
            "kind": "rtu",
            "port": port,
            "baudrate": int(q.get("baud", 19200)),
            "parity": parity,
            "stopbits": int(q.get("stopbits", 1)),
            "bytesize": int(q.get("bytesize", 8)),
        }
    if text.startswith("tcp://"):
        text = text[6:]
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, "502"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected 'host:port' for Modbus TCP, got {resource!r}")
    return {"kind": "tcp", "host": host, "port": int(port)}


def registers_to_float(regs: list[int], word_order: str = "big") -> float:
    """Two registers -> float32; word_order 'little' means the low word comes first."""
    hi, lo = (regs[1], regs[0]) if word_order == "little" else (regs[0], regs[1])
    return struct.unpack(">f", struct.pack(">HH", hi, lo))[0]


def float_to_registers(value: float, word_order: str = "big") -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [lo, hi] if word_order == "little" else [hi, lo]


def to_int16(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def from_int16(value: int) -> int:
    if not -0x8000 <= value <= 0x7FFF:
        raise ValueError(f"{value} does not fit int16")
    return value & 0xFFFF


class ModbusClient:
    """One Modbus connection to one device id, with errors that name what was asked."""

    def __init__(
        self,
        resource: str,
        *,
        name: str,
        timeout_s: float = 1.0,
        device_id: int = 1,
        word_order: str = "big",
        source_address: str | None = None,
    ) -> None:
        """`source_address` binds a TCP connection to one local address (a second address of the
        laptop, e.g. to prove a controller's write allow-list refuses it)."""
        if word_order not in ("big", "little"):
            raise ValueError(f"word_order must be 'big' or 'little', got {word_order!r}")
        self.name = name
        self.resource = resource
        self.device_id = int(device_id)
        self.word_order = word_order
        self.timeout_s = float(timeout_s)
        self.trace: deque[tuple[str, str]] = deque(maxlen=50)
        self._rx = b""
        try:
            cfg = parse_resource(resource)
        except ValueError as exc:
            raise InstrumentError(name, str(exc)) from None
        self.kind = cfg.pop("kind")
        self._client: ModbusTcpClient | ModbusSerialClient
        if self.kind == "tcp":
            self._client = ModbusTcpClient(
                cfg["host"],
                port=cfg["port"],
                timeout=self.timeout_s,
                retries=0,
                trace_packet=self._trace_packet,
                source_address=(source_address, 0) if source_address else None,
            )
        else:
            self._client = ModbusSerialClient(
                cfg.pop("port"),
                framer=FramerType.RTU,
                timeout=self.timeout_s,
                retries=0,
                trace_packet=self._trace_packet,
                **cfg,
            )
        if not self._client.connect():
            raise InstrumentError(name, f"cannot connect to Modbus {self.kind.upper()} device at {resource!r}")

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        """Keep what came back, so a frame pymodbus could not parse is reported as such."""
        if not sending:
            self._rx = data
        return data

    # -- core --------------------------------------------------------------------------------
    def _call(self, fc: int, address: int, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        command = f"FC{fc} {FUNCTION_NAMES.get(fc, '')} register {address} {what} (device {self.device_id})"
        self._rx = b""
        try:
            rr = fn(*args, device_id=self.device_id, **kwargs)
        except ModbusIOException as exc:
            self.trace.append((command, "<no valid reply>"))
            if self._rx:
                raise InstrumentReplyError(
                    self.name, "garbled or incomplete reply", command=command, reply=self._rx[:64].hex(" ")
                ) from exc
            raise InstrumentTimeout(self.name, f"no reply within {self.timeout_s:g} s", command=command) from exc
        except (ConnectionException, OSError) as exc:  # OSError: a reset the client did not wrap
            self.trace.append((command, "<connection lost>"))
            raise InstrumentError(self.name, f"connection failed: {exc}", command=command) from exc
        except (ModbusException, struct.error, IndexError, ValueError) as exc:
            self.trace.append((command, "<unparseable>"))
            raise InstrumentReplyError(
                self.name, f"unparseable reply: {exc}", command=command, reply=self._rx[:64].hex(" ") or None
            ) from exc
        if rr is None:
            raise InstrumentTimeout(self.name, "no reply", command=command)
        if isinstance(rr, ExceptionResponse) or rr.isError():
            code = int(getattr(rr, "exception_code", 0))
            self.trace.append((command, f"exception {code}"))
            raise ModbusExceptionError(self.name, code, command=command)
        self.trace.append((command, "ok"))
        return rr

    def _read(self, fc: int, address: int, count: int) -> list[int]:
        fn = self._client.read_holding_registers if fc == 3 else self._client.read_input_registers
        out: list[int] = []
        offset = 0
        while offset < count:  # bounded: offset grows by >= 1 chunk each pass
            n = min(MAX_READ_REGISTERS, count - offset)
            addr = address + offset
            rr = self._call(fc, addr, f"count {n}", fn, addr, count=n)
            regs = list(getattr(rr, "registers", []) or [])
            if len(regs) < n:
                raise InstrumentReplyError(
                    self.name,
                    f"short reply: {len(regs)} of {n} registers",
                    command=f"FC{fc} register {addr} count {n}",
                    reply=self._rx[:64].hex(" "),
                )
            out.extend(regs[:n])
            offset += n
        return out

    # -- public API --------------------------------------------------------------------------
    def read_holding(self, address: int, count: int = 1) -> list[int]:
        """FC3, chunked at 125 registers."""
        return self._read(3, address, count)

    def read_input(self, address: int, count: int = 1) -> list[int]:
        """FC4, chunked at 125 registers."""
        return self._read(4, address, count)

    def write_register(self, address: int, value: int) -> None:
        """FC6 with one unsigned 16-bit value."""
        if not 0 <= int(value) <= 0xFFFF:
            raise ValueError(f"register value {value} outside 0..65535")
        self._call(6, address, f"value {int(value)}", self._client.write_register, address, int(value))

    def write_registers(self, address: int, values: list[int]) -> None:
        """FC16, chunked at 123 registers."""
        vals = [int(v) for v in values]
        if any(not 0 <= v <= 0xFFFF for v in vals):
            raise ValueError(f"register values outside 0..65535: {vals}")
        for start in range(0, len(vals), MAX_WRITE_REGISTERS):
            chunk = vals[start : start + MAX_WRITE_REGISTERS]
            self._call(16, address + start, f"values {chunk}", self._client.write_registers, address + start, chunk)

    def read_float(self, address: int, *, input_registers: bool = False, word_order: str | None = None) -> float:
        regs = self.read_input(address, 2) if input_registers else self.read_holding(address, 2)
        return registers_to_float(regs, word_order or self.word_order)

    def write_float(self, address: int, value: float, *, word_order: str | None = None) -> None:
        self.write_registers(address, float_to_registers(float(value), word_order or self.word_order))

    def read_int16(self, address: int, *, input_registers: bool = False) -> int:
        regs = self.read_input(address, 1) if input_registers else self.read_holding(address, 1)
        return to_int16(regs[0])

    def close(self) -> None:
        self._client.close()
