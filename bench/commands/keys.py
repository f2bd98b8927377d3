"""`bench keys ...`: create signing keys, show them, and maintain an auditor's trust file."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bench.signing.certs import (
    cert_sha256,
    import_certificate,
    issue_self_signed,
    load_certificate,
    pdf_key_paths,
)
from bench.signing.demo import DEMO_PASSPHRASE, ensure_demo_key
from bench.signing.errors import SigningError
from bench.signing.keys import DEFAULT_VALID_DAYS, ROLES, load_public_info, read_passphrase, write_key_pair
from bench.signing.times import format_utc, parse_utc, utc_now
from bench.signing.trust import add_trusted_key, load_trust, revoke_key


def add_passphrase_args(parser: argparse.ArgumentParser) -> None:
    """--passphrase-env / --passphrase-file, shared by `keys new` and `sign`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--passphrase-env", metavar="VAR", help="read the passphrase from environment variable VAR")
    group.add_argument("--passphrase-file", metavar="FILE", type=Path, help="read the passphrase from FILE")


def _new_passphrase(args: argparse.Namespace) -> bytes:
    passphrase = read_passphrase(args.passphrase_env, args.passphrase_file)
    if passphrase:
        return passphrase
    if not sys.stdin.isatty():
        raise SigningError("no passphrase for the new key: give --passphrase-env VAR or --passphrase-file FILE")
    first = getpass.getpass("Passphrase for the new key: ")
    if not first or first != getpass.getpass("Repeat passphrase: "):
        raise SigningError("passphrases are empty or do not match; key not created")
    return first.encode("utf-8")


