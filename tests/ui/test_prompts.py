"""Prompts answered through the journal: validation, first answer wins, terminal and page, bounded waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bench.journal import Journal
from bench.prompts import JournalChannel, Prompter, PromptError, make_spec, validate_answer


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    j.start_run("r1", plan="p")
    return j


def _prompter(journal: Journal, events: list, **kw) -> Prompter:
    return Prompter(
        {},
        interactive=kw.pop("interactive", False),
        journal_event=lambda *a: events.append(a),
        channel=JournalChannel(journal, "r1", lambda: "plan::step", lambda: 12.0),
        operator="Op",
        **kw,
    )


@pytest.mark.parametrize(
    ("spec", "text", "error"),
    [
        (make_spec(["yes", "no"]), "maybe", "not one of ['yes', 'no']"),
        (make_spec(number=True, low=0, high=10), "11", "above the maximum 10"),
        (make_spec(number=True), "nan", "finite number"),
        (make_spec(number=True), "ten", "expected a number"),
        (make_spec(pattern=r"[A-Z]{2}-\d+"), "ab-1", "expected form"),
        (make_spec(confirm="RELEASED"), "released", "type 'RELEASED' exactly"),
        (make_spec(), "x" * 501, "too long"),
        (make_spec(), "a\x1b[2Jb", "control characters"),
    ],
)
def test_invalid_answers_are_refused_with_what_is_expected(spec, text, error):
    with pytest.raises(PromptError, match=error.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        validate_answer(spec, text)


def test_valid_answers_are_stripped():
    assert validate_answer(make_spec(number=True, low=0), " 3.5 ") == "3.5"
    assert validate_answer(make_spec(confirm="RELEASED"), "RELEASED") == "RELEASED"


def test_a_page_answer_is_taken_and_journalled_once_with_who_and_where(journal):
    events: list = []
    p = _prompter(journal, events, wait_s=10, poll_s=0.02)

    def answer_from_page():
        for _ in range(500):  # bounded
            reqs = journal.requests("r1", open_only=True)
            if reqs:
                other = Journal(journal.path)  # another connection, as bench ui in another process
                assert other.answer_request(reqs[0]["id"], "no", by="Pat Page", origin="bench ui (127.0.0.1)")["won"]
                assert not other.answer_request(reqs[0]["id"], "yes", by="Late", origin="bench ui")["won"]
                return
            time.sleep(0.01)

    t = threading.Thread(target=answer_from_page)
    t.start()
    assert p("visual.ok", "Undamaged?", ["yes", "no"]) == "no"
    t.join()
    assert len(events) == 1
    kind, message, data = events[0]
    assert kind == "prompt" and data["answered_by"] == "Pat Page" and data["origin"] == "bench ui (127.0.0.1)"
    req = journal.requests("r1")[0]
    assert (req["step"], req["t"], req["open"], req["answer"]) == ("plan::step", 12.0, False, "no")


def test_terminal_answer_wins_over_a_later_page_answer(journal):
    events: list = []
    asked = []
    p = _prompter(journal, events, interactive=True, wait_s=10, poll_s=0.01)
    p._ask = lambda q: asked.append(q) or ("nope" if len(asked) == 1 else "yes")
    assert p("k", "Ready?", ["yes", "no"]) == "yes"
    assert len(asked) == 2  # the invalid answer asked again
    rid = journal.requests("r1")[0]["id"]
    assert not journal.answer_request(rid, "no", by="Pat", origin="bench ui")["won"]
    assert events[0][2]["origin"] == "terminal" and events[0][2]["answered_by"] == "Op"


def test_unanswered_prompt_times_out_and_is_withdrawn(journal):
    p = _prompter(journal, [], wait_s=0.1, poll_s=0.02)
    with pytest.raises(PromptError, match="no answer to prompt"):
        p("k", "Anyone?")
    req = journal.requests("r1")[0]
    assert req["withdrawn"] and not req["open"]
    assert not journal.answer_request(req["id"], "late", by="x", origin="bench ui")["won"]


def test_without_a_wait_or_terminal_the_prompt_fails_at_once_naming_the_key(journal):
    p = _prompter(journal, [], wait_s=0)
    with pytest.raises(PromptError, match="'visual.ok'.*--prompt-wait"):
        p("visual.ok", "Undamaged?")
    assert journal.requests("r1") == []


def test_an_abort_while_waiting_withdraws_the_prompt(journal):
    def on_wait():
        raise KeyboardInterrupt("abort requested by X")

    p = _prompter(journal, [], wait_s=10, on_wait=on_wait)
    with pytest.raises(KeyboardInterrupt):
        p("k", "Ready?")
    assert journal.requests("r1")[0]["withdrawn"]


def test_prepared_answer_is_validated(journal):
    p = Prompter({"k": "maybe"}, interactive=False, journal_event=lambda *a: None)
    with pytest.raises(PromptError, match="prepared answer to prompt 'k' refused"):
        p("k", "Ready?", ["yes", "no"])
