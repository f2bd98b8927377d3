"""`bench keys ...`: create signing keys, show them, and maintain an auditor's trust file."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bench.signing.demo import ensure_demo_key
from bench.signing.errors import SigningError
from bench.signing.keys import DEFAULT_VALID_DAYS, ROLES, load_public_info, read_passphrase, write_key_pair
from bench.signing.times import format_utc, parse_utc, utc_now
from bench.signing.trust import add_trusted_key, load_trust, revoke_key


def add_passphrase_args(parser: argparse.ArgumentParser) -> None:
    """--passphrase-env / --passphrase-file, shared by `keys new` and `sign`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--passphrase-env", metavar="VAR", help="read the passphrase from environment variable VAR"
    )
    group.add_argument("--passphrase-file", metavar="FILE", type=Path, help="read the passphrase from FILE")


def _new_passphrase(args: argparse.Namespace) -> bytes:
    passphrase = read_passphrase(args.passphrase_env, args.passphrase_file)
    if passphrase:
        return passphrase
    if not sys.stdin.isatty():
        raise SigningError(
            "no passphrase for the new key: give --passphrase-env VAR or --passphrase-file FILE"
        )
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
    entry = add_trusted_key(args.trustfile, info, source_file=args.pubfile)
    print(
        f"{args.trustfile}: {'already trusts' if known else 'now trusts'} "
        f"{entry.name} ({entry.role}) key {entry.fingerprint}" + ("  [DEMO KEY]" if info.demo else "")
    )
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
    trust_add.set_defaults(func=_cmd_trust_add)

    revoke = sub.add_parser("revoke", help="record a key revocation in a trust file")
    revoke.add_argument("trustfile", type=Path)
    revoke.add_argument("fingerprint", help="64 hex digits, or a unique prefix (>= 8) of a trusted key")
    revoke.add_argument(
        "--at", required=True, metavar="TIME", help="UTC time, e.g. 2025-06-01T12:00:00Z, or 'now'"
    )
    revoke.add_argument("--reason", default="", help="why (kept in the trust file)")
    revoke.set_defaults(func=_cmd_revoke)

    demo = sub.add_parser("demo", help="create (once) the DEMO signing key used by `make demo`")
    demo.add_argument("--dir", type=Path, default=Path("keys/demo"), metavar="DIR")
    demo.add_argument("--role", default="engineer", choices=sorted(ROLES))
    demo.set_defaults(func=_cmd_demo)
