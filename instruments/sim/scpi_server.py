"""A SCPI instrument served over a raw TCP socket on 127.0.0.1, as real LAN instruments do.

Clients (pyvisa + pyvisa-py, or `nc`) connect to `TCPIP0::127.0.0.1::PORT::SOCKET`. The server
parses IEEE-488.2/SCPI text: case-insensitive headers, short and long keyword forms, optional
nodes in [brackets], `;`-separated commands on one line (each resolved from the root: a
simplification of SCPI's header-path rule that real clients do not rely on), `\\n` terminator,
a FIFO error queue (`SYST:ERR?` -> `+0,"No error"`, `-113,"Undefined header"`, `-222,"Data out
of range"`, `-350,"Queue overflow"`), and the common commands *IDN? *RST *CLS *OPC? *ESR? *STB?.
Handlers run under the simulated clock's lock, so every reply comes from a consistent plant.
"""

from __future__ import annotations

import math
import re
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from instruments.scpi_settings import Choice, Node, Setting, Switch, header_nodes

Handler = Callable[[list[str]], str | None]


class ScpiError(Exception):
    """Raised by a handler to queue an SCPI error (code, text) instead of replying."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f'{code},"{text}"')
        self.code = code
        self.text = text


UNDEFINED_HEADER = (-113, "Undefined header")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER = (-224, "Illegal parameter value")
DATA_TYPE = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
SETTINGS_CONFLICT = (-221, "Settings conflict")
EXECUTION_ERROR = (-200, "Execution error")
DEVICE_ERROR = (-300, "Device-specific error")


def _compile(pattern: str) -> tuple[list[Node], bool]:
    """'[SOURce:]VOLTage[:LEVel]?' -> nodes and whether it is a query."""
    return header_nodes(pattern), pattern.endswith("?")


def _match(nodes: list[Node], tokens: list[str]) -> bool:
    def rec(i: int, j: int) -> bool:
        if i == len(nodes):
            return j == len(tokens)
        node = nodes[i]
        if j < len(tokens) and tokens[j] in (node.short, node.long):
            if rec(i + 1, j + 1):
                return True
        return node.optional and rec(i + 1, j)

    return rec(0, 0)


def split_commands(line: str) -> list[str]:
    out, cur, quoted = [], [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [c.strip() for c in out if c.strip()]


def split_args(text: str) -> list[str]:
    return [a.strip() for a in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text) if a.strip()] if text else []


def parse_number(
    arg: str, *, minimum: float | None = None, maximum: float | None = None, allow_minmax: bool = True
) -> float:
    """SCPI numeric parameter (NR1/NR2/NR3, MIN/MAX/DEF handled by caller's bounds)."""
    word = arg.strip().upper()
    if allow_minmax and word in ("MIN", "MINIMUM") and minimum is not None:
        return minimum
    if allow_minmax and word in ("MAX", "MAXIMUM") and maximum is not None:
        return maximum
    m = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*([A-Z]*)", word)
    if not m:
        raise ScpiError(*DATA_TYPE)
    value = float(m.group(1))
    suffix = {
        "": 1.0,
        "V": 1.0,
        "A": 1.0,
        "W": 1.0,
        "OHM": 1.0,
        "S": 1.0,
        "MV": 1e-3,
        "MA": 1e-3,
        "KV": 1e3,
        "MS": 1e-3,
        "KW": 1e3,
        "MOHM": 1e6,
        "KOHM": 1e3,
    }.get(m.group(2))
    if suffix is None:
        raise ScpiError(-131, "Invalid suffix")
    value *= suffix
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ScpiError(*DATA_OUT_OF_RANGE)
    return value


def parse_bool(arg: str) -> bool:
    word = arg.strip().upper()
    if word in ("1", "ON"):
        return True
    if word in ("0", "OFF"):
        return False
    raise ScpiError(*ILLEGAL_PARAMETER)


def nr3(value: float) -> str:
    return f"{value:+.6E}"


class ScpiInstrument:
    """Base of a simulated SCPI instrument: a command table plus the IEEE-488.2 core.

    Subclasses call `self.command(pattern, handler)` in `__init__`; a handler receives the
    argument list and returns the reply text for queries (None for settings).
    """

    idn = "ESS Bench,SIM,0,0"
    error_query_patterns = ("SYSTem:ERRor[:NEXT]?",)

    def __init__(self, lock: Any | None = None, faults: list[Any] | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0
        self._table: list[tuple[list[Node], bool, Handler]] = []
        self.injected_faults = faults if faults is not None else []
        self.log: deque[tuple[str, str | None]] = deque(maxlen=200)
        self.command("*IDN?", lambda a: self.idn)
        self.command("*RST", lambda a: self.reset())
        self.command("*CLS", lambda a: self._cls())
        self.command("*OPC?", lambda a: "1")
        self.command("*OPC", lambda a: None)
        self.command("*ESR?", lambda a: self._read_esr())
        self.command("*STB?", lambda a: str(0x04 if self.errors else 0))
        self.command("*WAI", lambda a: None)
        for pattern in self.error_query_patterns:
            self.command(pattern, lambda a: self._pop_error())

    # -- table -----------------------------------------------------------------------------
    def command(self, pattern: str, handler: Handler) -> None:
        nodes, query = _compile(pattern)
        self._table.append((nodes, query, handler))

    def ratings(self) -> Mapping[str, float]:
        """The simulated model's ratings (SI), against which declared bounds are evaluated."""
        return {}

    def setting(
        self,
        decl: Setting,
        apply: Callable[..., None],
        read: Callable[[], Any] | None = None,
        *,
        reply: Callable[[Any], str] = lambda x: nr3(x),
        more_args: int = 0,
    ) -> None:
        """Serve a driver's declared numeric setting: `<header> <value>` calls `apply(value)` for a
        value inside the declared bounds (else -222, not applied), and `<header>?` answers
        `reply(read())`. A ValueError from `apply` (the plant's own check) is -222 as well.
        `more_args` further parameters (`IR:LOWER 1e6,ON`) are passed on as text."""

        def handler(args: list[str]) -> None:
            if not args:
                raise ScpiError(*MISSING_PARAMETER)
            if len(args) > 1 + more_args:
                raise ScpiError(*PARAMETER_NOT_ALLOWED)
            lo, hi = decl.bounds(self.ratings())
            value = parse_number(args[0], minimum=lo if lo > -math.inf else None, maximum=hi if hi < math.inf else None)
            if decl.low_open and value <= lo:
                raise ScpiError(*DATA_OUT_OF_RANGE)
            try:
                apply(value, *args[1:])
            except ValueError:
                raise ScpiError(*DATA_OUT_OF_RANGE) from None

        self.command(decl.header, handler)
        if read is not None:
            self.command(decl.header + "?", lambda a: reply(read()))

    def switch(self, decl: Switch, apply: Callable[[bool], None], read: Callable[[], bool] | None = None) -> None:
        """Serve a declared ON/OFF setting (`1|ON|0|OFF`; the query answers 1 or 0)."""

        def handler(args: list[str]) -> None:
            if not args:
                raise ScpiError(*MISSING_PARAMETER)
            apply(parse_bool(args[0]))

        self.command(decl.header, handler)
        if read is not None:
            self.command(decl.header + "?", lambda a: "1" if read() else "0")

    def choice(self, decl: Choice, apply: Callable[[str], None], read: Callable[[], str] | None = None) -> None:
        """Serve a declared choice: a word outside the declaration is -224 "Illegal parameter value"."""

        def handler(args: list[str]) -> None:
            if not args:
                raise ScpiError(*MISSING_PARAMETER)
            word = decl.canonical(args[0])
            if word is None:
                raise ScpiError(*ILLEGAL_PARAMETER)
            try:
                apply(word)
            except ValueError:
                raise ScpiError(*ILLEGAL_PARAMETER) from None

        self.command(decl.header, handler)
        if read is not None:
            self.command(decl.header + "?", lambda a: read())

    def reset(self) -> None:
        """*RST: subclasses restore their defaults (output off)."""

    def _cls(self) -> None:
        self.errors.clear()
        self.esr = 0

    def _read_esr(self) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _pop_error(self) -> str:
        if not self.errors:
            return '+0,"No error"'
        code, text = self.errors.popleft()
        return f'{code:+d},"{text}"'

    def push_error(self, code: int, text: str) -> None:
        if len(self.errors) >= 20:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, text))
        if -199 <= code <= -100:
            self.esr |= 32  # CME
        elif -299 <= code <= -200:
            self.esr |= 16  # EXE
        else:
            self.esr |= 8  # DDE

    # -- execution -------------------------------------------------------------------------
    def handle_line(self, line: str) -> str | None:
        replies: list[str] = []
        for cmd in split_commands(line):
            reply = self.execute(cmd)
            if reply is not None:
                replies.append(reply)
        out = ";".join(replies) if replies else None
        self.log.append((line, out))
        return out

    def execute(self, cmd: str) -> str | None:
        header, _, rest = cmd.partition(" ")
        header = header.strip().lstrip(":").upper()
        query = header.endswith("?")
        tokens = header.rstrip("?").split(":")
        for nodes, is_query, handler in self._table:
            if is_query == query and _match(nodes, tokens):
                with self.lock:
                    try:
                        if not query and self._consume_fault(cmd):
                            return None
                        return handler(split_args(rest.strip()))
                    except ScpiError as exc:
                        self.push_error(exc.code, exc.text)
                        return None
        self.push_error(*UNDEFINED_HEADER)
        return None

    def _consume_fault(self, cmd: str) -> bool:
        """An injected instrument fault makes the next setting command fail with an error."""
        if not self.injected_faults:
            return False
        fault = self.injected_faults.pop(0)
        if isinstance(fault, dict):
            code, text = int(fault.get("code", DEVICE_ERROR[0])), str(fault.get("message", DEVICE_ERROR[1]))
        else:
            code, text = fault if isinstance(fault, tuple) else DEVICE_ERROR
        self.push_error(code, text)
        return True


