"""`bench sign` and `bench verify`: sign a run directory or a limit set; verify them offline."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bench.commands.keys import add_passphrase_args
from bench.signing.certs import PdfSigningKey, load_pdf_signing_key, pdf_key_paths
from bench.signing.demo import DEMO_PASSPHRASE
from bench.signing.errors import SigningError
from bench.signing.keys import check_role, load_public_info, load_signer, read_passphrase
from bench.signing.signer import sign_limit_set, sign_run_dir
from bench.signing.verify import print_verification, verify_path


def _passphrase(args: argparse.Namespace) -> bytes | None:
    passphrase = read_passphrase(args.passphrase_env, args.passphrase_file)
    if passphrase is not None:
        return passphrase
    if load_public_info(args.pub).demo:
        return DEMO_PASSPHRASE  # the demo key's passphrase is public by design
    if sys.stdin.isatty():
        return getpass.getpass(f"Passphrase for {args.key}: ").encode("utf-8")
    return None  # load_private_key then explains which option to give


def _pdf_key(args: argparse.Namespace, passphrase: bytes | None, target: Path) -> PdfSigningKey | None:
    """The PDF signing key when the folder has a report.pdf and the signer has a certificate."""
    if args.no_pdf_signature or not target.is_dir() or not (target / "report.pdf").is_file():
        return None
    key_path, cert_path = pdf_key_paths(args.pub)
    cert = args.pdf_cert or cert_path
    if not cert.exists() and not key_path.exists():
        print(
            f"note: report.pdf not signed inside: no PDF certificate for this key "
            f"(create one: bench keys cert --pub {args.pub})",
            file=sys.stderr,
        )
        return None
    return load_pdf_signing_key(args.pub, passphrase, cert)


def _cmd_sign(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args)
    signer = load_signer(args.key, args.pub, passphrase)
    target: Path = args.target
    if args.tsa_url and not args.tsa_url.startswith(("http://", "https://")):
        raise SigningError(f"--tsa-url {args.tsa_url!r}: expected an http(s) URL of a time-stamping authority")
    if target.is_dir():
        pdf_key = _pdf_key(args, passphrase, target)
        written = sign_run_dir(target, signer, meaning=args.meaning, pdf_key=pdf_key, tsa_url=args.tsa_url)
    else:
        pdf_key = None
        written = sign_limit_set(target, signer, meaning=args.meaning)
    info = signer.info
    print(
        f"signed {target} as {info.name} ({info.role}) with key {info.short}: {written}"
        + ("  [DEMO KEY]" if info.demo else "")
    )
    if pdf_key is not None:
        level = "B-T (time-stamped)" if args.tsa_url else "B-B"
        print(f"signed report PDF (PAdES {level}): {target / 'signatures' / 'report-signed.pdf'}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    if not args.target.exists():
        raise SigningError(f"{args.target}: not found; expected a run directory or a signed limit set file")
    roles = [r.strip() for r in (args.expect_roles or "").split(",") if r.strip()]
    for role in roles:
        check_role(role, where="--expect-roles")
    result = verify_path(args.target, args.trust, allow_untrusted=args.allow_untrusted, expect_roles=roles)
    print_verification(result)
    return 0 if result.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench sign` and `bench verify`."""
    sign = subparsers.add_parser("sign", help="sign a run directory or a limit set (Ed25519)")
    sign.add_argument("target", type=Path, help="reports/<run-id>/ directory, or a limits/*.toml file")
    sign.add_argument("--key", required=True, type=Path, help="encrypted private key (.key.pem)")
    sign.add_argument("--pub", required=True, type=Path, help="matching public key file (.pub.json)")
    sign.add_argument("--meaning", help="what this signature means (default from the role, e.g. 'witnessed')")
    sign.add_argument(
        "--pdf-cert",
        type=Path,
        metavar="CERT",
        help="certificate of the PDF signing key (default: <key stem>.cert.pem beside --pub)",
    )
    sign.add_argument(
        "--no-pdf-signature", action="store_true", help="do not sign report.pdf inside (signatures/report-signed.pdf)"
    )
    sign.add_argument(
        "--tsa-url",
        metavar="URL",
        help="time-stamping authority for PAdES B-T (a network call; none is made without it)",
    )
    add_passphrase_args(sign)
    sign.set_defaults(func=_cmd_sign)

    verify = subparsers.add_parser("verify", help="verify a signed run directory or limit set offline")
    verify.add_argument("target", type=Path, help="reports/<run-id>/ directory, or a limits/*.toml file")
    verify.add_argument("--trust", type=Path, metavar="FILE", help="trust file listing accepted and revoked keys")
    verify.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="without --trust: accept integrity-only verification (keys UNTRUSTED)",
    )
    verify.add_argument(
        "--expect-roles",
        metavar="ROLES",
        help="comma-separated roles that must each have a valid signature, e.g. engineer,witness "
        "(a removed newest signature is otherwise undetectable)",
    )
    verify.set_defaults(func=_cmd_verify)
