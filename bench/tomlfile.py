"""Reading TOML config files with errors that name the file (and line, from tomllib)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from bench.errors import ConfigError


def read_toml(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """Return (data, raw bytes). The bytes are what a SHA-256 or a signature covers."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(p)) from exc
    return parse_toml(raw, p), raw


def parse_toml(raw: bytes, source: str | Path) -> dict[str, Any]:
    """Parse bytes already read (and perhaps already hashed or signature-checked) as TOML."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", source=str(source)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(source)) from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unknown_keys(table: dict[str, Any], allowed: set[str]) -> list[str]:
    return sorted(k for k in table if k not in allowed)
