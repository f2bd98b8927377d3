"""One Ed25519 signature over a manifest (or a limit-set file), with its signed attributes.

What is signed is not only the subject's bytes but a canonical block of attributes that binds them:
the SHA-256 of the exact manifest bytes plus signer name, role, meaning, UTC signing time, key
fingerprint, public key, key validity, the demo flag and the earlier signatures this one
countersigns. This is the CMS "signed attributes" idea: editing the signing time (to dodge a
revocation), the meaning, or the name breaks the signature, and so does transplanting a
limit-set signature onto a run manifest (the subject kind is signed too).

Signature file layout (everything under "signed" is covered by "signature"):
    {"schema_version": "ess-bench-signature/1", "algorithm": "Ed25519",
     "signed": {...attributes...}, "signature": "<base64>"}
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from bench.signing.errors import SigningError
from bench.signing.files import SIGNATURE_MAX, load_json, read_file, write_new_in
from bench.signing.keys import ROLES, KeyInfo, Signer, check_role, fingerprint, public_key_from_b64
from bench.signing.manifest import canonical_json, sha256_bytes
from bench.signing.times import format_utc, parse_utc, utc_now

SIGNATURE_SCHEMA = "ess-bench-signature/1"
_DOMAIN = b"ess-bench-signature/1\x00"
SUBJECT_RUN = "run-manifest"
SUBJECT_LIMITS = "limit-set"


@dataclass(frozen=True)
class SignatureRecord:
    """A parsed signature: its signed attributes and the raw signature bytes."""

    signed: dict
    signature: bytes
    source: str = ""  # file (or file#index) the record came from, for messages

    # Convenience views over the signed attributes (validated by `from_json`).
    @property
    def signer(self) -> str:
        return self.signed["signer"]

    @property
    def role(self) -> str:
        return self.signed["role"]

    @property
    def meaning(self) -> str:
        return self.signed["meaning"]

    @property
    def signed_at(self) -> datetime:
        return parse_utc(self.signed["signed_utc"], where=f"{self.source}: signed_utc")

    @property
    def fingerprint(self) -> str:
        return self.signed["fingerprint"]

    @property
    def demo(self) -> bool:
        return bool(self.signed.get("demo", False))

    @property
    def sequence(self) -> int:
        return int(self.signed.get("sequence", 0))

    @property
    def countersigns(self) -> list[dict]:
        return list(self.signed.get("countersigns", []))

    def key_info(self) -> KeyInfo:
        """The key as the signer described it (untrusted until matched against a trust file)."""
        until = self.signed.get("key_valid_until")
        return KeyInfo(
            name=self.signer,
            role=self.role,
            public_key_b64=self.signed["public_key"],
            valid_from=parse_utc(self.signed["key_valid_from"], where=f"{self.source}: key_valid_from"),
            valid_until=parse_utc(until, where=f"{self.source}: key_valid_until") if until else None,
            demo=self.demo,
        )

    def to_json(self) -> dict:
        return {
            "schema_version": SIGNATURE_SCHEMA,
            "algorithm": "Ed25519",
            "signed": self.signed,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: object, *, source: str) -> SignatureRecord:
        """Parse and shape-check a signature object; cryptographic checks are `verify_record`'s job."""
        if not isinstance(data, dict) or data.get("schema_version") != SIGNATURE_SCHEMA:
            raise SigningError(f"{source}: expected a signature object with schema_version {SIGNATURE_SCHEMA!r}")
        if data.get("algorithm") != "Ed25519":
            raise SigningError(f"{source}: algorithm {data.get('algorithm')!r}; expected 'Ed25519'")
        signed = data.get("signed")
        if not isinstance(signed, dict):
            raise SigningError(f"{source}: missing 'signed' attributes object")
        for key in (
            "subject",
            "subject_sha256",
            "signer",
            "role",
            "meaning",
            "signed_utc",
            "fingerprint",
            "public_key",
            "key_valid_from",
        ):
            if not isinstance(signed.get(key), str) or not signed.get(key):
                raise SigningError(f"{source}: signed.{key}: expected a non-empty string")
        if not isinstance(signed.get("sequence", 0), int) or not isinstance(signed.get("countersigns", []), list):
            raise SigningError(f"{source}: signed.sequence must be an integer and signed.countersigns a list")
        if not all(isinstance(c, dict) for c in signed.get("countersigns", [])):
            raise SigningError(f"{source}: signed.countersigns: expected a list of {{file, sha256}} objects")
        try:
            sig = base64.b64decode(data.get("signature", ""), validate=True)
        except (ValueError, TypeError):
            raise SigningError(f"{source}: signature: expected base64 text") from None
        record = cls(signed=signed, signature=sig, source=source)
        record.signed_at  # noqa: B018 - parse now so a bad time is reported as malformed
        record.key_info()
        return record


