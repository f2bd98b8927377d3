"""SCPI transport: one deadline for the whole reply, a maximum reply length, no hidden global.

Against scripted servers on 127.0.0.1 (tests/instruments/scripted_scpi.py). No assertion on
elapsed time: the deadline is proven by what arrived before the error (a prefix of a trickle
far longer than the deadline allows), never by a clock.
"""

from __future__ import annotations

import pytest
from scripted_scpi import SILENT, Late, ScriptedScpiServer, Trickle

from instruments.errors import InstrumentTimeout, ReplyDeadlineError, ReplyTooLongError
from instruments.transports.scpi import ScpiConnection

IDN = ("*IDN?", "Maker,Model,SN1,1.0")
TRICKLE = b"1" * 400  # at 20 ms a byte: 8 s to send in full, never a terminator


def _open(server: ScriptedScpiServer, timeout_s: float = 0.3, **kw) -> ScpiConnection:
    conn = ScpiConnection(server.resource, name="psu", timeout_s=timeout_s, **kw)
    assert conn.query("*IDN?") == "Maker,Model,SN1,1.0"
    return conn


def test_a_trickle_without_terminator_ends_at_the_reply_deadline_naming_what_arrived() -> None:
    with ScriptedScpiServer([IDN, ("MEAS:VOLT?", Trickle(TRICKLE, 0.02))]) as srv:
        conn = _open(srv)
        try:
            with pytest.raises(ReplyDeadlineError) as exc:
                conn.query("MEAS:VOLT?")
        finally:
            conn.close()
    err = exc.value
    assert isinstance(err, InstrumentTimeout)  # callers catching timeouts still catch it
    assert err.instrument == "psu" and err.command == "MEAS:VOLT?"
    assert 0 < len(err.received) < len(TRICKLE) and TRICKLE.startswith(err.received)
    assert "bytes arrived without the terminator" in str(err) and "MEAS:VOLT?" in str(err)
    assert err.reply == err.received.decode()


def test_silence_is_a_deadline_error_saying_nothing_arrived() -> None:
    with ScriptedScpiServer([IDN, ("MEAS:CURR?", SILENT)]) as srv:
        conn = _open(srv)
        try:
            with pytest.raises(ReplyDeadlineError, match=r"psu: no reply within 300 ms; command 'MEAS:CURR\?'"):
                conn.query("MEAS:CURR?")
        finally:
            conn.close()


def test_a_stream_longer_than_the_maximum_reply_is_refused_with_its_start() -> None:
    flood = b"A" * 5000 + b"\n"
    with ScriptedScpiServer([IDN, ("FETC?", flood)]) as srv:
        conn = _open(srv, max_reply_bytes=1024)
        try:
            with pytest.raises(ReplyTooLongError) as exc:
                conn.query("FETC?")
        finally:
            conn.close()
    err = exc.value
    assert err.command == "FETC?" and len(err.received) > 1024 and set(err.received) == {ord("A")}
    assert "1024-byte maximum" in str(err) and "bytes)" in err.reply


def test_a_reply_of_exactly_the_maximum_length_is_accepted() -> None:
    with ScriptedScpiServer([IDN, ("FETC?", "B" * 1024), ("FETC?", "C" * 1025)]) as srv:
        conn = _open(srv, max_reply_bytes=1024)
        try:
            assert conn.query("FETC?") == "B" * 1024
            with pytest.raises(ReplyTooLongError):
                conn.query("FETC?")
        finally:
            conn.close()


def test_a_late_reply_is_discarded_not_taken_as_the_next_answer() -> None:
    with ScriptedScpiServer([IDN, ("VOLT?", Late("12.5", 0.6)), ("CURR?", "3.0")]) as srv:
        conn = _open(srv)
        try:
            with pytest.raises(ReplyDeadlineError):
                conn.query("VOLT?")
            assert srv.wait_sent(2)  # the late "12.5" is on its way before the next question
            assert conn.query("CURR?") == "3.0"
        finally:
            conn.close()
        assert srv.done


def test_other_visa_sessions_read_in_bounded_chunks_with_the_same_errors() -> None:
    """The path for USBTMC/GPIB/serial/NI-VISA sessions, exercised here on a socket session."""
    script = [IDN, ("A?", "x" * 700), ("B?", SILENT), ("C?", b"D" * 3000 + b"\n")]
    with ScriptedScpiServer(script) as srv:
        conn = ScpiConnection(srv.resource, name="dmm", timeout_s=0.3, max_reply_bytes=1000)
        conn._sock = None  # as if the VISA library owned its socket
        try:
            assert conn.query("*IDN?") == "Maker,Model,SN1,1.0"
            assert conn.query("A?") == "x" * 700
            with pytest.raises(ReplyDeadlineError, match="dmm: no reply within 300 ms"):
                conn.query("B?")
            with pytest.raises(ReplyTooLongError):
                conn.query("C?")
        finally:
            conn.close()


def test_connections_share_pyvisas_manager_and_closing_one_leaves_the_other_working() -> None:
    with ScriptedScpiServer([IDN]) as a, ScriptedScpiServer([IDN, IDN]) as b:
        first, second = _open(a), _open(b)
        try:
            assert first._rm is second._rm  # pyvisa keeps one manager per VISA library
            first.close()
            assert second.query("*IDN?") == "Maker,Model,SN1,1.0"
        finally:
            second.close()
        assert a.done and b.done


def test_a_connection_opens_through_the_manager_it_is_given() -> None:
    class Recording:
        def __init__(self) -> None:
            import pyvisa

            self.rm = pyvisa.ResourceManager("@py")
            self.opened: list[str] = []

        def open_resource(self, resource: str, **kw):
            self.opened.append(resource)
            return self.rm.open_resource(resource, **kw)

    rm = Recording()
    with ScriptedScpiServer([IDN]) as srv:
        resource = srv.resource
        conn = ScpiConnection(srv.resource, name="psu", timeout_s=0.3, resource_manager=rm)  # type: ignore[arg-type]
        try:
            assert conn.query("*IDN?") == "Maker,Model,SN1,1.0"
        finally:
            conn.close()
    assert rm.opened == [resource]
