"""Signing policy: sign a run directory (manifest + signatures/) or a limit set (sidecar file).

The first signature on a run directory fixes the manifest; later signatures (a witness, a
reviewer) countersign the same manifest bytes and never rewrite it. If an artifact changed after
the first signature, countersigning is refused: the change must be investigated, not papered over.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.signing.errors import SigningError
from bench.signing.files import (
    LIMIT_SET_MAX,
    SIDECAR_MAX,
    SIGNATURE_MAX,
    list_dir,
    load_json,
    read_file,
    read_in,
    replace_in,
    write_new_in,
)
from bench.signing.keys import Signer
from bench.signing.manifest import (
    MANIFEST_NAME,
    SIGNATURES_DIR,
    build_manifest,
    compare_files,
    read_manifest,
    sha256_bytes,
    write_manifest,
)
from bench.signing.signature import (
    SUBJECT_LIMITS,
    SUBJECT_RUN,
    SignatureRecord,
    create_signature,
    parse_signature,
    signature_file_bytes,
    verify_record,
)
from bench.signing.times import format_utc, utc_now

SIGNATURE_NAME = re.compile(r"^(\d+)-([a-z]+)-([0-9a-f]{8})\.json$")
SIDECAR_SUFFIX = ".sig.json"
SIDECAR_SCHEMA = "ess-bench-limitsig/1"


def signature_names(run_dir: Path) -> list[str]:
    """Names in signatures/ shaped like signature files, in signing order (by sequence number).

    The folder is listed without following links: a `signatures` link is refused (UnsafeFileError).
    """
    names = [name for name, _kind in list_dir(Path(run_dir), SIGNATURES_DIR) if SIGNATURE_NAME.match(name)]
    return sorted(names, key=lambda n: (int(SIGNATURE_NAME.match(n).group(1)), n))


def read_run_signature(run_dir: Path, name: str) -> tuple[SignatureRecord, bytes]:
    """One signature of a run folder and its exact bytes (what a countersignature hashes)."""
    rel = f"{SIGNATURES_DIR}/{name}"
    raw = read_in(Path(run_dir), rel, limit=SIGNATURE_MAX, what="signature file")
    return parse_signature(raw, source=rel), raw


def _check_key_usable(signer: Signer, now: datetime, what: str) -> None:
    info = signer.info
    if not info.is_valid_at(now):
        raise SigningError(
            f"{what}: key {info.short} ({info.name}) is not valid at {format_utc(now)}; "
            f"expected a time within its validity {info.validity_text()}"
        )


def _check_existing(
    records: list[SignatureRecord], subject_bytes: bytes, subject: str, signer: Signer, what: str
) -> None:
    """Refuse to add a signature next to a broken one, or a second one by the same key and role."""
    for rec in records:
        check = verify_record(rec, subject_bytes, subject=subject)
        if not check.ok:
            raise SigningError(
                f"{what}: existing signature {rec.source} is invalid ({'; '.join(check.problems)}); "
                "refusing to countersign"
            )
        if rec.fingerprint == signer.info.fingerprint and rec.role == signer.info.role:
            raise SigningError(
                f"{what}: already signed by key {signer.info.short} ({rec.signer}) as {rec.role} "
                f"in {rec.source}"
            )


def sign_run_dir(
    run_dir: Path,
    signer: Signer,
    *,
    meaning: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> Path:
    """Sign a run directory; write manifest.json on the first signature. Returns the signature file."""
    run_dir = Path(run_dir)
    now = now or utc_now()
    _check_key_usable(signer, now, str(run_dir))
    existing = signature_names(run_dir)
    loaded: list[tuple[SignatureRecord, bytes]] = []
    if not existing:
        manifest = build_manifest(run_dir, run_id=run_id, now=now)
        write_manifest(run_dir, manifest)
        raw = manifest.to_bytes()
    else:
        manifest, raw = read_manifest(run_dir)
        diffs = [f"{status} {rel}" for status, rel, _ in compare_files(manifest, run_dir) if status != "OK"]
        if diffs:
            raise SigningError(
                f"{run_dir}: artifacts changed since the first signature ({', '.join(diffs)}); "
                f"{MANIFEST_NAME} is not rewritten once signed. Expected the signed content; "
                "investigate, or issue an amended report in a new run directory"
            )
        loaded = [read_run_signature(run_dir, name) for name in existing]
        _check_existing([rec for rec, _ in loaded], raw, SUBJECT_RUN, signer, str(run_dir))
    sequence = max((rec.sequence for rec, _ in loaded), default=0) + 1
    countersigns = [{"file": name, "sha256": sha256_bytes(data)} for name, (_, data) in zip(existing, loaded, strict=True)]
    record = create_signature(
        signer,
        raw,
        subject=SUBJECT_RUN,
        meaning=meaning,
        signed_at=now,
        sequence=sequence,
        countersigns=countersigns,
        extra={"run_id": manifest.run_id},
    )
    rel = f"{SIGNATURES_DIR}/{sequence}-{signer.info.role}-{signer.info.short}.json"
    return write_new_in(run_dir, rel, signature_file_bytes(record))


def sidecar_path(path: Path) -> Path:
    """`limits/x.toml` -> `limits/x.toml.sig.json`."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