def message_for(signed: dict) -> bytes:
    """The exact bytes Ed25519 signs: a domain tag plus the canonical attributes."""
    return _DOMAIN + canonical_json(signed)


def create_signature(
    signer: Signer,
    subject_bytes: bytes,
    *,
    subject: str,
    meaning: str | None = None,
    signed_at: datetime | None = None,
    sequence: int = 1,
    countersigns: list[dict] | None = None,
    extra: dict | None = None,
) -> SignatureRecord:
    """Sign `subject_bytes` (no validity/trust policy here; callers such as `sign_run_dir` add it)."""
    info = signer.info
    check_role(info.role, where=f"key {info.name!r} role")
    meaning = (meaning or ROLES[info.role]).strip()
    if not meaning:
        raise SigningError("--meaning: expected text saying what the signature means, e.g. 'reviewed'")
    signed = {
        "subject": subject,
        "subject_sha256": sha256_bytes(subject_bytes),
        "signer": info.name,
        "role": info.role,
        "meaning": meaning,
        "signed_utc": format_utc(signed_at or utc_now()),
        "fingerprint": info.fingerprint,
        "public_key": info.public_key_b64,
        "key_valid_from": format_utc(info.valid_from),
        "key_valid_until": format_utc(info.valid_until) if info.valid_until else None,
        "demo": info.demo,
        "sequence": sequence,
        "countersigns": list(countersigns or []),
        **(extra or {}),
    }
    signature = signer.private_key.sign(message_for(signed))
    return SignatureRecord(signed=signed, signature=signature)


@dataclass
class CryptoCheck:
    """Outcome of the key-independent checks on one signature record."""

    ok: bool
    problems: list[str] = field(default_factory=list)


def verify_record(record: SignatureRecord, subject_bytes: bytes, *, subject: str) -> CryptoCheck:
    """Check the record signs exactly these bytes, as this subject kind, with the key it carries."""
    problems: list[str] = []
    signed = record.signed
    if signed.get("subject") != subject:
        problems.append(f"signs a {signed.get('subject')!r}, expected a {subject!r}")
    if signed.get("subject_sha256") != sha256_bytes(subject_bytes):
        problems.append("signed hash does not match the current bytes of the signed file")
    try:
        key = public_key_from_b64(signed["public_key"], where=f"{record.source}: public_key")
    except SigningError as exc:
        return CryptoCheck(False, problems + [str(exc)])
    if fingerprint(key) != signed.get("fingerprint"):
        problems.append(
            f"fingerprint {str(signed.get('fingerprint'))[:8]} does not match the embedded public key "
            f"({fingerprint(key)[:8]}); the key was swapped"
        )
    try:
        key.verify(record.signature, message_for(signed))
    except InvalidSignature:
        problems.append("Ed25519 signature does not verify with the embedded public key")
    except Exception as exc:  # malformed attributes that cannot be canonicalised
        problems.append(f"cannot check signature: {exc}")
    return CryptoCheck(not problems, problems)


def signature_file_bytes(record: SignatureRecord) -> bytes:
    """The text of a signature file (pretty JSON; the signature covers `signed`, not this layout)."""
    return (json.dumps(record.to_json(), indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def write_signature_file(record: SignatureRecord, path: Path) -> None:
    """Write a signature file; never replace an existing one (signatures are append-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_new_in(path.parent, path.name, signature_file_bytes(record))


def parse_signature(raw: bytes, *, source: str) -> SignatureRecord:
    """Parse the bytes of one signature file (shape only)."""
    return SignatureRecord.from_json(load_json(raw, where=source), source=source)


def read_signature_file(path: Path) -> SignatureRecord:
    """Parse one signature file (shape only); a link, FIFO, directory or oversize file is refused."""
    path = Path(path)
    return parse_signature(read_file(path, limit=SIGNATURE_MAX, what="signature file"), source=str(path))
