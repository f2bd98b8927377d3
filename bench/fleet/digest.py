"""Row digests and lossless JSON for journal values.

A journal row's digest is the SHA-256 of canonical JSON (bench.signing.manifest.canonical_json)
of {"table", "id", "row"}: the same function runs on the station's SQLite row and on the row
rebuilt from the fleet store, so equal digests prove the fleet holds exactly what the station
journalled. Values SQLite can hold but JSON cannot (bytes, NaN/Infinity, text with NUL) get a
tagged object, never a lossy conversion.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

from bench.signing.manifest import canonical_json


def _digest_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return {"$bytes_sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    return value


def row_digest(table: str, local_id: int | None, row: dict[str, Any]) -> str:
    """SHA-256 hex of one journal row (all its columns except the rowid alias, which is `local_id`)."""
    body = {"table": table, "id": local_id, "row": {k: _digest_value(v) for k, v in row.items()}}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def to_json_value(value: Any) -> Any:
    """A journal value as JSON that `from_json_value` turns back into the identical Python value."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text and jsonb cannot hold NUL
        return {"$text_b64": base64.b64encode(value.encode("utf-8")).decode("ascii")}
    return value


def from_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
        if "$float" in value:
            return float(value["$float"])
        if "$text_b64" in value:
            return base64.b64decode(value["$text_b64"]).decode("utf-8")
    return value


def fits(value: Any, pg_type: str) -> bool:
    """Whether a journal value can go into a typed fleet column unchanged (else it goes to _more)."""
    if value is None:
        return True
    if pg_type == "text":
        return isinstance(value, str) and "\x00" not in value
    if pg_type == "bigint":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if pg_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    if pg_type == "double precision":
        return isinstance(value, float)
    if pg_type == "bytea":
        return isinstance(value, bytes | bytearray | memoryview)
    return False