class _TcpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        inst: ScpiInstrument = self.server.instrument  # type: ignore[attr-defined]
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                raw = self.rfile.readline(65536)
            except (ConnectionError, OSError):
                return
            if not raw:
                return
            line = raw.decode("ascii", errors="replace").strip()
            if not line:
                continue
            if self.server.muted.is_set():  # type: ignore[attr-defined]
                continue  # simulates an instrument that stopped answering
            reply = inst.handle_line(line)
            if reply is not None:
                try:
                    self.wfile.write((reply + "\n").encode("ascii"))
                except (ConnectionError, OSError):
                    return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ScpiTcpServer:
    """Serve one ScpiInstrument on 127.0.0.1:<free port>."""

    def __init__(self, instrument: ScpiInstrument, host: str = "127.0.0.1", port: int = 0) -> None:
        self.instrument = instrument
        self._server = _Server((host, port), _TcpHandler)
        self._server.instrument = instrument  # type: ignore[attr-defined]
        self._server.muted = threading.Event()  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scpi-{type(instrument).__name__}",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    @property
    def resource(self) -> str:
        host, port = self.address
        return f"TCPIP0::{host}::{port}::SOCKET"

    def start(self) -> ScpiTcpServer:
        self._thread.start()
        return self

    def mute(self, muted: bool = True) -> None:
        """Stop answering (a hung instrument) or resume."""
        if muted:
            self._server.muted.set()  # type: ignore[attr-defined]
        else:
            self._server.muted.clear()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)


def serve_instrument(
    sim_cls: type[ScpiInstrument],
    device: Any,
    plant: Any,
    role: Any,
    clock: Any,
    *,
    serial: str,
    model: str,
    firmware: str,
    **kwargs: Any,
) -> ScpiTcpServer:
    """Start `sim_cls(device, ...)` for a station role: identity from the station (defaults given),
    the simulated clock's lock, and the plant's injected-fault queue for that role."""
    inst = sim_cls(
        device,
        serial=role.serial or serial,
        model=role.model or model,  # type: ignore[call-arg]
        firmware=role.firmware or firmware,
        lock=clock.lock,
        faults=plant.instrument_faults.setdefault(role.role, []),
        **kwargs,
    )
    return ScpiTcpServer(inst).start()
