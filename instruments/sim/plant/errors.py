"""Errors the plant raises towards protocol servers.

Servers translate them into wire replies (SCPI -222 "Data out of range", Modbus exception 3),
so they carry the offending value and the allowed range.
"""

from __future__ import annotations


class SimRangeError(ValueError):
    """A setpoint is outside what the simulated instrument accepts (SCPI -222)."""

    def __init__(self, what: str, value: float, low: float, high: float) -> None:
        super().__init__(f"{what} {value:g} out of range [{low:g}, {high:g}]")
        self.what = what
        self.value = value
        self.low = low
        self.high = high


def check_range(what: str, value: float, low: float, high: float) -> float:
    """Return `value` as float if low <= value <= high, else raise SimRangeError."""
    v = float(value)
    if not (low <= v <= high):  # also rejects NaN
        raise SimRangeError(what, v, low, high)
    return v


class StimulusConflict(ValueError):
    """Two stimuli would act on one sensing path (SCPI -221 "Settings conflict")."""
