"""The PDF signing key and its X.509 certificate, kept beside a signer's Ed25519 key.

Why a second key: the run-folder signatures are Ed25519, but an Ed25519 signature inside a PDF
is defined only for PDF 2.0 (ISO 32002:2022). pyHanko can make one, but it then raises the
document to PDF 2.0 (which a PDF/A-3 file, based on PDF 1.7, may not claim) and common readers
(Adobe Acrobat among them) do not validate EdDSA. So the PAdES signature inside report PDFs is
made with an RSA-3072 key (PKCS#1 v1.5 with SHA-256: PDF 1.7 and PAdES baseline, accepted by
every mainstream validator), created with the same passphrase and recorded in the trust file
next to the Ed25519 key of the same person. (ECDSA would do cryptographically, but pyHanko, after
ISO 32002, then also marks the document PDF 2.0, which PDF/A-3 may not claim.) Each Ed25519 run-folder signature also records the SHA-256 of
the certificate that signed the PDF in the same act, so one signature vouches for the other.

Files, next to `<stem>.pub.json`:
    <stem>.pdf-key.pem   RSA-3072 private key, PKCS8 PEM encrypted with the passphrase (0600)
    <stem>.cert.pem      its X.509 certificate: self-signed by the bench, or the organisation's
                         (imported with `bench keys cert --import-cert ... --import-key ...`)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from bench.signing.errors import KeyFileError
from bench.signing.files import KEY_FILE_MAX, read_file
from bench.signing.keys import KeyInfo, _write_new, load_public_info
from bench.signing.times import utc_now

PDF_KEY_SUFFIX = ".pdf-key.pem"
CERT_SUFFIX = ".cert.pem"
SELF_SIGNED_DAYS = 730  # when the Ed25519 key has no expiry
RSA_BITS = 3072
PdfPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def stem_of(pub_path: Path) -> Path:
    """`keys/erin-1a2b.pub.json` -> `keys/erin-1a2b` (the common stem of a signer's files)."""
    pub_path = Path(pub_path)
    name = pub_path.name.removesuffix(".pub.json")
    return pub_path.with_name(name)


def pdf_key_paths(pub_path: Path) -> tuple[Path, Path]:
    """(private PDF key, certificate) paths for the signer whose public file is `pub_path`."""
    stem = stem_of(pub_path)
    return stem.with_name(stem.name + PDF_KEY_SUFFIX), stem.with_name(stem.name + CERT_SUFFIX)


def cert_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_certificate_bytes(data: bytes, *, where: str) -> x509.Certificate:
    """A PEM (or DER) X.509 certificate, named by `where` when it is not one."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise KeyFileError(f"{where}: expected an X.509 certificate (PEM or DER): {exc}") from None


def load_certificate(path: Path) -> x509.Certificate:
    try:
        data = read_file(Path(path), limit=KEY_FILE_MAX, what="certificate file")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: certificate file not found") from None
    return load_certificate_bytes(data, where=str(path))


def _check_pdf_key(key: object, where: str) -> PdfPrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return key
    raise KeyFileError(f"{where}: expected an ECDSA or RSA private key for PDF signatures, got {type(key).__name__}")


@dataclass(frozen=True)
class PdfSigningKey:
    """What a PDF signature needs: the private key and its certificate."""

    key: PdfPrivateKey
    certificate: x509.Certificate

    @property
    def cert_sha256(self) -> str:
        return cert_sha256(self.certificate)


def _same_public_key(key: PdfPrivateKey, cert: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


def _save(key: PdfPrivateKey, cert: x509.Certificate, pub_path: Path, passphrase: bytes) -> tuple[Path, Path]:
    if not passphrase:
        raise KeyFileError(f"{pub_path}: expected the signer's passphrase to encrypt the PDF signing key")
    key_path, cert_path = pdf_key_paths(pub_path)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase)
    )
    _write_new(key_path, pem, 0o600)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key_path, cert_path


def issue_self_signed(info: KeyInfo, pub_path: Path, passphrase: bytes, *, now: datetime | None = None) -> Path:
    """Create the RSA-3072 PDF key and a self-signed certificate naming the signer and their Ed25519 key.

    Subject: CN = printed name, title = role, serialNumber = the Ed25519 fingerprint (so the
    certificate says which bench key it stands beside). Validity: the Ed25519 key's window.
    Returns the certificate path.
    """
    start = (now or utc_now()).replace(microsecond=0)
    if info.valid_until is not None and info.valid_until <= start:
        raise KeyFileError(f"{pub_path}: the key expired at {info.valid_until}; no certificate issued for it")
    start = max(start, info.valid_from)
    until = info.valid_until or start + timedelta(days=SELF_SIGNED_DAYS)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, info.name),
            x509.NameAttribute(NameOID.TITLE, info.role),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"ed25519:{info.fingerprint}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ESS Bench signer" + (" (DEMO)" if info.demo else "")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(info.valid_from)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _save(key, cert, pub_path, passphrase)[1]


def import_certificate(
    pub_path: Path, cert_path: Path, key_path: Path, key_passphrase: bytes | None, passphrase: bytes
) -> Path:
    """Adopt an organisation's X.509 certificate and its private key as this signer's PDF key.

    The key must belong to the certificate; it is re-encrypted with the signer's passphrase.
    """
    load_public_info(pub_path)  # the signer must exist
    cert = load_certificate(cert_path)
    data = read_file(Path(key_path), limit=KEY_FILE_MAX, what="private key file")
    try:
        key = serialization.load_pem_private_key(data, password=key_passphrase or None)
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{key_path}: cannot read the private key ({exc})") from None
    key = _check_pdf_key(key, str(key_path))
    if not _same_public_key(key, cert):
        raise KeyFileError(f"{key_path}: this private key does not belong to certificate {cert_path}")
    return _save(key, cert, pub_path, passphrase)[1]


def load_pdf_signing_key(pub_path: Path, passphrase: bytes | None, cert_path: Path | None = None) -> PdfSigningKey:
    """Decrypt the signer's PDF key and load its certificate; refuse a pair that does not match."""
    key_path, default_cert = pdf_key_paths(pub_path)
    cert = load_certificate(cert_path or default_cert)
    try:
        data = read_file(key_path, limit=KEY_FILE_MAX, what="PDF signing key")
    except FileNotFoundError:
        raise KeyFileError(
            f"{key_path}: PDF signing key not found (create it: bench keys cert --pub {pub_path})"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{key_path}: cannot decrypt: wrong passphrase, or not a PKCS8 PEM key") from None
    key = _check_pdf_key(key, str(key_path))
    if not _same_public_key(key, cert):
        raise KeyFileError(f"{key_path}: does not belong to certificate {cert_path or default_cert}")
    return PdfSigningKey(key, cert)
