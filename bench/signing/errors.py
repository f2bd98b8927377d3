"""Errors of the signature layer; each names the file (key, run dir, limit set) and what was expected."""

from __future__ import annotations

from bench.errors import BenchError


class SigningError(BenchError):
    """Signing was refused or a key/trust/signature file could not be used."""


class KeyFileError(SigningError):
    """A private or public key file is missing, malformed, or does not match its partner."""


class TrustFileError(SigningError):
    """A trust file cannot be read, or an edit to it would make it inconsistent."""


class LimitSetSignatureError(SigningError):
    """A limit set is unsigned, altered after signing, or signed by a key the auditor does not trust.

    Production mode raises this to refuse a limit set; the message names the file and the reason.
    """

    def __init__(self, message: str, *, path: str, reasons: list[str] | None = None):
        self.path = path
        self.reasons = list(reasons or [])
        super().__init__(message)
