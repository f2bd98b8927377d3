"""Length and character policy for identifiers that end up in file names, journals and reports.

A 50,000-character DUT serial once kept the PDF layout busy past the teardown budget; a serial
with a slash or a control character breaks folder names and report headers. Identifiers are
checked when a run starts, with a clear error, never discovered at render time.
"""

from __future__ import annotations

import re
import unicodedata

from bench.errors import ConfigError

MAX_LENGTH = 64
SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/#+-]*$")


def check_serial(value: str, what: str = "DUT serial", *, source: str | None = None, key: str | None = None) -> str:
    """A serial or id: 1..64 of letters, digits, space and . _ : / # + - (starting with a letter or digit)."""
    text = str(value)
    if not text or len(text) > MAX_LENGTH or not SERIAL.match(text) or text != text.strip():
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ConfigError(
            f"{what} {shown!r} ({len(text)} characters) is not a usable identifier: 1 to {MAX_LENGTH} "
            "characters of letters, digits, space and . _ : / # + -, starting with a letter or digit",
            source=source,
            key=key,
        )
    return text


def check_name(value: str, what: str = "operator name", *, source: str | None = None, key: str | None = None) -> str:
    """A person's name: up to 64 printable characters (any script), no control characters."""
    text = str(value)
    if len(text) > MAX_LENGTH or any(unicodedata.category(c).startswith("C") for c in text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ConfigError(
            f"{what} {shown!r} is not usable: at most {MAX_LENGTH} printable characters", source=source, key=key
        )
    return text.strip()
