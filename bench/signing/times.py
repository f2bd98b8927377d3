"""UTC timestamps for signatures, key validity and revocation.

One textual form everywhere (`2025-06-01T12:00:00Z`, whole seconds) so that times sort as strings,
compare exactly across machines, and a naive local time can never slip into a signed record.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.signing.errors import SigningError

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    """Current time in UTC, truncated to whole seconds (the precision that is recorded)."""
    return datetime.now(UTC).replace(microsecond=0)


def format_utc(when: datetime) -> str:
    """Render an aware datetime as `YYYY-MM-DDTHH:MM:SSZ`; refuse naive datetimes (ambiguous zone)."""
    if when.tzinfo is None:
        raise SigningError(f"time {when.isoformat()} has no time zone; expected an aware UTC datetime")
    try:
        return when.astimezone(UTC).strftime(_FORMAT)
    except OverflowError:
        raise SigningError(f"time {when.isoformat()} is out of the representable range of times") from None


def parse_utc(text: str, *, where: str = "time", allow_now: bool = False) -> datetime:
    """Parse an ISO 8601 time with an explicit zone (`Z` or `+hh:mm`).

    `now` is accepted only where the caller asks (`allow_now`, the CLI's `--at now`): in a file it
    would be re-read as a different time at every verification (a revocation that moves).
    """
    if not isinstance(text, str):
        raise SigningError(f"{where}: expected an ISO 8601 UTC time string like 2025-06-01T12:00:00Z, got {text!r}")
    if text.strip().lower() == "now":
        if allow_now:
            return utc_now()
        raise SigningError(
            f"{where}: 'now' is not a fixed time; write the explicit UTC time, e.g. {format_utc(utc_now())}"
        )
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise SigningError(f"{where}: {text!r} is not an ISO 8601 time; expected e.g. 2025-06-01T12:00:00Z") from None
    if value.tzinfo is None:
        raise SigningError(f"{where}: {text!r} has no time zone; write it in UTC, e.g. {text.strip()}Z")
    try:
        return value.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise SigningError(f"{where}: {text!r} is out of the representable range of times") from None
