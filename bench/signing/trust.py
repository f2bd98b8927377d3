"""Trust file: which signing keys an auditor accepts, and which were revoked when.

A signature proves only that *some* key signed; the trust file says whose keys count. It is TOML:

    schema_version = "ess-bench-trust/1"

    [[key]]                                  # by public-key file (path relative to this file)
    public_key_file = "keys/jane-engineer-1a2b3c4d.pub.json"

    [[key]]                                  # or inline (what `bench keys trust-add` writes)
    name = "Jane Doe"
    role = "engineer"                        # optional: the role this key may sign as
    fingerprint = "1a2b…"                    # SHA-256 of the raw public key, hex
    public_key = "base64…"
    valid_from = "2025-01-01T00:00:00Z"      # optional
    valid_until = "2027-01-01T00:00:00Z"     # optional
    pdf_certificate = "-----BEGIN CERTIFICATE-----\n…"   # optional: the X.509 certificate this
                                             # person signs report PDFs with (or pdf_certificate_file)

    [[revoked]]
    fingerprint = "9f8e…"
    revoked_at = "2025-06-01T12:00:00Z"      # signatures made at/after this time are refused
    reason = "laptop lost"

    [policy]
    required_roles = ["engineer", "witness"] # a run folder fails unless each role has a valid signature

Edits append tables at the end so the auditor's comments and layout survive.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.errors import ConfigError
from bench.signing.errors import SigningError, TrustFileError
from bench.signing.files import TRUST_FILE_MAX, read_file
from bench.signing.keys import ROLES, KeyInfo, fingerprint, load_public_info, public_key_from_b64
from bench.signing.times import format_utc, parse_utc

TRUST_SCHEMA = "ess-bench-trust/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class TrustedKey:
    fingerprint: str
    name: str
    role: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    demo: bool
    source: str  # "file.toml:key[2]" for messages
    pdf_certificate: bytes | None = None  # DER of the certificate its PDF signatures must carry

    def is_valid_at(self, when: datetime) -> bool:
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_until is None or when < self.valid_until


@dataclass(frozen=True)
class Revocation:
    fingerprint: str
    revoked_at: datetime
    reason: str


@dataclass
class TrustStore:
    """Keys an auditor accepts and keys that were revoked, indexed by fingerprint."""

    path: Path | None = None
    keys: dict[str, TrustedKey] = field(default_factory=dict)
    revoked: dict[str, Revocation] = field(default_factory=dict)
    required_roles: tuple[str, ...] = ()

    def revocation_for(self, fp: str) -> Revocation | None:
        return self.revoked.get(fp)


def _str(table: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("expected a non-empty string", source=where, key=key)
    return value.strip()


def _time(table: dict, key: str, where: str) -> datetime | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):  # TOML native datetime
        if value.tzinfo is None:
            raise ConfigError("expected a UTC time with zone, e.g. 2025-06-01T12:00:00Z", source=where, key=key)
        value = format_utc(value)
    try:
        return parse_utc(value, where=f"{where}:{key}")
    except SigningError as exc:
        raise ConfigError(str(exc).split(": ", 1)[-1], source=where, key=key) from None


def _flag(table: dict, key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", source=where, key=key)
    return value


def _pdf_certificate(table: dict, where: str, base: Path) -> bytes | None:
    """DER of the entry's PDF certificate (`pdf_certificate` PEM text or `pdf_certificate_file`)."""
    from cryptography.hazmat.primitives import serialization

    from bench.signing.certs import load_certificate, load_certificate_bytes

    if "pdf_certificate" in table and "pdf_certificate_file" in table:
        raise ConfigError("give pdf_certificate or pdf_certificate_file, not both", source=where, key="pdf_certificate")
    try:
        if "pdf_certificate" in table:
            text = _str(table, "pdf_certificate", where)
            cert = load_certificate_bytes(text.encode("ascii", "replace"), where=f"{where}:pdf_certificate")
        elif "pdf_certificate_file" in table:
            rel = _str(table, "pdf_certificate_file", where)
            cert = load_certificate(Path(rel) if Path(rel).is_absolute() else base / rel)
        else:
            return None
    except SigningError as exc:
        key = "pdf_certificate" if "pdf_certificate" in table else "pdf_certificate_file"
        raise ConfigError(str(exc), source=where, key=key) from None
    return cert.public_bytes(serialization.Encoding.DER)


