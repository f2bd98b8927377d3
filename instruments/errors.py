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
