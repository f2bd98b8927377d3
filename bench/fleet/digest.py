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
import json
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


_PLAIN = (str, int, type(None))


def row_digest(table: str, local_id: int | None, row: dict[str, Any]) -> str:
    """SHA-256 hex of one journal row (all its columns except the rowid alias, which is `local_id`).

    The bytes are canonical_json's (sorted keys, no spaces, repr floats); the values are made
    JSON-safe first, so json.dumps is called directly (canonical_json's recursive check of every
    value is what a sync of millions of rows cannot afford). `canonical_row` is the slow reference.
    """
    values = {
        k: (v if type(v) in _PLAIN or (type(v) is float and math.isfinite(v)) else _digest_value(v))
        for k, v in row.items()
    }
    text = json.dumps(
        {"table": table, "id": local_id, "row": values},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_row(table: str, local_id: int | None, row: dict[str, Any]) -> bytes:
    """The bytes row_digest hashes, through the signing layer's canonical_json (used by the tests)."""
    return canonical_json({"table": table, "id": local_id, "row": {k: _digest_value(v) for k, v in row.items()}})


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


_TYPES: dict[str, type] = {"text": str, "bigint": int, "integer": int, "double precision": float, "bytea": bytes}


def fits(value: Any, pg_type: str) -> bool:
    """Whether a journal value can go into a typed fleet column unchanged (else it goes to _more)."""
    if value is None:
        return True
    if type(value) is not _TYPES.get(pg_type):  # exact types: a bool is not an integer column value
        return False
    if pg_type == "text":
        return "\x00" not in value
    if pg_type == "integer":
        return -(2**31) <= value < 2**31
    return True  # SQLite integers are 64-bit, so every int fits bigint