def _policy(table: object, where: str) -> tuple[str, ...]:
    """`[policy] required_roles = [...]`: roles whose signature every run folder must carry."""
    if not isinstance(table, dict):
        raise ConfigError("expected a table [policy]", source=where, key="policy")
    unknown = set(table) - {"required_roles"}
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)}; expected required_roles", source=where, key="policy")
    roles = table.get("required_roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ConfigError("expected a list of role names", source=where, key="policy.required_roles")
    for role in roles:
        if role not in ROLES:
            raise ConfigError(
                f"unknown role {role!r}; expected one of {', '.join(ROLES)}",
                source=where,
                key="policy.required_roles",
            )
    return tuple(dict.fromkeys(roles))


def _entry_from_table(table: dict, where: str, base: Path) -> TrustedKey:
    if "public_key_file" in table:
        rel = _str(table, "public_key_file", where)
        pub_path = Path(rel) if Path(rel).is_absolute() else base / rel
        try:
            info = load_public_info(pub_path)
        except SigningError as exc:
            raise ConfigError(f"cannot use public key file: {exc}", source=where, key="public_key_file") from None
        role = _str(table, "role", where, required=False) or info.role
        return TrustedKey(
            info.fingerprint,
            info.name,
            role,
            info.valid_from,
            info.valid_until,
            info.demo,
            where,
            _pdf_certificate(table, where, base),
        )
    name = _str(table, "name", where)
    fp = _str(table, "fingerprint", where).lower()
    if not _HEX64.match(fp):
        raise ConfigError("expected 64 hex digits (SHA-256 of the raw public key)", source=where, key="fingerprint")
    key_b64 = table.get("public_key")
    if key_b64 is not None:
        try:
            key = public_key_from_b64(key_b64, where=f"{where}:public_key")
        except SigningError as exc:
            raise ConfigError(str(exc), source=where, key="public_key") from None
        if fingerprint(key) != fp:
            raise ConfigError(
                f"fingerprint does not match public_key (key has {fingerprint(key)})",
                source=where,
                key="fingerprint",
            )
    return TrustedKey(
        fingerprint=fp,
        name=name,
        role=_str(table, "role", where, required=False),
        valid_from=_time(table, "valid_from", where),
        valid_until=_time(table, "valid_until", where),
        demo=_flag(table, "demo", where),
        source=where,
        pdf_certificate=_pdf_certificate(table, where, base),
    )


def load_trust(path: Path) -> TrustStore:
    """Read and check a trust file; problems are ConfigErrors naming the file and table."""
    path = Path(path)
    try:
        raw = read_file(path, limit=TRUST_FILE_MAX, what="trust file")
    except FileNotFoundError:
        raise TrustFileError(f"{path}: trust file not found") from None
    except SigningError as exc:
        raise TrustFileError(str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None
    version = data.get("schema_version", TRUST_SCHEMA)
    if version != TRUST_SCHEMA:
        raise ConfigError(f"unsupported {version!r}; expected {TRUST_SCHEMA!r}", source=str(path), key="schema_version")
    unknown = set(data) - {"schema_version", "key", "revoked", "policy"}
    if unknown:
        raise ConfigError(
            f"unknown top-level entries {sorted(unknown)}; expected [[key]], [[revoked]] and [policy] tables",
            source=str(path),
        )
    for name in ("key", "revoked"):
        if not isinstance(data.get(name, []), list) or not all(isinstance(t, dict) for t in data.get(name, [])):
            raise ConfigError(f"expected [[{name}]] tables", source=str(path), key=name)
    store = TrustStore(path=path, required_roles=_policy(data.get("policy", {}), str(path)))
    for i, table in enumerate(data.get("key", [])):
        entry = _entry_from_table(table, f"{path}:key[{i}]", path.parent)
        if entry.fingerprint in store.keys:
            raise ConfigError(
                f"fingerprint {entry.fingerprint[:8]} listed twice (also {store.keys[entry.fingerprint].source})",
                source=f"{path}:key[{i}]",
                key="fingerprint",
            )
        store.keys[entry.fingerprint] = entry
    for i, table in enumerate(data.get("revoked", [])):
        where = f"{path}:revoked[{i}]"
        fp = _str(table, "fingerprint", where).lower()
        if not _HEX64.match(fp):
            raise ConfigError("expected 64 hex digits", source=where, key="fingerprint")
        at = _time(table, "revoked_at", where)
        if at is None:
            raise ConfigError("expected the UTC revocation time", source=where, key="revoked_at")
        earlier = store.revoked.get(fp)
        if earlier is None or at < earlier.revoked_at:  # the earliest revocation wins
            store.revoked[fp] = Revocation(fp, at, str(table.get("reason", "")))
    return store


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON string escaping is a subset TOML accepts; DEL escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _append(path: Path, block: str) -> None:
    """Append a table to the trust file, creating it with a header the first time."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# ESS Bench trust file: keys whose signatures this auditor accepts, and revocations.\n"
            f"schema_version = {_toml_str(TRUST_SCHEMA)}\n"
        )
        path.write_text(header, encoding="utf-8")
    existing = path.read_text(encoding="utf-8")
    sep = "" if existing.endswith("\n") else "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(sep + "\n" + block)
        fh.flush()
        os.fsync(fh.fileno())


def add_trusted_key(
    trust_path: Path, info: KeyInfo, *, source_file: Path | None = None, pdf_certificate: Path | None = None
) -> TrustedKey:
    """Append an inline [[key]] for `info` (self-contained, so auditing needs no other files).

    `pdf_certificate`: the certificate file this person signs report PDFs with; its PEM text is
    written into the entry. A key already listed is left as it is and its existing entry
    returned (an entry cannot gain a certificate this way: edit it, since entries are the
    auditor's own text).
    """
    trust_path = Path(trust_path)
    cert_pem = None
    if pdf_certificate is not None:
        from cryptography.hazmat.primitives import serialization

        from bench.signing.certs import load_certificate

        cert_pem = load_certificate(pdf_certificate).public_bytes(serialization.Encoding.PEM).decode("ascii")
    if trust_path.exists():
        store = load_trust(trust_path)
        if info.fingerprint in store.keys:  # idempotent, so `make demo` can run twice
            entry = store.keys[info.fingerprint]
            if cert_pem is not None and entry.pdf_certificate is None:
                raise TrustFileError(
                    f"{entry.source}: key {info.short} is already listed without a PDF certificate; add "
                    f'pdf_certificate_file = "{pdf_certificate}" to that entry'
                )
            return entry
    lines = ["[[key]]"]
    if source_file is not None:
        lines.append(f"# from {source_file}")
    lines += [
        f"name = {_toml_str(info.name)}",
        f"role = {_toml_str(info.role)}",
        f"fingerprint = {_toml_str(info.fingerprint)}",
        f"public_key = {_toml_str(info.public_key_b64)}",
        f"valid_from = {_toml_str(format_utc(info.valid_from))}",
    ]
    if info.valid_until:
        lines.append(f"valid_until = {_toml_str(format_utc(info.valid_until))}")
    if info.demo:
        lines.append("demo = true")
    if cert_pem is not None:
        lines.append(f"pdf_certificate = {_toml_str(cert_pem)}")
    _append(trust_path, "\n".join(lines) + "\n")
    return load_trust(trust_path).keys[info.fingerprint]


def resolve_fingerprint(store: TrustStore, text: str, *, where: str) -> str:
    """Full fingerprint from 64 hex digits, or from a unique prefix (>= 8) of a key in the store."""
    fp = text.strip().lower()
    if _HEX64.match(fp):
        return fp
    if len(fp) >= 8 and re.fullmatch(r"[0-9a-f]+", fp):
        matches = [k for k in store.keys if k.startswith(fp)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise TrustFileError(f"{where}: prefix {fp!r} matches {len(matches)} keys; give more digits")
    raise TrustFileError(
        f"{where}: {text!r} is not a fingerprint (64 hex digits) nor a unique prefix of a key in the trust file"
    )


def revoke_key(trust_path: Path, fp_text: str, at: datetime, *, reason: str = "") -> Revocation:
    """Append a [[revoked]] entry; signatures timed at/after `at` by that key then fail verification."""
    trust_path = Path(trust_path)
    store = load_trust(trust_path) if trust_path.exists() else TrustStore(path=trust_path)
    fp = resolve_fingerprint(store, fp_text, where=str(trust_path))
    existing = store.revoked.get(fp)
    if existing is not None and existing.revoked_at <= at:
        raise TrustFileError(
            f"{trust_path}: key {fp[:8]} is already revoked at {format_utc(existing.revoked_at)} "
            "(earlier than or equal to the new time)"
        )
    lines = ["[[revoked]]", f"fingerprint = {_toml_str(fp)}", f"revoked_at = {_toml_str(format_utc(at))}"]
    if fp in store.keys:
        lines.insert(1, f"# {store.keys[fp].name} ({store.keys[fp].role or 'any role'})")
    if reason:
        lines.append(f"reason = {_toml_str(reason)}")
    _append(trust_path, "\n".join(lines) + "\n")
    return load_trust(trust_path).revoked[fp]