@dataclass
class Sidecar:
    """Parsed limit-set sidecar: the hash it claims and its signatures."""

    path: Path
    file: str
    sha256: str
    size: int
    signatures: list[SignatureRecord]


def read_sidecar(path: Path) -> Sidecar:
    """Read `<file>.sig.json` (shape only; verification is separate)."""
    path = Path(path)
    try:
        raw = read_file(path, limit=SIDECAR_MAX, what="limit-set signature sidecar")
    except FileNotFoundError:
        raise SigningError(f"{path}: signature sidecar not found; the file is not signed") from None
    data = load_json(raw, where=str(path))
    if not isinstance(data, dict) or data.get("schema_version") != SIDECAR_SCHEMA:
        raise SigningError(
            f"{path}: expected a limit-set signature file with schema_version {SIDECAR_SCHEMA!r}"
        )
    if not isinstance(data.get("sha256"), str) or not isinstance(data.get("signatures"), list):
        raise SigningError(f"{path}: expected 'sha256' (string) and 'signatures' (list)")
    records = [
        SignatureRecord.from_json(item, source=f"{path}#signatures[{i}]")
        for i, item in enumerate(data["signatures"])
    ]
    return Sidecar(path, str(data.get("file", "")), data["sha256"], int(data.get("size", -1)), records)


def _write_sidecar(side: Sidecar) -> None:
    data = {
        "schema_version": SIDECAR_SCHEMA,
        "file": side.file,
        "sha256": side.sha256,
        "size": side.size,
        "signatures": [r.to_json() for r in side.signatures],
    }
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    replace_in(side.path.parent, side.path.name, text.encode("utf-8"))


def sign_limit_set(
    path: Path, signer: Signer, *, meaning: str | None = None, now: datetime | None = None
) -> Path:
    """Sign a limit-set file into its sidecar `<file>.sig.json`; add to it if already signed."""
    path = Path(path)
    if path.name.endswith(SIDECAR_SUFFIX):
        raise SigningError(f"{path}: is a signature sidecar; give the limit set file itself")
    now = now or utc_now()
    _check_key_usable(signer, now, str(path))
    try:
        data = read_file(path, limit=LIMIT_SET_MAX, what="limit set file")
    except FileNotFoundError:
        raise SigningError(f"{path}: limit set file not found; expected a TOML file to sign") from None
    side_path = sidecar_path(path)
    if side_path.exists():
        side = read_sidecar(side_path)
        if side.sha256 != sha256_bytes(data):
            raise SigningError(
                f"{path}: file changed since it was first signed (sidecar {side_path.name} has sha256 "
                f"{side.sha256[:16]}…, file has {sha256_bytes(data)[:16]}…); expected the signed content"
            )
        _check_existing(side.signatures, data, SUBJECT_LIMITS, signer, str(path))
    else:
        side = Sidecar(side_path, path.name, sha256_bytes(data), len(data), [])
    sequence = max((r.sequence for r in side.signatures), default=0) + 1
    record = create_signature(
        signer,
        data,
        subject=SUBJECT_LIMITS,
        meaning=meaning,
        signed_at=now,
        sequence=sequence,
        extra={"file": path.name},
    )
    side.signatures.append(record)
    _write_sidecar(side)
    return side_path
