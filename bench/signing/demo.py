"""A demonstration signing key for `make demo`, labelled DEMO everywhere it appears.

`make demo` should show the whole chain (sign, verify) without asking anyone for a passphrase.
The key it uses is therefore not secret: its passphrase is published here, its name contains
"DEMO", and its public file and every signature it makes carry `demo: true`, so verification
always prints "DEMO KEY" and production mode refuses limit sets signed only with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.signing.certs import PdfSigningKey
from bench.signing.errors import KeyFileError
from bench.signing.keys import Signer, check_role, load_public_info, load_signer, write_key_pair

DEMO_PASSPHRASE = b"ess-bench-demo"  # published on purpose: demo keys are not secret
DEMO_VALID_DAYS = 3650


@dataclass(frozen=True)
class DemoKey:
    """Paths of the demo key pair and the (public) passphrase that opens it."""

    private: Path
    public: Path
    passphrase: bytes = DEMO_PASSPHRASE

    def signer(self) -> Signer:
        return load_signer(self.private, self.public, self.passphrase)


def ensure_demo_key(directory: Path, role: str = "engineer") -> DemoKey:
    """Return the demo key in `directory`, creating it on first use (one key per role)."""
    check_role(role)
    directory = Path(directory)
    stem = f"DEMO-{role}"
    key = DemoKey(directory / f"{stem}.key.pem", directory / f"{stem}.pub.json")
    if key.private.exists() and key.public.exists():
        info = load_public_info(key.public)
        if not info.demo or "DEMO" not in info.name:
            raise KeyFileError(
                f"{key.public}: expected a DEMO key (demo: true, name containing 'DEMO'); "
                "refusing to use a real key as the demo key"
            )
        return key
    if key.private.exists() or key.public.exists():
        raise KeyFileError(
            f"{directory}: only one of {key.private.name} / {key.public.name} exists; "
            "expected both or neither (delete the leftover to regenerate)"
        )
    write_key_pair(
        f"DEMO {role.capitalize()} (not for real reports)",
        role,
        directory,
        DEMO_PASSPHRASE,
        valid_days=DEMO_VALID_DAYS,
        demo=True,
        stem=stem,
    )
    return key


def demo_signer(directory: Path, role: str = "engineer") -> Signer:
    """Signer for the demo key in `directory` (created on first use)."""
    return ensure_demo_key(directory, role).signer()


def demo_pdf_key(directory: Path, role: str = "engineer") -> PdfSigningKey:
    """The demo key's PDF signing key and self-signed certificate (created on first use)."""
    from bench.signing.certs import issue_self_signed, load_pdf_signing_key, pdf_key_paths

    key = ensure_demo_key(directory, role)
    key_path, cert_path = pdf_key_paths(key.public)
    if not key_path.exists() and not cert_path.exists():
        issue_self_signed(load_public_info(key.public), key.public, DEMO_PASSPHRASE)
    return load_pdf_signing_key(key.public, DEMO_PASSPHRASE)
