"""Calibration status on a day: the one function the recorder, the report and `stations check` use."""

from __future__ import annotations

import datetime as dt

NONE, VALID, EXPIRED = "NONE", "VALID", "EXPIRED"


def _day(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def calibration_status(due: dt.date | str | None, day: dt.date | str | None) -> str:
    """NONE without a due date, EXPIRED when `day` is after the due date, else VALID.

    A certificate is valid through its due date; an unknown day (a run with no start time) is
    read as VALID only if there is a due date to compare against later."""
    if due is None or due == "":
        return NONE
    if day is None or day == "":
        return VALID
    return EXPIRED if _day(day) > _day(due) else VALID
