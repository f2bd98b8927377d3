"""Ed25519 signing keys: generate, save, load, fingerprint, validity.

A key pair lives in two files. The private key is PKCS8 PEM encrypted with a passphrase (the
passphrase is the second identification component that 21 CFR 11.200 asks for). The public file
is JSON an auditor can read and copy into a trust file: name, role, fingerprint (SHA-256 of the raw
32-byte public key, hex), the key in base64 and PEM, and the validity window.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bench.signing.errors import KeyFileError, SigningError
from bench.signing.files import KEY_FILE_MAX, load_json, read_file
from bench.signing.times import format_utc, parse_utc, utc_now

PUBLIC_SCHEMA = "ess-bench-pubkey/1"
ROLES: dict[str, str] = {
    "engineer": "performed the tests",
    "witness": "witnessed",
    "reviewer": "reviewed",
}
DEFAULT_VALID_DAYS = 730
MAX_VALID_DAYS = 36525


def check_role(role: str, *, where: str = "role") -> str:
    """Return `role` if it is one the bench knows, so a typo never ends up in a signed record."""
    if role not in ROLES:
        raise SigningError(f"{where}: unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes the fingerprint and signature records are computed from."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey | bytes) -> str:
    """SHA-256 of the raw public key, lowercase hex: short to compare by eye, unique to the key."""
    raw = public_key if isinstance(public_key, bytes) else raw_public_bytes(public_key)
    return hashlib.sha256(raw).hexdigest()


def public_key_from_b64(text: str, *, where: str) -> Ed25519PublicKey:
    """Decode a base64 raw Ed25519 public key, naming `where` it came from when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise KeyFileError(f"{where}: expected a base64 raw Ed25519 public key (32 bytes)") from None


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise KeyFileError(f"{where}: expected true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class KeyInfo:
    """The public half of a key and who holds it; what a public file and a trust entry carry."""

    name: str
    role: str
    public_key_b64: str
    valid_from: datetime
    valid_until: datetime | None = None
    demo: bool = False

    @property
    def public_key(self) -> Ed25519PublicKey:
        return public_key_from_b64(self.public_key_b64, where=f"public key of {self.name!r}")

    @property
    def fingerprint(self) -> str:
        return fingerprint(base64.b64decode(self.public_key_b64))

    @property
    def short(self) -> str:
        """First 8 hex digits of the fingerprint, used in file names and printouts."""
        return self.fingerprint[:8]

    def is_valid_at(self, when: datetime) -> bool:
        """True if `when` lies in [valid_from, valid_until); an open end means no expiry."""
        if when < self.valid_from:
            return False
        return self.valid_until is None or when < self.valid_until

    def validity_text(self) -> str:
        until = format_utc(self.valid_until) if self.valid_until else "no expiry"
        return f"{format_utc(self.valid_from)} .. {until}"

    def to_json(self) -> dict:
        pem = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        return {
            "schema_version": PUBLIC_SCHEMA,
            "name": self.name,
            "role": self.role,
            "algorithm": "Ed25519",
            "fingerprint": self.fingerprint,
            "public_key": self.public_key_b64,
            "public_key_pem": pem,
            "valid_from": format_utc(self.valid_from),
            "valid_until": format_utc(self.valid_until) if self.valid_until else None,
            "demo": self.demo,
        }

    @classmethod
    def from_json(cls, data: object, *, where: str) -> KeyInfo:
        """Build from a public-file dict, checking the fingerprint really belongs to the key."""
        if not isinstance(data, dict):
            raise KeyFileError(f"{where}: expected a JSON object with name, role, public_key")
        for field in ("name", "role", "public_key", "valid_from"):
            if not isinstance(data.get(field), str) or not data.get(field):
                raise KeyFileError(f"{where}: missing or empty string field {field!r}")
        key = public_key_from_b64(data["public_key"], where=f"{where}: public_key")
        until = data.get("valid_until")
        info = cls(
            name=data["name"],
            role=check_role(data["role"], where=f"{where}: role"),
            public_key_b64=base64.b64encode(raw_public_bytes(key)).decode("ascii"),
            valid_from=parse_utc(data["valid_from"], where=f"{where}: valid_from"),
            valid_until=parse_utc(until, where=f"{where}: valid_until") if until else None,
            demo=_bool(data.get("demo", False), f"{where}: demo"),
        )
        claimed = data.get("fingerprint")
        if claimed is not None and claimed != info.fingerprint:
            raise KeyFileError(
                f"{where}: fingerprint {claimed!r} does not match the public key (expected {info.fingerprint})"
            )
        return info


@dataclass(frozen=True)
class KeyPaths:
    """Where a new key pair was written."""

    private: Path
    public: Path


def generate_key(
    name: str,
    role: str,
    *,
    valid_days: int | None = DEFAULT_VALID_DAYS,
    now: datetime | None = None,
    demo: bool = False,
) -> tuple[Ed25519PrivateKey, KeyInfo]:
    """A fresh key pair; validity starts at `now` so a signature can never predate its key."""
    if not name.strip():
        raise SigningError("key name: expected the signer's printed name, got an empty string")
    check_role(role)
    if valid_days is not None and not 0 < valid_days <= MAX_VALID_DAYS:
        raise SigningError(
            f"--valid-days: expected a number of days from 1 to {MAX_VALID_DAYS} (100 years), got {valid_days}"
        )
    start = (now or utc_now()).replace(microsecond=0)
    private = Ed25519PrivateKey.generate()
    info = KeyInfo(
        name=name.strip(),
        role=role,
        public_key_b64=base64.b64encode(raw_public_bytes(private.public_key())).decode("ascii"),
        valid_from=start,
        valid_until=start + timedelta(days=valid_days) if valid_days else None,
        demo=demo,
    )
    return private, info


def slug(text: str) -> str:
    """File-name-safe form of a signer name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "key"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet: a key file is never silently replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a key file") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def save_private_key(private: Ed25519PrivateKey, path: Path, passphrase: bytes) -> None:
    """Write PKCS8 PEM encrypted with `passphrase` (BestAvailableEncryption), mode 0600."""
    if not passphrase:
        raise KeyFileError(f"{path}: expected a non-empty passphrase to encrypt the private key")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_new(Path(path), pem, 0o600)


def save_public_info(info: KeyInfo, path: Path) -> None:
    """Write the public JSON file (not secret; hand it to auditors)."""
    text = json.dumps(info.to_json(), indent=2, ensure_ascii=False) + "\n"
    _write_new(Path(path), text.encode("utf-8"), 0o644)


def write_key_pair(
    name: str,
    role: str,
    out_dir: Path,
    passphrase: bytes,
    *,
    valid_days: int | None = DEFAULT_VALID_DAYS,
    now: datetime | None = None,
    demo: bool = False,
    stem: str | None = None,
) -> KeyPaths:
    """Generate and save a key pair as `<stem>.key.pem` and `<stem>.pub.json` in `out_dir`."""
    private, info = generate_key(name, role, valid_days=valid_days, now=now, demo=demo)
    stem = stem or f"{slug(name)}-{info.short}"
    paths = KeyPaths(Path(out_dir) / f"{stem}.key.pem", Path(out_dir) / f"{stem}.pub.json")
    save_private_key(private, paths.private, passphrase)
    save_public_info(info, paths.public)
    return paths


def load_private_key(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Decrypt a private key file; a wrong passphrase is reported as such, not as a crash."""
    path = Path(path)
    try:
        data = read_file(path, limit=KEY_FILE_MAX, what="private key file")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: private key file not found") from None
    except SigningError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise KeyFileError(f"{path}: key is not encrypted but a passphrase was given") from None
        raise KeyFileError(
            f"{path}: key is encrypted; give its passphrase (--passphrase-env VAR or --passphrase-file FILE)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path}: cannot decrypt: wrong passphrase, or not a PKCS8 PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: expected an Ed25519 private key, got {type(key).__name__}")
    return key


def load_public_info(path: Path) -> KeyInfo:
    """Read a public JSON key file written by `bench keys new`."""
    path = Path(path)
    try:
        raw = read_file(path, limit=KEY_FILE_MAX, what="public key file")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: public key file not found") from None
    except SigningError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        data = load_json(raw, where=str(path))
    except SigningError as exc:
        hint = " (this looks like a private key; give the .pub.json file)" if path.suffix == ".pem" else ""
        raise KeyFileError(f"expected a public key JSON file{hint}: {exc}") from None
    return KeyInfo.from_json(data, where=str(path))


@dataclass(frozen=True)
class Signer:
    """A decrypted private key together with its public record: what a signing call needs."""

    private_key: Ed25519PrivateKey
    info: KeyInfo


def load_signer(key_path: Path, pub_path: Path, passphrase: bytes | None) -> Signer:
    """Load both halves and refuse a private key that does not belong to the public file."""
    info = load_public_info(pub_path)
    private = load_private_key(key_path, passphrase)
    if fingerprint(private.public_key()) != info.fingerprint:
        raise KeyFileError(
            f"{key_path}: private key does not match public file {pub_path} "
            f"(expected fingerprint {info.fingerprint}, key has {fingerprint(private.public_key())})"
        )
    return Signer(private, info)


def read_passphrase(env_var: str | None = None, file: Path | None = None) -> bytes | None:
    """Passphrase from an environment variable or a file (one trailing newline stripped); None if neither."""
    if env_var and file:
        raise SigningError("give either --passphrase-env or --passphrase-file, not both")
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise SigningError(f"--passphrase-env {env_var}: environment variable is not set or empty")
        return value.encode("utf-8")
    if file:
        try:
            data = Path(file).read_bytes()
        except FileNotFoundError:
            raise SigningError(f"--passphrase-file {file}: file not found") from None
        data = data.removesuffix(b"\n").removesuffix(b"\r")
        if not data:
            raise SigningError(f"--passphrase-file {file}: file is empty; expected the passphrase")
        return data
    return None
