"""Offline verification of a signed run directory or limit set, with structured results and a printer.

Verification recomputes every artifact hash and checks every signature cryptographically, then
applies the auditor's trust file: unknown keys, keys revoked at or before the signing time, and
signing times outside a key's validity all fail. Without a trust file, keys are UNTRUSTED and the
verdict is FAIL unless the caller explicitly accepts integrity-only verification.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench.signing.errors import LimitSetSignatureError, SigningError
from bench.signing.files import LIMIT_SET_MAX, list_dir, read_file, read_in
from bench.signing.keys import check_role
from bench.signing.manifest import SIGNATURES_DIR, compare_files, read_manifest, sha256_bytes
from bench.signing.pdfsign import (
    SIGNED_PDF,
    SIGNED_PDF_MAX,
    SOURCE_PDF,
    PdfSignatureResult,
    validate_signed_pdf,
)
from bench.signing.signature import SUBJECT_LIMITS, SUBJECT_RUN, SignatureRecord, verify_record
from bench.signing.signer import (
    SIGNATURE_NAME,
    read_run_signature,
    read_sidecar,
    sidecar_path,
    signature_names,
)
from bench.signing.times import format_utc
from bench.signing.trust import TrustStore, load_trust

UNTRUSTED_NOTICE = (
    "No trust file given: signatures were checked mathematically, but no trusted list vouches for the "
    "signers' keys (UNTRUSTED). Give --trust FILE, or --allow-untrusted to accept integrity-only checks."
)


@dataclass(frozen=True)
class ArtifactResult:
    path: str
    status: str  # OK | CHANGED | MISSING | EXTRA
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "OK"


@dataclass
class SignatureResult:
    source: str
    # OK | BAD SIGNATURE | UNKNOWN KEY | REVOKED | OUTSIDE VALIDITY | ROLE MISMATCH | UNTRUSTED | MALFORMED
    status: str
    ok: bool
    signer: str = ""
    role: str = ""
    meaning: str = ""
    signed_utc: str = ""
    fingerprint: str = ""
    demo: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Verification:
    """Everything `bench verify` found; `ok` is the overall verdict."""

    target: Path
    kind: str  # "run" | "limit-set"
    artifacts: list[ArtifactResult] = field(default_factory=list)
    signatures: list[SignatureResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trust_path: Path | None = None
    header: str = ""
    sha256: str = ""  # limit sets: hash of the file bytes
    pdf_signatures: list[PdfSignatureResult] = field(default_factory=list)  # in signatures/report-signed.pdf

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and bool(self.signatures)
            and all(a.ok for a in self.artifacts)
            and all(s.ok for s in self.signatures)
            and all(p.ok for p in self.pdf_signatures)
        )

    def failure_lines(self) -> list[str]:
        """One short line per failure, naming the artifact or signature file."""
        lines = [f"{a.path}: {a.status}" + (f" ({a.detail})" if a.detail else "") for a in self.artifacts if not a.ok]
        lines += [
            f"{s.source}: {s.status}" + (f" ({'; '.join(s.notes)})" if s.notes else "")
            for s in self.signatures
            if not s.ok
        ]
        lines += [
            f"{SIGNED_PDF} {p.field}: {p.status}" + (f" ({p.notes[0]})" if p.notes else "")
            for p in self.pdf_signatures
            if not p.ok
        ]
        lines += self.problems
        return lines


def evaluate_signature(
    record: SignatureRecord,
    subject_bytes: bytes,
    *,
    subject: str,
    trust: TrustStore | None,
    allow_untrusted: bool = False,
) -> SignatureResult:
    """Crypto first, then revocation, trust membership, validity window and role."""
    result = SignatureResult(
        source=record.source,
        status="OK",
        ok=True,
        signer=record.signer,
        role=record.role,
        meaning=record.meaning,
        signed_utc=record.signed["signed_utc"],
        fingerprint=record.fingerprint,
        demo=record.demo,
    )
    check = verify_record(record, subject_bytes, subject=subject)
    at = record.signed_at
    revocation = trust.revocation_for(record.fingerprint) if trust else None
    entry = trust.keys.get(record.fingerprint) if trust else None
    claimed = record.key_info()
    if entry is not None:  # who the key belongs to and whether it is a demo key: the trust file says
        result.signer, result.demo = entry.name, entry.demo
    if not check.ok:
        result.status, result.ok = "BAD SIGNATURE", False
        result.notes += check.problems
    elif revocation is not None and at >= revocation.revoked_at:
        result.status, result.ok = "REVOKED", False
        why = f": {revocation.reason}" if revocation.reason else ""
        result.notes.append(f"key revoked at {format_utc(revocation.revoked_at)}{why}; signed at {result.signed_utc}")
    elif trust is not None and entry is None:
        result.status, result.ok = "UNKNOWN KEY", False
        result.notes.append(f"fingerprint {record.fingerprint} is not in trust file {trust.path}")
    elif not claimed.is_valid_at(at) or (entry is not None and not entry.is_valid_at(at)):
        result.status, result.ok = "OUTSIDE VALIDITY", False
        window = claimed.validity_text()
        if entry is not None and (entry.valid_from or entry.valid_until):
            start = format_utc(entry.valid_from) if entry.valid_from else "-"
            end = format_utc(entry.valid_until) if entry.valid_until else "no expiry"
            window += f"; trust file: {start} .. {end}"
        result.notes.append(f"signed at {result.signed_utc}, key valid {window}")
    elif entry is not None and entry.role and entry.role != record.role:
        result.status, result.ok = "ROLE MISMATCH", False
        result.notes.append(f"signed as {record.role!r}, trust file allows this key only as {entry.role!r}")
    elif entry is not None and entry.name != record.signer:
        result.status, result.ok = "NAME MISMATCH", False
        result.notes.append(f"signature claims signer {record.signer!r}; trust file names this key {entry.name!r}")
    elif entry is not None and entry.demo != record.demo:
        result.status, result.ok = "DEMO MISMATCH", False
        said = "demo" if record.demo else "not demo"
        result.notes.append(
            f"signature claims the key is {said}; trust file marks it {'DEMO' if entry.demo else 'not demo'}"
        )
    elif trust is None:
        result.status, result.ok = "UNTRUSTED", allow_untrusted
        if allow_untrusted:
            result.notes.append("integrity only: key not checked against a trust file (--allow-untrusted)")
    if revocation is not None and result.status != "REVOKED":
        result.notes.append(f"key revoked later, at {format_utc(revocation.revoked_at)}")
    if result.demo or record.demo:
        result.notes.append("DEMO KEY: demonstration signature, not valid for real reports")
    return result


def _malformed(source: str, exc: Exception) -> SignatureResult:
    return SignatureResult(source=source, status="MALFORMED", ok=False, notes=[str(exc)])


def _as_store(trust: TrustStore | Path | str | None) -> TrustStore | None:
    if trust is None or isinstance(trust, TrustStore):
        return trust
    return load_trust(Path(trust))


def verify_run_dir(
    run_dir: Path,
    trust: TrustStore | Path | str | None = None,
    *,
    allow_untrusted: bool = False,
    expect_roles: tuple[str, ...] | list[str] = (),
) -> Verification:
    """Check every artifact hash and every signature of `reports/<run-id>/`.

    `expect_roles` (and the trust file's `[policy] required_roles`) name roles that must each
    carry a valid signature: the only way to notice that the newest signature was deleted, since
    nothing signed after it can vouch for it.
    """
    run_dir = Path(run_dir)
    store = _as_store(trust)
    v = Verification(target=run_dir, kind="run", trust_path=store.path if store else None)
    if not run_dir.is_dir():
        v.problems.append(f"{run_dir}: not a directory; expected a signed run directory")
        return v
    try:
        manifest, raw = read_manifest(run_dir)
    except SigningError as exc:
        v.problems.append(str(exc))
        return v
    v.header = (
        f"run {manifest.run_id}, manifest {manifest.schema_version} created "
        f"{format_utc(manifest.created_utc)}, {len(manifest.files)} artifacts"
    )
    try:
        v.artifacts = [ArtifactResult(rel, status, detail) for status, rel, detail in compare_files(manifest, run_dir)]
    except SigningError as exc:
        v.problems.append(str(exc))
    try:
        entries = list_dir(run_dir, SIGNATURES_DIR)
    except SigningError as exc:
        v.problems.append(str(exc))
        entries = []
    for stray in (name for name, _kind in entries if not SIGNATURE_NAME.match(name) and name != SIGNED_PDF):
        v.problems.append(f"{SIGNATURES_DIR}/{stray}: EXTRA file in signatures/ (expected <n>-<role>-<fp8>.json)")
    names = signature_names(run_dir) if entries else []
    if not names:
        v.problems.append(f"{run_dir}: no signatures in {SIGNATURES_DIR}/; an unsigned run directory is not valid")
    hashes: dict[str, str] = {}
    records: list[tuple[str, SignatureRecord]] = []
    for name in names:
        rel = f"{SIGNATURES_DIR}/{name}"
        try:
            record, data = read_run_signature(run_dir, name)
        except SigningError as exc:
            v.signatures.append(_malformed(rel, exc))
            continue
        hashes[name] = sha256_bytes(data)
        records.append((rel, record))
    for rel, record in records:
        result = evaluate_signature(record, raw, subject=SUBJECT_RUN, trust=store, allow_untrusted=allow_untrusted)
        v.signatures.append(result)
        expected = f"{record.sequence}-{record.role}-{record.fingerprint[:8]}.json"
        if rel != f"{SIGNATURES_DIR}/{expected}":
            v.problems.append(f"{rel}: file name does not match its signed content (expected {expected})")
        for ref in record.countersigns:
            target = str(ref.get("file"))
            if target not in names:
                v.problems.append(f"{rel} countersigns {target}, which is MISSING (signature removed)")
            elif hashes.get(target) != ref.get("sha256"):
                v.problems.append(f"{rel} countersigns {target}, which has CHANGED since")
    for name, kind in entries:
        if name == SIGNED_PDF and kind != "file":
            v.problems.append(f"{SIGNATURES_DIR}/{SIGNED_PDF}: is a {kind}, not a regular file; refused")
    _check_signed_pdf(v, run_dir, manifest, records, (SIGNED_PDF, "file") in entries, store)
    _check_required_roles(v, tuple(expect_roles), store)
    if store is None:
        v.notes.append(UNTRUSTED_NOTICE)
    return v


def _check_signed_pdf(
    v: Verification,
    run_dir: Path,
    manifest: Any,
    records: list[tuple[str, SignatureRecord]],
    present: bool,
    store: TrustStore | None,
) -> None:
    """signatures/report-signed.pdf: starts with report.pdf as listed, each revision vouched for, pyHanko-valid."""
    vouched = [(rel, r.signed["pdf"]) for rel, r in records if isinstance(r.signed.get("pdf"), dict)]
    rel_pdf = f"{SIGNATURES_DIR}/{SIGNED_PDF}"
    if not present:
        if vouched:
            v.problems.append(f"{rel_pdf}: MISSING, but {vouched[0][0]} records a PDF signature")
        elif any(f.path == SOURCE_PDF for f in manifest.files):
            v.notes.append(f"{SOURCE_PDF} carries no PDF signature of its own (signed without a PDF certificate)")
        return
    try:
        data = read_in(run_dir, rel_pdf, limit=SIGNED_PDF_MAX, what="signed report PDF")
    except SigningError as exc:
        v.problems.append(str(exc))
        return
    entry = next((f for f in manifest.files if f.path == SOURCE_PDF), None)
    if entry is None or sha256_bytes(data[: entry.size]) != entry.sha256:
        v.problems.append(f"{rel_pdf}: does not start with {SOURCE_PDF} as the manifest lists it")
    sizes = []
    for rel, p in vouched:
        size = p.get("size")
        if not isinstance(size, int) or size > len(data) or sha256_bytes(data[:size]) != p.get("sha256"):
            v.problems.append(
                f"{rel}: the PDF revision it signed ({p.get('field')}) is not in {rel_pdf} "
                "(PDF signature removed or the file altered)"
            )
        else:
            sizes.append(size)
    if not vouched:
        v.problems.append(f"{rel_pdf}: EXTRA: no signature file records a PDF signature")
    elif max(sizes, default=-1) != len(data):
        v.problems.append(f"{rel_pdf}: has bytes after the last revision a signature records (added after signing)")
    v.pdf_signatures = validate_signed_pdf(data, store)
    fields = {r.field: r for r in v.pdf_signatures}
    for rel, p in vouched:
        result = fields.get(str(p.get("field")))
        if result is None:
            v.problems.append(f"{rel}: records PDF signature {p.get('field')}, which the PDF does not contain")
        elif result.cert_sha256 and result.cert_sha256 != p.get("certificate_sha256"):
            v.problems.append(
                f"{rel}: PDF signature {p.get('field')} was made with another certificate than it records"
            )
    recorded = {str(p.get("field")) for _, p in vouched}
    for result in v.pdf_signatures:
        if result.field not in recorded:
            v.problems.append(f"{rel_pdf}: PDF signature {result.field} is not recorded by any signature file")


def _check_required_roles(v: Verification, expect: tuple[str, ...], store: TrustStore | None) -> None:
    """A problem per required role without a valid signature (from --expect-roles and the trust policy)."""
    for role in expect:
        check_role(role, where="--expect-roles")
    wanted = {role: "--expect-roles" for role in expect}
    for role in store.required_roles if store else ():
        wanted.setdefault(role, f"[policy] required_roles in {store.path}")
    present = {s.role for s in v.signatures if s.ok}
    for role, why in wanted.items():
        if role not in present:
            v.problems.append(
                f"no valid {role} signature (required by {why}); a signature may have been removed, "
                "or the run was not signed in that role"
            )
        else:
            v.notes.append(f"required role {role}: signed")


def verify_limit_set(
    path: Path,
    trust: TrustStore | Path | str | None = None,
    *,
    allow_untrusted: bool = False,
    data: bytes | None = None,
) -> Verification:
    """Check a limit-set file against its `.sig.json` sidecar and the trust file.

    `data` is the file content when the caller has already read it (production mode): the
    signature is then checked over exactly the bytes that will be parsed and journalled.
    """
    path = Path(path)
    store = _as_store(trust)
    v = Verification(target=path, kind="limit-set", trust_path=store.path if store else None)
    if data is None:
        try:
            data = read_file(path, limit=LIMIT_SET_MAX, what="limit set file")
        except FileNotFoundError:
            v.problems.append(f"{path}: limit set file not found")
            return v
        except SigningError as exc:
            v.problems.append(str(exc))
            return v
    v.sha256 = sha256_bytes(data)
    side_path = sidecar_path(path)
    if not side_path.exists():
        v.problems.append(f"{path}: not signed (no sidecar {side_path.name}); expected a signed limit set")
        return v
    try:
        side = read_sidecar(side_path)
    except SigningError as exc:
        v.problems.append(str(exc))
        return v
    v.header = f"limit set {path.name}, sidecar {side_path.name}, {len(side.signatures)} signature(s)"
    if side.sha256 != v.sha256:
        v.artifacts.append(
            ArtifactResult(path.name, "CHANGED", f"sha256 expected {side.sha256[:16]}…, found {v.sha256[:16]}…")
        )
    else:
        v.artifacts.append(ArtifactResult(path.name, "OK"))
    if not side.signatures:
        v.problems.append(f"{side_path}: contains no signatures")
    for record in side.signatures:
        v.signatures.append(
            evaluate_signature(record, data, subject=SUBJECT_LIMITS, trust=store, allow_untrusted=allow_untrusted)
        )
    if store is None:
        v.notes.append(UNTRUSTED_NOTICE)
    return v


def verify_path(
    path: Path,
    trust: TrustStore | Path | str | None = None,
    *,
    allow_untrusted: bool = False,
    expect_roles: tuple[str, ...] | list[str] = (),
) -> Verification:
    """Run directory if `path` is a directory, otherwise a signed limit set."""
    path = Path(path)
    if path.is_dir():
        return verify_run_dir(path, trust, allow_untrusted=allow_untrusted, expect_roles=expect_roles)
    v = verify_limit_set(path, trust, allow_untrusted=allow_untrusted)
    _check_required_roles(v, tuple(expect_roles), None)
    return v


def print_verification(v: Verification, out: TextIO | None = None) -> None:
    """Human-readable verdict: one line per artifact and per signature, then the overall result."""
    out = out or sys.stdout
    what = "run directory" if v.kind == "run" else "limit set"
    print(f"Verifying {what} {v.target}" + (f" ({v.header})" if v.header else ""), file=out)
    for a in v.artifacts:
        print(f"  {a.status:<8} {a.path}" + (f"  - {a.detail}" if a.detail else ""), file=out)
    trust = f"trust file {v.trust_path}" if v.trust_path else "no trust file"
    print(f"Signatures ({trust}):", file=out)
    if not v.signatures:
        print("  (none)", file=out)
    for s in v.signatures:
        who = f'{s.signer}, {s.role}, "{s.meaning}", {s.signed_utc}, key {s.fingerprint[:8]}' if s.signer else ""
        tag = " [DEMO KEY]" if s.demo else ""
        print(f"  {s.status:<16} {s.source}  {who}{tag}", file=out)
        for note in s.notes:
            print(f"  {'':<16}   {note}", file=out)
    if v.pdf_signatures:
        print(f"PDF signatures in {SIGNATURES_DIR}/{SIGNED_PDF} (pyHanko validation, {trust}):", file=out)
        for p in v.pdf_signatures:
            who = f"{p.signer}" + (f", {p.role}" if p.role else "") + (f", {p.signed_utc}" if p.signed_utc else "")
            print(f"  {p.status:<16} {p.field}  {who}", file=out)
            for note in p.notes:
                print(f"  {'':<16}   {note}", file=out)
    for note in v.notes:
        print(f"Note: {note}", file=out)
    for problem in v.problems:
        print(f"Problem: {problem}", file=out)
    if v.ok:
        pdf = f", {len(v.pdf_signatures)} PDF signature(s) valid" if v.pdf_signatures else ""
        print(
            f"RESULT: PASS - {len(v.artifacts)} artifact(s) intact, {len(v.signatures)} signature(s) valid{pdf}",
            file=out,
        )
    else:
        failures = v.failure_lines()
        print(f"RESULT: FAIL - {len(failures)} problem(s): " + "; ".join(failures), file=out)


@dataclass(frozen=True)
class SignedStatus:
    """A limit set that passed `check_signed_limit_set`: its hash and who signed it."""

    path: Path
    sha256: str
    signers: tuple[str, ...]  # "Name (role, fp8)"
    demo: bool


def check_signed_limit_set(
    path: Path, trust_path: Path, *, allow_demo: bool = False, data: bytes | None = None
) -> SignedStatus:
    """Gate for production mode: return the status of a properly signed limit set, or raise.

    Raises LimitSetSignatureError naming the file when it is unsigned, altered after signing, or
    signed only by unknown/revoked/expired keys (or only by keys the trust file marks DEMO, unless
    `allow_demo`). Pass `data`, the bytes the caller read and will use, so that exactly those are
    checked (never a second read of the file).
    """
    path = Path(path)
    v = verify_limit_set(path, load_trust(Path(trust_path)), data=data)
    if not v.ok:
        reasons = v.failure_lines()
        raise LimitSetSignatureError(
            f"{path}: limit set refused ({'; '.join(reasons)}); expected it unaltered and signed by a key "
            f"in {trust_path}",
            path=str(path),
            reasons=reasons,
        )
    accepted = [s for s in v.signatures if s.ok and (allow_demo or not s.demo)]
    if not accepted:
        raise LimitSetSignatureError(
            f"{path}: limit set refused: signed only with DEMO keys; expected a signature by a real trusted key",
            path=str(path),
            reasons=["demo signatures only"],
        )
    return SignedStatus(
        path=path,
        sha256=v.sha256,
        signers=tuple(f"{s.signer} ({s.role}, {s.fingerprint[:8]})" for s in accepted),
        demo=any(s.demo for s in v.signatures),
    )


__all__ = [
    "ArtifactResult",
    "SignatureResult",
    "SignedStatus",
    "Verification",
    "check_signed_limit_set",
    "evaluate_signature",
    "print_verification",
    "verify_limit_set",
    "verify_path",
    "verify_run_dir",
]
