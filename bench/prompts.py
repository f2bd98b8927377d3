"""Operator prompts: a typed answer at the bench, an answers file on site, the station in simulation.

A prompt never blocks CI: in simulation the answer comes from `[simulation.prompts]` of the
station file; without a terminal and without a prepared answer it is an error naming the key.
Every question and answer is journalled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bench.errors import BenchError


class PromptError(BenchError):
    pass


class Prompter:
    def __init__(self, answers: dict[str, Any], *, interactive: bool, journal_event: Callable[..., None],
                 source: str = "", ask: Callable[[str], str] | None = None) -> None:
        self.answers = {str(k): v for k, v in answers.items()}
        self.interactive = interactive
        self.journal_event = journal_event
        self.source = source
        self._ask = ask or input

    def __call__(self, key: str, question: str, choices: list[str] | None = None) -> str:
        if key in self.answers:
            answer = str(self.answers[key])
            origin = f"prepared answer ({self.source})"
        elif self.interactive and sys.stdin is not None and sys.stdin.isatty():
            answer = self._interactive(question, choices)
            origin = "operator"
        else:
            raise PromptError(
                f"operator prompt {key!r} ({question}) has no answer: add it under [simulation.prompts] in the "
                f"station file or pass --answers FILE with {key} = \"...\"")
        if choices and answer not in choices:
            raise PromptError(f"answer {answer!r} to prompt {key!r} is not one of {choices} ({origin})")
        self.journal_event("prompt", f"{question} -> {answer}", {"key": key, "question": question, "answer": answer,
                                                                  "choices": choices, "origin": origin})
        return answer

    def _interactive(self, question: str, choices: list[str] | None) -> str:
        hint = f" [{'/'.join(choices)}]" if choices else ""
        for _ in range(10):  # bounded: an operator who cannot answer ends the step with an error
            answer = self._ask(f"\n>>> {question}{hint}: ").strip()
            if not choices or answer in choices:
                return answer
            print(f"please answer one of {choices}")
        raise PromptError(f"no valid answer to {question!r} after 10 tries")
