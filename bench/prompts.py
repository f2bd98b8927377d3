"""Operator prompts: a prepared answer, the terminal, or any `bench ui` page; the first answer wins.

Where an answer comes from, in order:

* a prepared answer: `[simulation.prompts]` of a simulated station, or `--answers FILE`;
* otherwise the question is opened as a request in the run journal, where every viewer of the run
  sees it (`bench ui`, on this machine or another), and the prompt waits for the first valid
  answer from the terminal (when the bench runs on one) or from a page. The journal keeps one
  answer row per request (UNIQUE), so two answers arriving together cannot both win; the answer,
  who gave it and where are journalled once, as a `prompt` event, by the process running the plan.

A prompt never blocks CI: in simulation it does not wait at all unless `--prompt-wait` says so
(an unanswered prompt is then an error naming the key); on hardware it waits `HARDWARE_WAIT_S`
unless told otherwise (the step time limit may cut it shorter). While it waits it keeps polling
for an abort request (`on_wait`), so an abort pressed in a page is honoured at a prompt too.
"""

from __future__ import annotations

import math
import os
import queue
import re
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from bench.errors import BenchError

HARDWARE_WAIT_S = 12 * 3600.0  # a prompt on hardware waits this long for the terminal or a page by default
MAX_ANSWER_LENGTH = 500
POLL_S = 0.2  # how often a waiting prompt looks for an answer in the journal (wall time)


class PromptError(BenchError):
    pass


def make_spec(
    choices: list[str] | None = None,
    *,
    number: bool = False,
    low: float | None = None,
    high: float | None = None,
    pattern: str | None = None,
    confirm: str | None = None,
) -> dict[str, Any]:
    """The journalled shape of an expected answer, read by every validator (terminal, page, plan)."""
    spec: dict[str, Any] = {"type": "number" if number else "choice" if choices else "text"}
    if choices:
        spec["choices"] = [str(c) for c in choices]
    if number:
        for name, v in (("min", low), ("max", high)):
            if v is not None:
                if not math.isfinite(float(v)):
                    raise PromptError(f"prompt bound {name} must be finite, got {v!r}")
                spec[name] = float(v)
    if pattern is not None:
        re.compile(pattern)  # a bad pattern is the plan's bug: raise now, not at the operator
        spec["pattern"] = pattern
    if confirm is not None:
        spec["confirm"] = str(confirm)
    return spec


def validate_answer(spec: dict[str, Any], text: Any) -> str:
    """The answer as it will be journalled (stripped), or PromptError saying what is expected."""
    if not isinstance(text, str):
        raise PromptError(f"an answer is text, got {type(text).__name__}")
    answer = text.strip()
    if len(answer) > MAX_ANSWER_LENGTH:
        raise PromptError(f"answer too long ({len(answer)} characters; at most {MAX_ANSWER_LENGTH})")
    if any(ord(c) < 32 or ord(c) == 127 for c in answer):
        raise PromptError("answer contains control characters")
    choices = spec.get("choices")
    if choices and answer not in choices:
        raise PromptError(f"answer {answer!r} is not one of {choices}")
    if spec.get("type") == "number":
        try:
            value = float(answer)
        except ValueError:
            raise PromptError(f"expected a number, got {answer!r}") from None
        if not math.isfinite(value):
            raise PromptError(f"expected a finite number, got {answer!r}")
        if "min" in spec and value < spec["min"]:
            raise PromptError(f"{answer} is below the minimum {spec['min']:g}")
        if "max" in spec and value > spec["max"]:
            raise PromptError(f"{answer} is above the maximum {spec['max']:g}")
    if "pattern" in spec and not re.fullmatch(spec["pattern"], answer):
        raise PromptError(f"answer {answer!r} does not have the expected form ({spec['pattern']})")
    if "confirm" in spec and answer != spec["confirm"]:
        raise PromptError(f"type {spec['confirm']!r} exactly to confirm")
    return answer


class RequestChannel(Protocol):
    """Where prompts are opened for other viewers and their answers read (the run journal)."""

    def open(self, key: str, question: str, spec: dict[str, Any]) -> int: ...
    def resolution(self, request_id: int) -> dict[str, Any] | None: ...
    def answer(self, request_id: int, answer: str, *, by: str, origin: str) -> dict[str, Any]: ...
    def withdraw(self, request_id: int, reason: str) -> dict[str, Any]: ...


