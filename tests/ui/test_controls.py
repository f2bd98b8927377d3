"""Abort requests reach a running session on its own clock (virtual time in simulation), and live
status is published for viewers; requests of an earlier session or after the end are not honoured."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bench.clock import SimClock
from bench.journal import Journal
from bench.live.controls import RunControls
from bench.units import Q_


class Aborted(BaseException):
    pass


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j.sqlite")
    j.start_run("r1", plan="p")
    return j


def test_abort_request_is_raised_inside_the_clock_sleep_in_virtual_time(journal):
    clock = SimClock(max_step=Q_(1, "s"))
    journal.request_abort("r1", by="Old Session", origin="bench ui", reason="before this session")
    got: list = []

    def abort(reason, request):
        got.append((clock.now_s(), reason, request))
        raise Aborted(reason)

    events: list = []
    controls = RunControls(journal, "r1", clock, abort=abort, event=lambda *a: events.append(a), poll_wall_s=0.0)
    controls.start()
    clock.advance(30.0)
    assert got == [], "a request made before the session started is not this session's"
    other = Journal(journal.path)  # the viewer's own connection
    other.request_abort("r1", by="Ada Abort", origin="bench ui (127.0.0.1)", reason="smoke")
    with pytest.raises(Aborted, match="abort requested by Ada Abort \\(bench ui \\(127.0.0.1\\)\\): smoke"):
        clock.advance(3600.0)
    t, _, request = got[0]
    assert 30.0 < t <= 32.0 and request["requested_by"] == "Ada Abort"
    assert journal.live("r1")["clock"]["data"]["virtual"] is True
    controls.stop()
    assert events == []  # honoured: the session journals it (abort_request event), not the poll


def test_backstop_thread_delivers_an_abort_while_the_clock_stands_still(journal):
    clock = SimClock(max_step=Q_(1, "s"))
    got = threading.Event()
    controls = RunControls(journal, "r1", clock, abort=lambda reason, request: got.set(), event=lambda *a: None)
    controls.start()
    journal.request_abort("r1", by="Pat", origin="bench ui")
    assert got.wait(10), "no abort from the wall-time backstop while virtual time was frozen"
    controls.stop()


def test_abort_request_after_the_last_step_is_journalled_not_honoured(journal):
    clock = SimClock(max_step=Q_(1, "s"))
    events: list = []
    controls = RunControls(
        journal, "r1", clock, abort=lambda *a: pytest.fail("honoured"), event=lambda *a: events.append(a)
    ).start()
    controls._stop.set()  # the plan has finished; the session is closing
    journal.request_abort("r1", by="Late Larry", origin="bench ui")
    time.sleep(0.05)
    controls.stop()
    assert events and events[0][0] == "abort_request" and events[0][2]["honoured"] is False
    assert "Late Larry" in events[0][1]


def test_interlock_margins_published_at_most_every_publish_interval(journal):
    clock = SimClock(max_step=Q_(1, "s"))
    controls = RunControls(journal, "r1", clock, abort=lambda *a: None, event=lambda *a: None, publish_s=60.0)
    calls = []

    def margins():
        calls.append(1)
        return [{"interlock": "cell_voltage", "side": "max", "margin_value": 0.1}]

    for _ in range(100):
        controls.publish_interlocks(margins)
    assert len(calls) == 1, "margins are computed only when published"
    assert journal.live("r1")["interlocks"]["data"]["margins"][0]["interlock"] == "cell_voltage"
