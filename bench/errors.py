"""Error types shared across the bench; each names where the problem is (file, key, instrument)."""

from __future__ import annotations


class BenchError(Exception):
    """Base of every error the bench raises on purpose."""


class ConfigError(BenchError):
    """A problem in a config file (station, limit set, profile), located by file and key."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        where = ":".join(p for p in (source, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigErrors(BenchError):
    """Several config problems reported at once, so a user fixes a file in one pass."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} problem(s):\n{lines}")


class RequirementFailed(BenchError):
    """A `require(...)` measurement did not pass: the plan stops here."""
