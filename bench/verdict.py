"""Deciding a verdict from a measured quantity and its limit: a pure function, no I/O.

Decision rules (ILAC-G8 style):
- "simple": inside [min, max] passes, else fails; uncertainty is reported but not applied.
- "guarded": the expanded uncertainty U must fit inside the limits to pass; a result whose
  interval [x-U, x+U] straddles a bound is INDETERMINATE; wholly outside fails.
MARGINAL: a pass within the limit's `marginal` band of a bound (worth a second look).
INDETERMINATE also when no limit exists or the instrument's calibration has expired.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import pint

from bench.errors import ConfigError
from bench.limits import Limit


class Verdict(enum.StrEnum):
    PASS = "PASS"
    MARGINAL = "MARGINAL"
    FAIL = "FAIL"
    INDETERMINATE = "INDETERMINATE"

    @staticmethod
    def combine(verdicts: list[Verdict]) -> Verdict:
        """Worst-of: FAIL > INDETERMINATE > MARGINAL > PASS. Nothing measured is INDETERMINATE."""
        if not verdicts:
            return Verdict.INDETERMINATE
        for v in (Verdict.FAIL, Verdict.INDETERMINATE, Verdict.MARGINAL):
            if v in verdicts:
                return v
        return Verdict.PASS


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    grade: str | None = None


def decide(
    name: str,
    value: pint.Quantity,
    limit: Limit | None,
    *,
    uncertainty: pint.Quantity | None = None,
    calibration_expired: bool = False,
    instrument: str = "",
) -> Decision:
    """Verdict for one measurement. A unit that does not fit the limit is a ConfigError."""
    if limit is None:
        return Decision(Verdict.INDETERMINATE, f"no limit defined for {name!r}")
    ref = limit.reference()
    if ref is not None and value.dimensionality != ref.dimensionality:
        raise ConfigError(
            f"measured {value:~P} for {name!r} cannot be compared with the limit in {ref.units:~P}",
            source=limit.limit_set, key=f"limits.{name}",
        )
    if uncertainty is not None and uncertainty.dimensionality != value.dimensionality:
        raise ConfigError(f"uncertainty {uncertainty:~P} does not match {value:~P}", key=name)
    if not math.isfinite(float(value.magnitude)):
        # NaN compares false with every bound: without this it would PASS. A device that does not
        # implement a point (SunSpec 0x8000/0xFFFF) is reported as NaN by drivers.
        return Decision(Verdict.INDETERMINATE, "not measured (value not finite)")
    band = limit.grade_for(value) if limit.grades else None
    grade = band.grade if band else None
    if calibration_expired:
        return Decision(Verdict.INDETERMINATE, f"calibration of {instrument or 'the instrument'} has expired", grade)
    low, high = limit.low, limit.high
    if low is None and high is None:
        if limit.grades and band is None:
            return Decision(Verdict.FAIL, "outside every grade band", None)
        return Decision(Verdict.PASS, f"graded {grade}" if grade else "no bound, recorded", grade)
    u = uncertainty if (uncertainty is not None and limit.rule == "guarded") else None
    below = low is not None and value < low
    above = high is not None and value > high
    if u is not None:
        lo_x, hi_x = value - u, value + u
        if (low is not None and hi_x < low) or (high is not None and lo_x > high):
            return Decision(Verdict.FAIL, _outside(value, low, high), grade)
        if (low is not None and lo_x < low) or (high is not None and hi_x > high):
            return Decision(Verdict.INDETERMINATE, f"uncertainty ±{u:~P} straddles a limit", grade)
    elif below or above:
        return Decision(Verdict.FAIL, _outside(value, low, high), grade)
    m = limit.marginal
    if m is not None:
        if (low is not None and value - low <= m) or (high is not None and high - value <= m):
            return Decision(Verdict.MARGINAL, f"within {m:~P} of a limit", grade)
    return Decision(Verdict.PASS, "within limits", grade)


def _outside(value: pint.Quantity, low: pint.Quantity | None, high: pint.Quantity | None) -> str:
    if low is not None and value < low:
        return f"below minimum {low:~P}"
    return f"above maximum {high:~P}"
