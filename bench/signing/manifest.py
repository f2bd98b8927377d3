"""Canonical JSON and the run-directory manifest (SHA-256 and size of every artifact).

The manifest is what gets signed: once its hashes are fixed, any changed byte, missing file or
added file in the run directory shows up at verification. It is written as canonical JSON so the
same content always gives the same bytes (and the same signature message).

Canonical JSON rule (also used by the report layer for `record.json`):
  * UTF-8, `ensure_ascii=False`; object keys sorted (by code point); separators `","` and `":"`;
    no whitespace; no trailing newline.
  * Only dict (string keys), list/tuple, str, int, bool, None and finite float are allowed; NaN,
    Infinity, bytes, datetimes, Decimals, quantities etc. are refused with the JSON path of the
    value, so the producer chooses an explicit representation (e.g. `"3.65 V"` or a number + unit).
  * Floats are written with Python's `repr` (shortest text that round-trips to the same IEEE-754
    double; e.g. `0.1`, `3.0`, `1e-07`, `1e+16`). A float stays a float (`3.0`, never `3`), so a
    value keeps its type through a parse/re-serialise cycle and the bytes are stable.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from bench.signing.errors import SigningError
from bench.signing.files import MANIFEST_MAX, hash_at, load_json, read_in, replace_in, walk_files
from bench.signing.times import format_utc, parse_utc, utc_now

MANIFEST_NAME = "manifest.json"
SIGNATURES_DIR = "signatures"
MANIFEST_SCHEMA = "ess-bench-manifest/1"
_CHUNK = 1 << 20


class CanonicalJsonError(SigningError):
    """A value cannot be written as canonical JSON; names its JSON path."""


def _check(value: object, path: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalJsonError(f"{path}: {value!r} is not allowed in canonical JSON; expected a finite number")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(f"{path}: key {key!r} is {type(key).__name__}; expected a string key")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise CanonicalJsonError(
        f"{path}: {type(value).__name__} value {value!r} has no canonical JSON form; "
        "convert it to str/int/float/bool/None/list/dict first"
    )


def canonical_json(obj: object) -> bytes:
    """Canonical UTF-8 JSON bytes of `obj` (rule in the module docstring): equal data, equal bytes."""
    _check(obj, "$")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex and size of a file, read in chunks so large telemetry files stay cheap."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative POSIX path inside the run directory
    sha256: str
    size: int


@dataclass
class Manifest:
    """Identity of a run directory's content at signing time."""

    run_id: str
    created_utc: datetime
    files: list[FileEntry] = field(default_factory=list)
    schema_version: str = MANIFEST_SCHEMA

    def to_json(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "created_utc": format_utc(self.created_utc),
            "hash_algorithm": "sha256",
            "excluded": [MANIFEST_NAME, SIGNATURES_DIR + "/"],
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }

    def to_bytes(self) -> bytes:
        """The exact bytes written to manifest.json and signed."""
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, data: object, *, where: str) -> Manifest:
        if not isinstance(data, dict):
            raise SigningError(f"{where}: expected a JSON object (manifest)")
        if data.get("schema_version") != MANIFEST_SCHEMA:
            raise SigningError(f"{where}: schema_version {data.get('schema_version')!r}; expected {MANIFEST_SCHEMA!r}")
        if data.get("hash_algorithm", "sha256") != "sha256":
            raise SigningError(f"{where}: hash_algorithm {data.get('hash_algorithm')!r}; expected 'sha256'")
        if not isinstance(data.get("run_id"), str) or not isinstance(data.get("files"), list):
            raise SigningError(f"{where}: expected string 'run_id' and list 'files'")
        files = []
        for i, item in enumerate(data["files"]):
            ok = (
                isinstance(item, dict)
                and isinstance(item.get("path"), str)
                and isinstance(item.get("sha256"), str)
                and isinstance(item.get("size"), int)
            )
            if not ok:
                raise SigningError(f"{where}: files[{i}]: expected {{path: str, sha256: str, size: int}}")
            check_relative_path(item["path"], where=f"{where}: files[{i}].path")
            files.append(FileEntry(item["path"], item["sha256"], item["size"]))
        created = parse_utc(data.get("created_utc", ""), where=f"{where}: created_utc")
        return cls(run_id=data["run_id"], created_utc=created, files=files)


def check_relative_path(rel: str, *, where: str) -> str:
    """Refuse absolute or `..` paths so a crafted manifest cannot point outside the run directory."""
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts or "\\" in rel or str(pure) != rel:
        raise SigningError(f"{where}: {rel!r} is not a plain relative POSIX path inside the run directory")
    return rel


def scan_files(run_dir: Path) -> dict[str, tuple[str, int]]:
    """Hash every artifact file under `run_dir` (except manifest.json and signatures/), by POSIX path.

    Nothing below `run_dir` is followed: a link, FIFO or device anywhere raises UnsafeFileError.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SigningError(f"{run_dir}: not a directory; expected a run directory reports/<run-id>/")
    return {
        rel: hash_at(parent, name, str(run_dir / rel))
        for rel, parent, name in walk_files(run_dir, {MANIFEST_NAME, SIGNATURES_DIR})
    }


def build_manifest(run_dir: Path, *, run_id: str | None = None, now: datetime | None = None) -> Manifest:
    """Manifest of the directory as it is now; run id defaults to the directory name."""
    run_dir = Path(run_dir)
    files = [FileEntry(rel, digest, size) for rel, (digest, size) in sorted(scan_files(run_dir).items())]
    if not files:
        raise SigningError(f"{run_dir}: no artifact files to sign; expected record.json, report.html, ...")
    return Manifest(run_id=run_id or run_dir.resolve().name, created_utc=now or utc_now(), files=files)


def write_manifest(run_dir: Path, manifest: Manifest) -> Path:
    """Write manifest.json (canonical bytes) and return its path; a link or special file there is refused."""
    return replace_in(Path(run_dir), MANIFEST_NAME, manifest.to_bytes())


def read_manifest(run_dir: Path) -> tuple[Manifest, bytes]:
    """Parse manifest.json and return it with the exact bytes that signatures cover."""
    path = Path(run_dir) / MANIFEST_NAME
    if not os.path.lexists(path):
        raise SigningError(f"{path}: manifest not found; the run directory has not been signed")
    raw = read_in(Path(run_dir), MANIFEST_NAME, limit=MANIFEST_MAX, what="manifest")
    data = load_json(raw, where=str(path))
    return Manifest.from_json(data, where=str(path)), raw


def compare_files(manifest: Manifest, run_dir: Path) -> list[tuple[str, str, str]]:
    """(status, path, detail) for every artifact: OK, CHANGED, MISSING (listed, absent), EXTRA (unlisted)."""
    on_disk = scan_files(run_dir)
    results: list[tuple[str, str, str]] = []
    listed = set()
    for entry in manifest.files:
        listed.add(entry.path)
        actual = on_disk.get(entry.path)
        if actual is None:
            results.append(("MISSING", entry.path, "listed in manifest, not found"))
        elif actual != (entry.sha256, entry.size):
            detail = f"sha256 expected {entry.sha256[:16]}…, found {actual[0][:16]}…"
            if actual[1] != entry.size:
                detail += f"; size expected {entry.size}, found {actual[1]}"
            results.append(("CHANGED", entry.path, detail))
        else:
            results.append(("OK", entry.path, ""))
    for rel in sorted(set(on_disk) - listed):
        results.append(("EXTRA", rel, "not in manifest: added after signing"))
    return results
