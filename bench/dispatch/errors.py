"""Named errors of the dispatch optimiser, so a caller (and a test) can tell one failure from another.

Input problems are ConfigErrors (file and key); a problem the solver finds is a DispatchSolveError
naming the constraint family at fault, never an empty schedule.
"""

from __future__ import annotations

from bench.errors import BenchError, ConfigError


class LoadDataError(ConfigError):
    """The load file cannot be used as it is: missing intervals, negative load, irregular steps, bad values."""


class TariffCoverageError(ConfigError):
    """A time of the year is covered by no time-of-use energy period, or by more than one."""


class SocWindowError(ConfigError):
    """The state-of-charge window (and the initial SoC in it) cannot be met."""


class PassportError(ConfigError):
    """A battery passport cannot size the pack (wrong schema, not measured, graded for recycling)."""


class DispatchSolveError(BenchError):
    """The LP has no usable optimum; `status` is the solver's verdict and `families` the constraint families at fault."""

    def __init__(
        self, message: str, *, status: str, families: list[str] | None = None, details: list[str] | None = None
    ):
        self.status = status
        self.families = list(families or [])
        self.details = list(details or [])
        text = message
        if self.families:
            text += f"; constraint families at fault: {', '.join(self.families)}"
        if self.details:
            text += " (" + "; ".join(self.details[:5]) + (" ..." if len(self.details) > 5 else "") + ")"
        super().__init__(text)


class InfeasibleError(DispatchSolveError):
    """No schedule meets every constraint."""


class UnboundedError(DispatchSolveError):
    """The cost can be made arbitrarily low: a cost or bound is missing or has the wrong sign."""
