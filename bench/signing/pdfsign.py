"""PAdES signatures inside the report PDF, kept beside the run folder's Ed25519 signatures.

Order of operations (docs/signing.md): the manifest fixes `report.pdf` (the archival PDF/A-3b
as rendered). Each `bench sign` then also signs the PDF: the signed copy lives at
`signatures/report-signed.pdf`, outside the manifest, so the manifest stays valid however
many PDF signatures are added. Every PDF signature is an incremental update, so the file
always starts with the exact bytes of `report.pdf`, and every earlier revision stays intact:

  * the first signature (the engineer's) *certifies* the document (DocMDP P=2: only form
    filling and further signatures allowed) and, in the same update, embeds manifest.json as
    an associated file, so the PDF alone carries the hash of its own first revision;
  * later signatures (witness, reviewer) are approval signatures in further updates;
  * each Ed25519 signature file records the size and SHA-256 of the signed PDF right after its
    own PDF signature, and the certificate's SHA-256: removing or altering a PDF signature is
    caught by the Ed25519 chain, and vice versa.

Signatures are PAdES baseline B-B (signing time from the signer's clock); B-T when a time-stamping
authority URL is given explicitly. Nothing here makes a network call otherwise.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.signing.certs import PdfSigningKey, cert_sha256
from bench.signing.errors import SigningError

SIGNED_PDF = "report-signed.pdf"
SOURCE_PDF = "report.pdf"
SIGNED_PDF_MAX = 1 << 30  # 1 GiB


def _pyhanko() -> Any:
    try:
        import pyhanko.sign  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise SigningError(f"PDF signatures need pyHanko ({exc}); install ess-bench's dependencies") from exc
    return pyhanko


def field_name(sequence: int, role: str) -> str:
    return f"Sig{sequence}-{role}"


def _signer(key: PdfSigningKey) -> Any:
    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    cert = ax509.Certificate.load(key.certificate.public_bytes(serialization.Encoding.DER))
    der = key.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signers.SimpleSigner(cert, akeys.PrivateKeyInfo.load(der), SimpleCertificateStore.from_certs([cert]))


def _embed_manifest(writer: Any, manifest: bytes, when: datetime) -> None:
    """Add manifest.json as a PDF/A-3 associated file (catalog /AF, name tree kept sorted)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams

    ef = EmbeddedFileObject.from_file_data(
        writer,
        manifest,
        mime_type="application/json",
        params=EmbeddedFileParams(creation_date=when, modification_date=when),
    )
    spec = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Filespec"),
            generic.NameObject("/F"): generic.pdf_string("manifest.json"),
            generic.NameObject("/UF"): generic.pdf_string("manifest.json"),
            generic.NameObject("/Desc"): generic.pdf_string(
                "manifest.json of the run folder: SHA-256 of every artifact, including report.pdf, which is "
                "this document's first revision"
            ),
            generic.NameObject("/AFRelationship"): generic.NameObject("/Supplement"),
            generic.NameObject("/EF"): generic.DictionaryObject({generic.NameObject("/F"): writer.add_object(ef)}),
        }
    )
    spec_ref = writer.add_object(spec)
    root = writer.root
    if "/Names" not in root:
        root["/Names"] = generic.DictionaryObject()
    names = root["/Names"]
    if "/EmbeddedFiles" not in names:
        names["/EmbeddedFiles"] = writer.add_object(
            generic.DictionaryObject({generic.NameObject("/Names"): generic.ArrayObject()})
        )
    tree = names["/EmbeddedFiles"]
    if "/Kids" in tree:
        raise SigningError("report.pdf: embedded-file name tree with /Kids is not supported")
    old = list(tree["/Names"])
    pairs = list(zip(old[0::2], [tree["/Names"].raw_get(i) for i in range(1, len(old), 2)], strict=True))
    pairs.append((generic.pdf_string("manifest.json"), spec_ref))
    pairs.sort(key=lambda p: str(p[0]))
    tree["/Names"] = generic.ArrayObject([x for pair in pairs for x in pair])
    af = [root["/AF"].raw_get(i) for i in range(len(root["/AF"]))] if "/AF" in root else []
    root["/AF"] = generic.ArrayObject([*af, spec_ref])
    ef_ref = names.raw_get("/EmbeddedFiles")
    if isinstance(ef_ref, generic.IndirectObject):
        writer.mark_update(ef_ref)
    if isinstance(root.raw_get("/Names"), generic.IndirectObject):
        writer.mark_update(root.raw_get("/Names"))
    writer.update_root()


