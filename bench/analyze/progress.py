"""Terminal progress for long inputs: one line per phase, a live counter while loading."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Writes to stderr (a TTY gets an in-place counter); `Progress(None)` is silent."""

    def __init__(self, stream: TextIO | None = sys.stderr, *, min_interval_s: float = 0.5):
        self.stream = stream
        self.min_interval_s = min_interval_s
        self._t0 = time.perf_counter()
        self._phase_t = self._t0
        self._last = 0.0
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def phase(self, text: str) -> None:
        """Start a named phase; prints the elapsed time of the whole run."""
        self._phase_t = time.perf_counter()
        self._write(f"[{self._phase_t - self._t0:7.1f} s] {text}\n")

    def update(self, text: str) -> None:
        """A counter inside a phase, rate-limited so printing never costs time."""
        now = time.perf_counter()
        if now - self._last < self.min_interval_s:
            return
        self._last = now
        if self._tty:
            self._write(f"\r          {text}\x1b[K")
        elif now - self._phase_t > 5.0:
            self._write(f"          {text}\n")
            self._phase_t = now

    def done(self, text: str) -> None:
        if self._tty:
            self._write("\r\x1b[K")
        self._write(f"[{time.perf_counter() - self._t0:7.1f} s] {text}\n")

    def _write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()


SILENT = Progress(None)