def _cmd_new(args: argparse.Namespace) -> int:
    paths = write_key_pair(args.name, args.role, args.out, _new_passphrase(args), valid_days=args.valid_days)
    info = load_public_info(paths.public)
    print(f"private key: {paths.private} (encrypted; keep it and its passphrase to yourself)")
    print(f"public key:  {paths.public} (give this to auditors: bench keys trust-add TRUST {paths.public})")
    print(f"fingerprint: {info.fingerprint}")
    print(f"valid:       {info.validity_text()}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    info = load_public_info(args.file)
    now = utc_now()
    if info.is_valid_at(now):
        state = "valid now"
    elif now < info.valid_from:
        state = "NOT YET VALID"
    else:
        state = "EXPIRED"
    print(f"file:        {args.file}")
    print(f"name:        {info.name}" + ("  [DEMO KEY]" if info.demo else ""))
    print(f"role:        {info.role}")
    print(f"fingerprint: {info.fingerprint}")
    print(f"valid:       {info.validity_text()} ({state} at {format_utc(now)})")
    return 0


def _cmd_trust_add(args: argparse.Namespace) -> int:
    info = load_public_info(args.pubfile)
    known = args.trustfile.exists() and info.fingerprint in load_trust(args.trustfile).keys
    entry = add_trusted_key(args.trustfile, info, source_file=args.pubfile, pdf_certificate=args.pdf_cert)
    print(
        f"{args.trustfile}: {'already trusts' if known else 'now trusts'} "
        f"{entry.name} ({entry.role}) key {entry.fingerprint}"
        + ("  [DEMO KEY]" if info.demo else "")
        + (", with its PDF certificate" if entry.pdf_certificate else "")
    )
    return 0


def _cmd_cert(args: argparse.Namespace) -> int:
    info = load_public_info(args.pub)
    key_path, cert_path = pdf_key_paths(args.pub)
    passphrase = read_passphrase(args.passphrase_env, args.passphrase_file)
    if passphrase is None and info.demo:
        passphrase = DEMO_PASSPHRASE
    if passphrase is None:
        if not sys.stdin.isatty():
            raise SigningError(
                "no passphrase: give --passphrase-env VAR or --passphrase-file FILE "
                "(the signer's passphrase; it encrypts the PDF signing key too)"
            )
        passphrase = getpass.getpass(f"Passphrase of {info.name}: ").encode("utf-8")
    if bool(args.import_cert) != bool(args.import_key):
        raise SigningError("--import-cert and --import-key go together (the organisation's certificate and its key)")
    if args.import_cert:
        key_pw = read_passphrase(args.import_key_passphrase_env, None)
        written = import_certificate(args.pub, args.import_cert, args.import_key, key_pw, passphrase)
        how = f"imported from {args.import_cert}"
    else:
        written = issue_self_signed(info, args.pub, passphrase)
        how = "self-signed by the bench (RSA-3072)"
    cert = load_certificate(written)
    print(f"PDF signing key: {key_path} (encrypted with the signer's passphrase)")
    print(f"certificate:     {cert_path} ({how}), SHA-256 {cert_sha256(cert)}")
    print(
        f"valid:           {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} .. {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    )
    print(f"auditors record it: bench keys trust-add TRUST {args.pub} --pdf-cert {cert_path}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    at = parse_utc(args.at, where="--at", allow_now=True)
    rev = revoke_key(args.trustfile, args.fingerprint, at, reason=args.reason or "")
    print(
        f"{args.trustfile}: key {rev.fingerprint} revoked at {format_utc(rev.revoked_at)}; "
        "its signatures made at or after that time now fail verification"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    key = ensure_demo_key(args.dir, args.role)
    info = load_public_info(key.public)
    print(f"DEMO key (not for real reports): {key.private} / {key.public}, fingerprint {info.fingerprint}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench keys` and its sub-commands."""
    keys = subparsers.add_parser("keys", help="signing keys and trust files")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    new = sub.add_parser("new", help="create an encrypted Ed25519 key pair")
    new.add_argument("--name", required=True, help="signer's printed name (appears on every signature)")
    new.add_argument("--role", required=True, choices=sorted(ROLES))
    new.add_argument("--valid-days", type=int, default=DEFAULT_VALID_DAYS, metavar="N")
    new.add_argument("--out", type=Path, default=Path("keys"), metavar="DIR")
    add_passphrase_args(new)
    new.set_defaults(func=_cmd_new)

    show = sub.add_parser("show", help="print a public key's fingerprint and validity")
    show.add_argument("file", type=Path, help="public key file (.pub.json)")
    show.set_defaults(func=_cmd_show)

    trust_add = sub.add_parser("trust-add", help="add a public key to a trust file (created if absent)")
    trust_add.add_argument("trustfile", type=Path)
    trust_add.add_argument("pubfile", type=Path)
    trust_add.add_argument(
        "--pdf-cert",
        type=Path,
        metavar="CERT",
        help="the X.509 certificate this person signs report PDFs with (bench keys cert)",
    )
    trust_add.set_defaults(func=_cmd_trust_add)

    cert = sub.add_parser(
        "cert",
        help="create the PDF signing key and its certificate beside a key (or import an organisation's)",
        description="Report PDFs are signed (PAdES) with an RSA-3072 key and an X.509 certificate kept "
        "beside the signer's Ed25519 key: <stem>.pdf-key.pem and <stem>.cert.pem. By default the bench "
        "issues a self-signed certificate naming the signer, their role and their Ed25519 fingerprint.",
    )
    cert.add_argument("--pub", required=True, type=Path, help="the signer's public key file (.pub.json)")
    cert.add_argument("--import-cert", type=Path, metavar="PEM", help="organisation-issued certificate to use")
    cert.add_argument("--import-key", type=Path, metavar="PEM", help="its private key (ECDSA or RSA, PEM)")
    cert.add_argument("--import-key-passphrase-env", metavar="VAR", help="passphrase of --import-key, if any")
    add_passphrase_args(cert)
    cert.set_defaults(func=_cmd_cert)

    revoke = sub.add_parser("revoke", help="record a key revocation in a trust file")
    revoke.add_argument("trustfile", type=Path)
    revoke.add_argument("fingerprint", help="64 hex digits, or a unique prefix (>= 8) of a trusted key")
    revoke.add_argument("--at", required=True, metavar="TIME", help="UTC time, e.g. 2025-06-01T12:00:00Z, or 'now'")
    revoke.add_argument("--reason", default="", help="why (kept in the trust file)")
    revoke.set_defaults(func=_cmd_revoke)

    demo = sub.add_parser("demo", help="create (once) the DEMO signing key used by `make demo`")
    demo.add_argument("--dir", type=Path, default=Path("keys/demo"), metavar="DIR")
    demo.add_argument("--role", default="engineer", choices=sorted(ROLES))
    demo.set_defaults(func=_cmd_demo)
