"""Deciding a verdict from a measured quantity and its limit: a pure function, no I/O.

Decision rules (ILAC-G8 style):
- "simple": inside [min, max] passes, else fails; uncertainty is reported but not applied.
- "guarded": the expanded uncertainty U must fit inside the limits to pass; a result whose
  interval [x-U, x+U] straddles a bound is INDETERMINATE; wholly outside fails.
MARGINAL: a pass within the limit's `marginal` band of a bound (worth a second look).
INDETERMINATE also when no limit exists, the instrument's calibration has expired, the value is
not a finite number, or it lies outside its physically plausible range ("implausible: ..."): a
negative resistance or an efficiency above 100 % says the measurement went wrong, not that the
device passed or failed, so it is never PASS and never graded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pint

from bench.errors import ConfigError
from bench.limits import Limit
from bench.units import fmt, is_finite

Plausible = tuple[pint.Quantity | None, pint.Quantity | None]


class Verdict(enum.StrEnum):
    PASS = "PASS"
    MARGINAL = "MARGINAL"
    FAIL = "FAIL"
    INDETERMINATE = "INDETERMINATE"

    @staticmethod
    def combine(verdicts: list[Verdict]) -> Verdict:
        """Worst-of: FAIL > INDETERMINATE > MARGINAL > PASS. Nothing measured is INDETERMINATE."""
        return Verdict(worst([str(v) for v in verdicts], empty=str(Verdict.INDETERMINATE)))


# Worst first. ABORTED is a run outcome, not a measurement verdict, but ranks with them in summaries.
ORDER = ("ABORTED", "FAIL", "INDETERMINATE", "MARGINAL", "PASS")


def worst(verdicts: list[str], *, empty: str = "NOT RUN") -> str:
    """The one worst-of the bench uses everywhere (runs, steps, clauses, batches); `empty` when none."""
    present = set(verdicts)
    return next((v for v in ORDER if v in present), empty)


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
    plausible: Plausible | None = None,
) -> Decision:
    """Verdict for one measurement. A unit that does not fit the limit is a ConfigError.

    `plausible` (low, high; either may be None) is the physically possible range; it comes from
    the caller, else from the limit. Outside it the result is INDETERMINATE, never PASS or graded.
    """
    if not is_finite(value):
        if value.magnitude != value.magnitude:  # NaN: nothing was measured (a driver's "not implemented")
            return Decision(Verdict.INDETERMINATE, f"not measured: {name} has no value")
        return Decision(Verdict.INDETERMINATE, f"implausible: {name} is not a finite number ({value.magnitude!r})")
    ref = limit.reference() if limit is not None else None
    if ref is not None and value.dimensionality != ref.dimensionality:
        raise ConfigError(
            f"measured {value:~P} for {name!r} cannot be compared with the limit in {ref.units:~P}",
            source=limit.limit_set if limit is not None else None,
            key=f"limits.{name}",
        )
    if uncertainty is not None and uncertainty.dimensionality != value.dimensionality:
        raise ConfigError(f"uncertainty {uncertainty:~P} does not match {value:~P}", key=name)
    why = implausible(value, plausible if plausible is not None else (limit.plausible if limit else None))
    if why:
        return Decision(Verdict.INDETERMINATE, f"implausible: {name} = {fmt(value)} {why}")
    if limit is None:
        return Decision(Verdict.INDETERMINATE, f"no limit defined for {name!r}")
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


def implausible(value: pint.Quantity, plausible: Plausible | None) -> str:
    """Why `value` is outside the plausible range (empty when inside or no range)."""
    if not plausible:
        return ""
    low, high = plausible
    for bound in (low, high):
        if bound is not None and bound.dimensionality != value.dimensionality:
            raise ConfigError(f"plausible range bound {bound:~P} does not match the measured {value:~P}")
    if low is not None and value < low:
        return f"is below the physically plausible minimum {fmt(low)}"
    if high is not None and value > high:
        return f"is above the physically plausible maximum {fmt(high)}"
    return ""
