"""Signing policy: sign a run directory (manifest + signatures/) or a limit set (sidecar file).

The first signature on a run directory fixes the manifest; later signatures (a witness, a
reviewer) countersign the same manifest bytes and never rewrite it. If an artifact changed after
the first signature, countersigning is refused: the change must be investigated, not papered over.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.signing.certs import PdfSigningKey
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
from bench.signing.keys import ROLES, Signer
from bench.signing.manifest import (
    MANIFEST_NAME,
    SIGNATURES_DIR,
    build_manifest,
    compare_files,
    read_manifest,
    sha256_bytes,
    write_manifest,
)
from bench.signing.pdfsign import (
    SIGNED_PDF,
    SIGNED_PDF_MAX,
    SOURCE_PDF,
    field_name,
    revision_record,
    sign_pdf,
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
                f"{what}: already signed by key {signer.info.short} ({rec.signer}) as {rec.role} in {rec.source}"
            )


def sign_run_dir(
    run_dir: Path,
    signer: Signer,
    *,
    meaning: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
    pdf_key: PdfSigningKey | None = None,
    tsa_url: str | None = None,
    timestamper: Any = None,
) -> Path:
    """Sign a run directory; write manifest.json on the first signature. Returns the signature file.

    With `pdf_key`, the report PDF is signed too, in the same act (see bench.signing.pdfsign):
    signatures/report-signed.pdf gains a PAdES signature and this Ed25519 signature records it.
    """
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
    countersigns = [
        {"file": name, "sha256": sha256_bytes(data)} for name, (_, data) in zip(existing, loaded, strict=True)
    ]
    extra: dict[str, Any] = {"run_id": manifest.run_id}
    signed_pdf = None
    if pdf_key is not None:
        signed_pdf = _sign_report_pdf(
            run_dir,
            manifest,
            raw,
            [rec for rec, _ in loaded],
            signer,
            pdf_key,
            sequence=sequence,
            meaning=meaning or ROLES[signer.info.role],
            now=now,
            tsa_url=tsa_url,
            timestamper=timestamper,
        )
        extra["pdf"] = revision_record(signed_pdf, pdf_key, field_name(sequence, signer.info.role))
    record = create_signature(
        signer,
        raw,
        subject=SUBJECT_RUN,
        meaning=meaning,
        signed_at=now,
        sequence=sequence,
        countersigns=countersigns,
        extra=extra,
    )
    if signed_pdf is not None:  # the PDF first: a record never vouches for a PDF revision that is not there
        replace_in(run_dir, f"{SIGNATURES_DIR}/{SIGNED_PDF}", signed_pdf)
    rel = f"{SIGNATURES_DIR}/{sequence}-{signer.info.role}-{signer.info.short}.json"
    return write_new_in(run_dir, rel, signature_file_bytes(record))


def _sign_report_pdf(
    run_dir: Path,
    manifest: Any,
    manifest_bytes: bytes,
    records: list[SignatureRecord],
    signer: Signer,
    pdf_key: PdfSigningKey,
    *,
    sequence: int,
    meaning: str,
    now: datetime,
    tsa_url: str | None,
    timestamper: Any,
) -> bytes:
    """The signed PDF after this signer's PAdES signature (not yet written)."""
    entry = next((f for f in manifest.files if f.path == SOURCE_PDF), None)
    if entry is None:
        raise SigningError(
            f"{run_dir}: no {SOURCE_PDF} in the manifest; nothing to sign inside a PDF "
            "(render the report with its PDF, or sign without --pdf)"
        )
    if pdf_key.certificate.not_valid_after_utc <= now or pdf_key.certificate.not_valid_before_utc > now:
        raise SigningError(f"{run_dir}: the PDF certificate is not valid at {format_utc(now)}")
    signed_rel = f"{SIGNATURES_DIR}/{SIGNED_PDF}"
    first = not os.path.lexists(run_dir / signed_rel)
    if first:
        source = read_in(run_dir, SOURCE_PDF, limit=SIGNED_PDF_MAX, what="report PDF")
    else:
        source = read_in(run_dir, signed_rel, limit=SIGNED_PDF_MAX, what="signed report PDF")
        vouched = [r.signed["pdf"] for r in records if isinstance(r.signed.get("pdf"), dict)]
        last = max((int(p.get("size", -1)) for p in vouched), default=-1)
        if (
            sha256_bytes(source[: entry.size]) != entry.sha256
            or last != len(source)
            or not all(sha256_bytes(source[: int(p["size"])]) == p.get("sha256") for p in vouched)
        ):
            raise SigningError(
                f"{run_dir / signed_rel}: does not match the PDF revisions the existing signatures "
                "record; refusing to add a PDF signature (run bench verify)"
            )
    return sign_pdf(
        source,
        pdf_key,
        field=field_name(sequence, signer.info.role),
        certify=first,
        reason=meaning,
        name=signer.info.name,
        when=now,
        manifest=manifest_bytes if first else None,
        tsa_url=tsa_url,
        timestamper=timestamper,
    )


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
        raise SigningError(f"{path}: expected a limit-set signature file with schema_version {SIDECAR_SCHEMA!r}")
    if not isinstance(data.get("sha256"), str) or not isinstance(data.get("signatures"), list):
        raise SigningError(f"{path}: expected 'sha256' (string) and 'signatures' (list)")
    records = [
        SignatureRecord.from_json(item, source=f"{path}#signatures[{i}]") for i, item in enumerate(data["signatures"])
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


def sign_limit_set(path: Path, signer: Signer, *, meaning: str | None = None, now: datetime | None = None) -> Path:
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
