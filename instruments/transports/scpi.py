"""SCPI over VISA (pyvisa + pyvisa-py): raw sockets (port 5025), USBTMC, GPIB, serial.

Every setting command can be followed by a read of the error queue, so a refused setting is
raised at once, naming the instrument, the command and the instrument's own error text.

A query has one deadline for the whole reply, from sending the command to the terminator, and
a maximum reply length: an instrument that trickles bytes without a terminator raises
`ReplyDeadlineError` when the deadline passes, one that streams without end raises
`ReplyTooLongError` at the limit, each naming the instrument, the command and what arrived.
(pyvisa-py's raw-socket read restarts its wait on every chunk, so a byte every 0.3 s held a
query with a 1 s timeout for minutes: raw sockets are therefore read here directly, and other
VISA sessions are read in bounded chunks with the VISA timeout set to what is left.) After a
failed reply, bytes that arrive late are discarded before the next query, so a late answer is
never taken for the answer to the next question. The last exchanges are kept for diagnosis.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections import deque
from typing import Any

import pyvisa
import pyvisa.errors

from instruments.errors import (
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    ReplyDeadlineError,
    ReplyTooLongError,
)

_ERR_RE = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')
DEFAULT_MAX_REPLY_BYTES = 65536
_RECV_CHUNK = 4096
_VISA_CHUNK = 256  # bytes per VISA read call on non-socket sessions (each bounded by the time left)
_DRAIN_LIMIT = 64  # recv calls spent discarding late bytes before a query


class ScpiConnection:
    """One open VISA session speaking SCPI text.

    `resource_manager` is the pyvisa manager to open through; by default the one pyvisa keeps
    for `visa_library` (pyvisa shares one manager per library, so the connection closes only its
    own resource, never the manager other drivers use).
    """

    def __init__(
        self,
        resource: str,
        *,
        name: str,
        timeout_s: float = 2.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
        visa_library: str = "@py",
        error_query: str = "SYST:ERR?",
        no_error_codes: tuple[int, ...] = (0,),
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        resource_manager: pyvisa.ResourceManager | None = None,
    ) -> None:
        if not timeout_s > 0:
            raise InstrumentError(name, f"timeout must be a positive time, got {timeout_s!r} s")
        if int(max_reply_bytes) < 1:
            raise InstrumentError(name, f"max_reply_bytes must be at least 1, got {max_reply_bytes!r}")
        if not read_termination:
            raise InstrumentError(name, "read_termination must not be empty (a reply needs an end)")
        self.name = name
        self.resource_name = resource
        self.timeout_s = float(timeout_s)
        self.max_reply_bytes = int(max_reply_bytes)
        self.error_query = error_query
        self.no_error_codes = no_error_codes
        self.trace: deque[tuple[str, str | None]] = deque(maxlen=50)
        self._term = read_termination.encode("ascii")
        self._rx = bytearray()  # bytes received after the last reply's terminator
        self._stale = False  # a reply failed: late bytes may still arrive
        try:
            self._rm = resource_manager if resource_manager is not None else pyvisa.ResourceManager(visa_library)
            self._res: Any = self._rm.open_resource(
                resource,
                read_termination=read_termination,
                write_termination=write_termination,
                timeout=max(1, int(self.timeout_s * 1000)),
                open_timeout=max(1, int(self.timeout_s * 1000)),
            )
        except (pyvisa.errors.VisaIOError, OSError, ValueError) as exc:
            raise InstrumentError(name, f"cannot open VISA resource {resource!r}: {exc}") from exc
        self._sock = _raw_socket(self._res) if resource.upper().endswith("::SOCKET") else None
        if self._sock is not None:
            # Nagle off: a setting followed by SYST:ERR? otherwise stalls ~40 ms on delayed ACKs.
            # (pyvisa-py 0.8 mis-wires the VI_ATTR_TCPIP_NODELAY setter, so set it on the socket.)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, command: str) -> None:
        self.trace.append((command, None))
        try:
            self._res.write(command)
        except pyvisa.errors.VisaIOError as exc:
            raise self._io_error(exc, command) from exc
        except OSError as exc:
            raise InstrumentError(self.name, f"connection lost: {exc}", command=command) from exc

    def query(self, command: str) -> str:
        """Send `command` and return its reply (stripped); one deadline covers the whole reply."""
        deadline = time.monotonic() + self.timeout_s
        if self._stale:
            self._discard_late_bytes()
        self.write(command)
        try:
            raw = self._read_socket(command, deadline) if self._sock is not None else self._read_visa(command, deadline)
        except InstrumentError:
            self._stale = True
            self.trace[-1] = (command, "<no complete reply>")
            raise
        try:
            reply = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            self.trace[-1] = (command, "<undecodable>")
            raise InstrumentReplyError(
                self.name,
                f"reply is not text: {exc}",
                command=command,
                reply=raw[:120].decode("ascii", errors="backslashreplace"),
            ) from exc
        reply = reply.strip()
        self.trace[-1] = (command, reply)
        return reply

    # -- reading -----------------------------------------------------------------------------
    def _read_socket(self, command: str, deadline: float) -> bytes:
        """Read up to the terminator from the raw socket, bounded by `deadline` and the length limit."""
        assert self._sock is not None
        buf = self._rx
        for _ in range(1_000_000):  # bounded; each pass receives data or waits out the deadline
            end = buf.find(self._term)
            if end >= 0:
                reply = bytes(buf[:end])
                del buf[: end + len(self._term)]
                if len(reply) > self.max_reply_bytes:
                    raise self._too_long(command, reply)
                return reply
            if len(buf) > self.max_reply_bytes:
                data = bytes(buf)
                buf.clear()
                raise self._too_long(command, data)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                data = bytes(buf)
                buf.clear()
                raise self._late(command, data)
            try:
                ready, _, _ = select.select([self._sock], [], [], remaining)
                chunk = self._sock.recv(_RECV_CHUNK) if ready else None
            except OSError as exc:
                raise InstrumentError(self.name, f"connection lost: {exc}", command=command) from exc
            if chunk == b"":
                data = bytes(buf)
                buf.clear()
                raise InstrumentError(
                    self.name,
                    "connection closed by the instrument",
                    command=command,
                    reply=data.decode("ascii", errors="backslashreplace") if data else None,
                )
            if chunk:
                buf.extend(chunk)
        raise self._late(command, bytes(buf))

    def _read_visa(self, command: str, deadline: float) -> bytes:
        """Other VISA sessions: bounded chunks, each with the VISA timeout set to the time left."""
        out = bytearray()
        lib, session = self._res.visalib, self._res.session
        try:
            for _ in range(1_000_000):  # bounded; each pass reads a chunk or the deadline passes
                end = out.find(self._term)
                if end >= 0:
                    return bytes(out[:end])
                if len(out) > self.max_reply_bytes:
                    raise self._too_long(command, bytes(out))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._late(command, bytes(out))
                self._res.timeout = max(1, int(remaining * 1000))
                with self._res.ignore_warning(pyvisa.constants.StatusCode.success_max_count_read):
                    chunk, status = lib.read(session, _VISA_CHUNK)
                out.extend(chunk)
                if status == pyvisa.constants.StatusCode.success and self._term not in out:
                    return bytes(out)  # END asserted (GPIB EOI, USBTMC EOM) without a termination character
            raise self._late(command, bytes(out))
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                raise self._late(command, bytes(out)) from exc
            raise self._io_error(exc, command) from exc
        except OSError as exc:
            raise InstrumentError(self.name, f"connection lost: {exc}", command=command) from exc
        finally:
            self._res.timeout = max(1, int(self.timeout_s * 1000))

    def _discard_late_bytes(self) -> None:
        """Drop what a failed reply left behind (already here or still in the socket)."""
        self._rx.clear()
        self._stale = False
        if self._sock is None:
            return
        try:
            for _ in range(_DRAIN_LIMIT):
                ready, _, _ = select.select([self._sock], [], [], 0)
                if not ready or not self._sock.recv(_RECV_CHUNK):
                    return
        except OSError:
            return  # the next write reports the broken connection

    def _late(self, command: str, data: bytes) -> ReplyDeadlineError:
        ms = f"{self.timeout_s * 1000:g} ms"
        if not data:
            return ReplyDeadlineError(self.name, f"no reply within {ms}", command=command)
        return ReplyDeadlineError(
            self.name,
            f"no complete reply within {ms}: {len(data)} bytes arrived without the terminator {self._term!r}",
            command=command,
            received=data,
        )

    def _too_long(self, command: str, data: bytes) -> ReplyTooLongError:
        return ReplyTooLongError(
            self.name,
            f"reply longer than the {self.max_reply_bytes}-byte maximum ({len(data)} bytes arrived)",
            command=command,
            received=data,
        )

    # -- typed queries -----------------------------------------------------------------------
    def query_float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentReplyError(self.name, "expected a number", command=command, reply=reply) from None

    def query_int(self, command: str) -> int:
        reply = self.query(command)
        try:
            return int(float(reply))
        except ValueError:
            raise InstrumentReplyError(self.name, "expected an integer", command=command, reply=reply) from None

    def query_bool(self, command: str) -> bool:
        reply = self.query(command).upper()
        if reply in ("1", "ON"):
            return True
        if reply in ("0", "OFF"):
            return False
        raise InstrumentReplyError(self.name, "expected 0/1 or ON/OFF", command=command, reply=reply)

    def errors(self, limit: int = 20) -> list[tuple[int, str]]:
        """Drain the error queue (bounded); [] when empty."""
        found: list[tuple[int, str]] = []
        for _ in range(limit):
            reply = self.query(self.error_query)
            m = _ERR_RE.match(reply)
            if not m:
                raise InstrumentReplyError(
                    self.name, "unparseable error-queue entry", command=self.error_query, reply=reply
                )
            code = int(m.group(1))
            if code in self.no_error_codes:
                return found
            found.append((code, m.group(2)))
        return found

    def check(self, command: str) -> None:
        """Raise if the instrument queued an error after `command`."""
        errs = self.errors()
        if errs:
            text = "; ".join(f'{c},"{t}"' for c, t in errs)
            raise InstrumentError(self.name, "instrument reported an error", command=command, reply=text)

    def write_checked(self, command: str) -> None:
        self.write(command)
        self.check(command)

    def close(self) -> None:
        try:
            self._res.close()
        except Exception:  # closing a dead session must not mask the original problem
            pass

    def _io_error(self, exc: pyvisa.errors.VisaIOError, command: str) -> InstrumentError:
        if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            return InstrumentTimeout(self.name, f"no reply within {self.timeout_s * 1000:g} ms", command=command)
        return InstrumentError(self.name, f"VISA I/O error: {exc.description}", command=command)


def _raw_socket(res: Any) -> socket.socket | None:
    """The TCP socket under a pyvisa-py raw-socket session; None for any other VISA library."""
    try:
        sess = res.visalib.sessions[res.session]
    except Exception:  # another VISA library (NI-VISA, Keysight IO): it owns its sockets
        return None
    sock = getattr(sess, "interface", None)
    return sock if isinstance(sock, socket.socket) else None