class JournalChannel:
    """Requests and answers in the run journal, so a viewer in another process can answer."""

    def __init__(self, journal: Any, run_id: str, step: Callable[[], str | None], now_s: Callable[[], float]) -> None:
        self.journal = journal
        self.run_id = run_id
        self.step = step
        self.now_s = now_s

    def open(self, key: str, question: str, spec: dict[str, Any]) -> int:
        return int(self.journal.open_request(self.run_id, key, question, spec, step=self.step(), t=self.now_s()))

    def resolution(self, request_id: int) -> dict[str, Any] | None:
        return self.journal.resolution(request_id)

    def answer(self, request_id: int, answer: str, *, by: str, origin: str) -> dict[str, Any]:
        return self.journal.answer_request(request_id, answer, by=by, origin=origin)

    def withdraw(self, request_id: int, reason: str) -> dict[str, Any]:
        return self.journal.withdraw_request(request_id, reason)


class _StdinLines:
    """One reader thread per input stream turning terminal lines into a queue, so a prompt can wait
    for the terminal and the journal at once (a blocked input() cannot be abandoned). It reads the
    file descriptor with a timeout, so it can be stopped and the stream closed (`release_terminal`)."""

    _instances: dict[int, _StdinLines] = {}
    _lock = threading.Lock()

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.eof = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prompt-stdin", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):
            self.lines.put(None)
            return
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.25)
                chunk = os.read(fd, 4096) if ready else None
            except (OSError, ValueError):
                chunk = b""
            if chunk is None:
                continue
            if not chunk:  # end of input: the terminal is gone
                self.lines.put(None)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self.lines.put(line.decode("utf-8", "replace").rstrip("\r"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    @classmethod
    def get(cls, stream: TextIO) -> _StdinLines:
        with cls._lock:
            if id(stream) not in cls._instances:
                cls._instances[id(stream)] = cls(stream)
            return cls._instances[id(stream)]

    @classmethod
    def release(cls, stream: TextIO) -> None:
        with cls._lock:
            reader = cls._instances.pop(id(stream), None)
        if reader is not None:
            reader.stop()

    def drain(self) -> None:
        while True:
            try:
                self.lines.get_nowait()
            except queue.Empty:
                return


def release_terminal(stream: TextIO) -> None:
    """Stop reading `stream` for prompts (before closing it)."""
    _StdinLines.release(stream)


Listener = Callable[[str, dict[str, Any]], None]  # ("open" | "close", request)


class Prompter:
    def __init__(
        self,
        answers: dict[str, Any],
        *,
        interactive: bool,
        journal_event: Callable[..., None],
        source: str = "",
        ask: Callable[[str], str] | None = None,
        channel: RequestChannel | None = None,
        wait_s: float = 0.0,
        operator: str = "",
        poll_s: float = POLL_S,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        """`ask` replaces the terminal (tests); `channel` opens requests other viewers can answer;
        `wait_s` is how long an unprepared prompt waits for an answer (0: not at all, unless at a terminal)."""
        self.answers = {str(k): v for k, v in answers.items()}
        self.interactive = interactive
        self.journal_event = journal_event
        self.source = source
        self._ask = ask
        self.channel = channel
        self.wait_s = float(wait_s)
        self.operator = operator
        self.poll_s = poll_s
        self.on_wait = on_wait
        self.listeners: list[Listener] = []
        # The operator's terminal. pytest replaces sys.stdin/stdout while a step runs, so the bench's
        # terminal view hands the real ones over (bench.live.pytest_live); plain use keeps sys's.
        self.terminal_in: TextIO | None = None
        self.terminal_out: TextIO | None = None

    def _in(self) -> TextIO | None:
        return self.terminal_in or sys.stdin

    def _say(self, text: str, end: str = "\n") -> None:
        out = self.terminal_out or sys.stdout
        print(text, end=end, file=out, flush=True)

    def _terminal(self) -> bool:
        if not self.interactive:
            return False
        if self._ask is not None:
            return True
        stream = self._in()
        try:
            return stream is not None and stream.isatty()
        except (OSError, ValueError):
            return False

    def __call__(
        self,
        key: str,
        question: str,
        choices: list[str] | None = None,
        *,
        number: bool = False,
        low: float | None = None,
        high: float | None = None,
        pattern: str | None = None,
        confirm: str | None = None,
    ) -> str:
        """Ask and return the answer (validated against the choices, number range, pattern or confirmation)."""
        spec = make_spec(choices, number=number, low=low, high=high, pattern=pattern, confirm=confirm)
        if key in self.answers:
            origin = f"prepared answer ({self.source})"
            try:
                answer = validate_answer(spec, str(self.answers[key]))
            except PromptError as exc:
                raise PromptError(f"prepared answer to prompt {key!r} refused: {exc} ({origin})") from None
            by = ""
        else:
            answer, by, origin = self._wait_for_answer(key, question, spec)
        self.journal_event(
            "prompt",
            f"{question} -> {answer}",
            {
                "key": key,
                "question": question,
                "answer": answer,
                "choices": choices,
                "spec": spec,
                "origin": origin,
                "answered_by": by,
            },
        )
        return answer

    def _wait_for_answer(self, key: str, question: str, spec: dict[str, Any]) -> tuple[str, str, str]:
        terminal = self._terminal()
        remote = self.channel is not None and self.wait_s > 0
        if not terminal and not remote:
            raise PromptError(
                f"operator prompt {key!r} ({question}) has no answer: add it under [simulation.prompts] in the "
                f'station file, pass --answers FILE with {key} = "...", or let it wait for an answer in '
                "`bench ui` with --prompt-wait DURATION"
            )
        limit = self.wait_s if remote else HARDWARE_WAIT_S
        rid = self.channel.open(key, question, spec) if self.channel is not None else None
        request = {"id": rid, "key": key, "question": question, "spec": spec}
        for listener in list(self.listeners):
            listener("open", request)
        resolved = False
        try:
            result = self._loop(rid, question, spec, terminal, limit)
            resolved = True
            return result
        finally:
            if rid is not None and not resolved and self.channel is not None:
                try:
                    self.channel.withdraw(rid, "the prompt was abandoned (timeout, abort or error)")
                except Exception:  # noqa: BLE001 - the reason we are leaving matters more
                    pass
            for listener in list(self.listeners):
                listener("close", request)

    def _loop(
        self, rid: int | None, question: str, spec: dict[str, Any], terminal: bool, limit: float
    ) -> tuple[str, str, str]:
        hint = f" [{'/'.join(spec['choices'])}]" if spec.get("choices") else ""
        if "confirm" in spec:
            hint += f" (type {spec['confirm']!r})"
        where = " (or answer in bench ui)" if rid is not None else ""
        lines: _StdinLines | None = None
        stream = self._in()
        if terminal and self._ask is None and stream is not None and not _StdinLines.get(stream).eof:
            lines = _StdinLines.get(stream)
            lines.drain()
            self._say(f"\n>>> {question}{hint}{where}: ", end="")
        deadline = time.monotonic() + limit
        tries = 0
        while True:  # bounded: by the deadline, and by 10 invalid answers at the terminal
            if self.on_wait is not None:
                self.on_wait()
            if rid is not None and self.channel is not None:
                got = self.channel.resolution(rid)
                if got is not None:
                    return self._outcome(got, terminal)
            text: str | None = None
            if terminal and self._ask is not None:
                text = self._ask(f"\n>>> {question}{hint}{where}: ")
            elif lines is not None:
                try:
                    text = lines.lines.get(timeout=self.poll_s)
                except queue.Empty:
                    text = None
                else:
                    if text is None:  # end of input: the terminal is gone; a page may still answer
                        lines.eof = True
                        lines = None
                        if rid is None or self.wait_s <= 0:
                            raise PromptError(f"terminal closed before prompt {question!r} was answered")
            else:
                time.sleep(self.poll_s)
            if text is not None:
                try:
                    answer = validate_answer(spec, text)
                except PromptError as exc:
                    tries += 1
                    if tries >= 10:
                        raise PromptError(f"no valid answer to {question!r} after 10 tries") from None
                    self._say(f"{exc}; please answer again{hint}: ", end="")
                    continue
                origin = "terminal"
                if rid is None or self.channel is None:
                    return answer, self.operator, origin
                return self._outcome(self.channel.answer(rid, answer, by=self.operator, origin=origin), terminal)
            if time.monotonic() >= deadline:
                raise PromptError(f"no answer to prompt {question!r} within {limit:g} s (wall time)")

    def _outcome(self, got: dict[str, Any], terminal: bool) -> tuple[str, str, str]:
        if got.get("withdrawn"):
            raise PromptError(f"prompt withdrawn: {got.get('origin')}")
        answer, by, origin = str(got["answer"]), str(got.get("answered_by") or ""), str(got.get("origin") or "")
        if terminal and origin != "terminal":
            self._say(f"\n(answered in {origin} by {by or 'unknown'}: {answer})")
        return answer, by, origin
