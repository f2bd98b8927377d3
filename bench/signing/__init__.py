"""Signature and integrity layer: Ed25519 signatures over a manifest of SHA-256 artifact hashes.

Typical use at the end of a run (see docs/signing.md):

    from bench.signing import demo_signer, sign_run_dir, verify_run_dir, print_verification
    sign_run_dir(Path("reports/RUN-1"), demo_signer(Path("keys/demo")))
    result = verify_run_dir(Path("reports/RUN-1"), Path("trust.toml"))
    print_verification(result); exit_code = 0 if result.ok else 1

Report PDFs are signed inside too (PAdES, `sign_run_dir(..., pdf_key=load_pdf_signing_key(pub, pw))`).
Production mode gates limit sets with `check_signed_limit_set(path, trust_path, data=raw)`.
"""

from __future__ import annotations

from bench.signing.certs import PdfSigningKey, issue_self_signed, load_pdf_signing_key
from bench.signing.demo import DEMO_PASSPHRASE, DemoKey, demo_pdf_key, demo_signer, ensure_demo_key
from bench.signing.errors import KeyFileError, LimitSetSignatureError, SigningError, TrustFileError
from bench.signing.keys import (
    ROLES,
    KeyInfo,
    KeyPaths,
    Signer,
    fingerprint,
    generate_key,
    load_private_key,
    load_public_info,
    load_signer,
    write_key_pair,
)
from bench.signing.manifest import Manifest, build_manifest, canonical_json, read_manifest, write_manifest
from bench.signing.signer import sidecar_path, sign_limit_set, sign_run_dir
from bench.signing.trust import TrustStore, add_trusted_key, load_trust, revoke_key
from bench.signing.verify import (
    SignedStatus,
    Verification,
    check_signed_limit_set,
    print_verification,
    verify_limit_set,
    verify_path,
    verify_run_dir,
)

__all__ = [
    "DEMO_PASSPHRASE",
    "ROLES",
    "DemoKey",
    "KeyFileError",
    "KeyInfo",
    "KeyPaths",
    "LimitSetSignatureError",
    "Manifest",
    "PdfSigningKey",
    "SignedStatus",
    "Signer",
    "SigningError",
    "TrustFileError",
    "TrustStore",
    "Verification",
    "add_trusted_key",
    "build_manifest",
    "canonical_json",
    "check_signed_limit_set",
    "demo_pdf_key",
    "demo_signer",
    "ensure_demo_key",
    "fingerprint",
    "generate_key",
    "issue_self_signed",
    "load_pdf_signing_key",
    "load_private_key",
    "load_public_info",
    "load_signer",
    "load_trust",
    "print_verification",
    "read_manifest",
    "revoke_key",
    "sidecar_path",
    "sign_limit_set",
    "sign_run_dir",
    "verify_limit_set",
    "verify_path",
    "verify_run_dir",
    "write_key_pair",
    "write_manifest",
]