def sign_pdf(
    source: bytes,
    key: PdfSigningKey,
    *,
    field: str,
    certify: bool,
    reason: str,
    name: str,
    when: datetime,
    manifest: bytes | None = None,
    tsa_url: str | None = None,
    timestamper: Any = None,
) -> bytes:
    """`source` plus one incremental update holding a PAdES signature (and manifest.json if given)."""
    _pyhanko()
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.signers.pdf_signer import PdfSigner

    if tsa_url and timestamper is None:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        timestamper = HTTPTimeStamper(tsa_url)

    class _AtTime(PdfSigner):
        """PdfSigner whose signing time is the one the Ed25519 signature records (one act, one time)."""

        def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = when
            return session

    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(source), strict=False)
        if manifest is not None:
            _embed_manifest(writer, manifest, when)
        meta = signers.PdfSignatureMetadata(
            field_name=field,
            certify=certify,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=reason,
            name=name,
        )
        spec = fields.SigFieldSpec(
            field,
            readable_field_name=f"{name}: {reason}",
            # invisible, printable, zero-size widget: what PDF/A allows without an appearance font
            invis_sig_settings=fields.InvisSigSettings(
                set_print_flag=True, set_hidden_flag=False, box_out_of_bounds=False
            ),
        )
        out = _AtTime(meta, _signer(key), timestamper=timestamper, new_field_spec=spec).sign_pdf(writer)
        data = out.getvalue()
    except SigningError:
        raise
    except Exception as exc:
        raise SigningError(f"report.pdf: PDF signature failed ({type(exc).__name__}: {exc})") from exc
    if b"/Version /2.0" in data[len(source) :] or b"/Version/2.0" in data[len(source) :]:
        raise SigningError(
            "report.pdf: this certificate's key type makes pyHanko mark the PDF as PDF 2.0, which a "
            "PDF/A-3 report may not claim; use an RSA certificate (bench keys cert makes one)"
        )
    if not data.startswith(source):
        raise SigningError("report.pdf: the PDF signature rewrote earlier bytes; expected an incremental update")
    return data


def revision_record(data: bytes, key: PdfSigningKey, field: str) -> dict[str, Any]:
    """What the Ed25519 signature records about the PDF signature made in the same act."""
    return {
        "file": SIGNED_PDF,
        "field": field,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "certificate_sha256": key.cert_sha256,
    }


@dataclass
class PdfSignatureResult:
    """One signature inside signatures/report-signed.pdf, as pyHanko and the trust file judge it."""

    field: str
    status: str  # OK | BROKEN | NOT COVERING | UNKNOWN CERTIFICATE | REVOKED | OUTSIDE VALIDITY | INVALID
    ok: bool
    signer: str = ""
    role: str = ""
    kind: str = ""  # certification | approval
    signed_utc: str = ""
    coverage: str = ""
    cert_sha256: str = ""
    notes: list[str] = field(default_factory=list)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0) if value.tzinfo else value.replace(tzinfo=UTC)


