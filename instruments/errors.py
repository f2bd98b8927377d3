"""Instrument errors that name the instrument, the command or register, and the reply."""

from __future__ import annotations


class InstrumentError(Exception):
    """An instrument refused, garbled or did not answer a command."""

    def __init__(self, instrument: str, message: str, *, command: str | None = None, reply: str | None = None):
        self.instrument = instrument
        self.command = command
        self.reply = reply
        parts = [f"{instrument}: {message}"]
        if command is not None:
            parts.append(f"command {command!r}")
        if reply is not None:
            parts.append(f"reply {reply!r}")
        super().__init__("; ".join(parts))


class InstrumentTimeout(InstrumentError):
    """No answer within the instrument's timeout."""


class InstrumentReplyError(InstrumentError):
    """An answer that cannot be parsed as what was asked for."""


class InstrumentRangeError(InstrumentError):
    """A setting outside what the instrument (or its configured limits) accepts; never sent."""


class ReplyDeadlineError(InstrumentTimeout):
    """The whole reply (up to its terminator) did not arrive within the deadline.

    The deadline covers the reply as a whole, so an instrument trickling bytes without ever
    sending the terminator cannot hold a driver longer than its timeout. `received` is what did
    arrive (possibly nothing), `reply` a printable excerpt of it.
    """

    def __init__(self, instrument: str, message: str, *, command: str | None = None, received: bytes = b""):
        self.received = received
        super().__init__(instrument, message, command=command, reply=excerpt(received) if received else None)


class ReplyTooLongError(InstrumentReplyError):
    """More bytes than the connection's maximum reply length arrived without a terminator.

    Guards memory against an instrument (or a wrong port) streaming without end; `received`
    holds the first bytes, `reply` a printable excerpt of them.
    """

    def __init__(self, instrument: str, message: str, *, command: str | None = None, received: bytes = b""):
        self.received = received
        super().__init__(instrument, message, command=command, reply=excerpt(received))


def excerpt(data: bytes, limit: int = 120) -> str:
    """Printable start of raw reply bytes, with the total length when cut."""
    text = data[:limit].decode("ascii", errors="backslashreplace")
    return text if len(data) <= limit else f"{text}... ({len(data)} bytes)"
