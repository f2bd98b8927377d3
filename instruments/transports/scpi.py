"""SCPI over VISA (pyvisa + pyvisa-py): raw sockets (port 5025), USBTMC, GPIB, serial.

Every setting command can be followed by a read of the error queue, so a refused setting is
raised at once, naming the instrument, the command and the instrument's own error text.
Timeouts raise InstrumentTimeout rather than hang. The last exchanges are kept for diagnosis.
"""

from __future__ import annotations

import re
import socket
from collections import deque
from typing import Any

import pyvisa
import pyvisa.errors

from instruments.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout

_RMS: dict[str, pyvisa.ResourceManager] = {}
_ERR_RE = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')


def resource_manager(library: str = "@py") -> pyvisa.ResourceManager:
    rm = _RMS.get(library)
    if rm is None:
        rm = _RMS[library] = pyvisa.ResourceManager(library)
    return rm


class ScpiConnection:
    """One open VISA session speaking SCPI text."""

    def __init__(self, resource: str, *, name: str, timeout_s: float = 2.0, read_termination: str = "\n",
                 write_termination: str = "\n", visa_library: str = "@py", error_query: str = "SYST:ERR?",
                 no_error_codes: tuple[int, ...] = (0,)) -> None:
        self.name = name
        self.resource_name = resource
        self.error_query = error_query
        self.no_error_codes = no_error_codes
        self.trace: deque[tuple[str, str | None]] = deque(maxlen=50)
        try:
            self._res: Any = resource_manager(visa_library).open_resource(
                resource, read_termination=read_termination, write_termination=write_termination,
                timeout=int(timeout_s * 1000), open_timeout=int(timeout_s * 1000))
        except (pyvisa.errors.VisaIOError, OSError, ValueError) as exc:
            raise InstrumentError(name, f"cannot open VISA resource {resource!r}: {exc}") from exc
        if resource.upper().endswith("::SOCKET"):
            self._set_nodelay()

    def _set_nodelay(self) -> None:
        """Disable Nagle on raw sockets: a setting followed by SYST:ERR? otherwise stalls ~40 ms on
        delayed ACKs. pyvisa-py 0.8 mis-wires the VI_ATTR_TCPIP_NODELAY setter, so set the socket."""
        try:
            sess = self._res.visalib.sessions[self._res.session]
            sess.interface.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:  # another VISA library: it manages its own socket options
            pass

    def write(self, command: str) -> None:
        self.trace.append((command, None))
        try:
            self._res.write(command)
        except pyvisa.errors.VisaIOError as exc:
            raise self._io_error(exc, command) from exc
        except OSError as exc:
            raise InstrumentError(self.name, f"connection lost: {exc}", command=command) from exc

    def query(self, command: str) -> str:
        try:
            reply = self._res.query(command)
        except pyvisa.errors.VisaIOError as exc:
            self.trace.append((command, "<no reply>"))
            raise self._io_error(exc, command) from exc
        except UnicodeDecodeError as exc:
            self.trace.append((command, "<undecodable>"))
            raise InstrumentReplyError(self.name, f"reply is not text: {exc}", command=command) from exc
        except OSError as exc:
            raise InstrumentError(self.name, f"connection lost: {exc}", command=command) from exc
        reply = reply.strip()
        self.trace.append((command, reply))
        return reply

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
                raise InstrumentReplyError(self.name, "unparseable error-queue entry", command=self.error_query,
                                           reply=reply)
            code = int(m.group(1))
            if code in self.no_error_codes:
                return found
            found.append((code, m.group(2)))
        return found

    def check(self, command: str) -> None:
        """Raise if the instrument queued an error after `command`."""
        errs = self.errors()
        if errs:
            text = "; ".join(f"{c},\"{t}\"" for c, t in errs)
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
            return InstrumentTimeout(self.name, f"no reply within {self._res.timeout} ms", command=command)
        return InstrumentError(self.name, f"VISA I/O error: {exc.description}", command=command)