def validate_signed_pdf(data: bytes, trust: Any) -> list[PdfSignatureResult]:
    """pyHanko's validation of every signature, then the trust file: whose certificate, revoked, valid when.

    `trust` is a TrustStore (or None: certificates then UNTRUSTED). Offline: no fetching, the
    certificates pinned in the trust file are the trust anchors, each signature is judged at its
    own signing time (B-B: the signer's clock, like the Ed25519 signatures).
    """
    _pyhanko()
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from bench.signing.times import format_utc

    pinned = {}
    if trust is not None:
        for entry in trust.keys.values():
            if entry.pdf_certificate:
                pinned[hashlib.sha256(entry.pdf_certificate).hexdigest()] = entry
    roots = [ax509.Certificate.load(e.pdf_certificate) for e in pinned.values()]
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = list(reader.embedded_signatures)
    except Exception as exc:
        return [PdfSignatureResult("(file)", "INVALID", False, notes=[f"cannot read the signed PDF: {exc}"])]
    results = []
    for sig in sigs:
        res = PdfSignatureResult(field=str(sig.field_name), status="OK", ok=True)
        results.append(res)
        try:
            when = _utc(sig.self_reported_timestamp)
            vc = ValidationContext(trust_roots=roots, allow_fetching=False, moment=when, revocation_mode="soft-fail")
            st = validate_pdf_signature(sig, vc)
        except Exception as exc:
            res.status, res.ok = "INVALID", False
            res.notes.append(f"pyHanko could not validate it: {type(exc).__name__}: {exc}")
            continue
        res.kind = "certification" if sig.docmdp_level is not None else "approval"
        res.signed_utc = format_utc(when) if when else ""
        digest = hashlib.sha256(st.signing_cert.dump()).hexdigest()
        res.cert_sha256 = digest
        entry = pinned.get(digest)
        res.signer = entry.name if entry else st.signing_cert.subject.human_friendly
        res.role = (entry.role or "") if entry else ""
        cov = st.coverage
        res.coverage = (
            "whole file"
            if cov == SignatureCoverageLevel.ENTIRE_FILE
            else ("whole revision" if cov == SignatureCoverageLevel.ENTIRE_REVISION else str(cov))
        )
        later = st.modification_level
        if not (st.intact and st.valid):
            res.status, res.ok = "BROKEN", False
            res.notes.append(
                f"signed bytes changed or the signature does not verify (pyHanko: intact={st.intact}, valid={st.valid})"
            )
        elif cov not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
            res.status, res.ok = "NOT COVERING", False
            res.notes.append(f"covers only part of its revision ({cov})")
        elif later is not None and later > ModificationLevel.FORM_FILLING or not st.docmdp_ok:
            res.status, res.ok = "BROKEN", False
            res.notes.append(f"changes after signing go beyond further signatures ({later})")
        elif trust is None:
            res.status, res.ok = "UNTRUSTED", False
            res.notes.append("no trust file: certificate not checked")
        elif entry is None or not st.trusted:
            res.status, res.ok = "UNKNOWN CERTIFICATE", False
            res.notes.append(f"certificate SHA-256 {digest[:16]}… is not a pdf_certificate in {trust.path}")
        else:
            revocation = trust.revocation_for(entry.fingerprint)
            if revocation is not None and when is not None and when >= revocation.revoked_at:
                res.status, res.ok = "REVOKED", False
                res.notes.append(f"key revoked at {format_utc(revocation.revoked_at)}; signed at {res.signed_utc}")
            elif when is None or not entry.is_valid_at(when):
                res.status, res.ok = "OUTSIDE VALIDITY", False
                res.notes.append(f"signed at {res.signed_utc or 'an unknown time'}, outside the trust entry's window")
            if entry.demo:
                res.notes.append("DEMO KEY: demonstration signature, not valid for real reports")
        if res.ok:
            res.notes.append(
                f"{res.kind}, covers the {res.coverage}"
                + ("" if cov == SignatureCoverageLevel.ENTIRE_FILE else "; later updates: signatures only")
            )
    return results


def cert_digest_of(key: PdfSigningKey) -> str:
    return cert_sha256(key.certificate)
