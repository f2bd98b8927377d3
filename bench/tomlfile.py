"""Reading TOML config files with errors that name the file (and line, from tomllib)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config file larger than this is not a config file


def read_bytes(path: str | Path, *, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The file's bytes, read once (what gets hashed, verified and parsed is the same data)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(p)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a file", source=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(p)) from exc
    if len(raw) > limit:
        raise ConfigError(f"larger than {limit} bytes; not a configuration file", source=str(p))
    return raw


def parse_toml_bytes(raw: bytes, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", source=source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=source) from exc


def read_toml(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """Return (data, raw bytes). The bytes are what a SHA-256 or a signature covers."""
    raw = read_bytes(path)
    return parse_toml_bytes(raw, str(path)), raw


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unknown_keys(table: dict[str, Any], allowed: set[str]) -> list[str]:
    return sorted(k for k in table if k not in allowed)
