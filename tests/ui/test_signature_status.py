"""The run list's signature status comes from bench.signing's offline verification."""

from __future__ import annotations

from pathlib import Path

from bench.signing import demo_signer, sign_run_dir
from bench.signing.trust import add_trusted_key
from bench.ui.runs import Signatures


def _run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run-1"
    d.mkdir()
    (d / "report.html").write_text("<html>report</html>")
    (d / "record.json").write_text("{}")
    return d


def test_signature_states_unsigned_untrusted_verified_invalid(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    assert Signatures().status(tmp_path / "missing").state == "no report"
    assert Signatures().status(run_dir).state == "unsigned"
    signer = demo_signer(tmp_path / "keys")
    sign_run_dir(run_dir, signer, meaning="performed the tests (test)")
    untrusted = Signatures().status(run_dir)
    assert untrusted.state == "untrusted" and "--trust" in untrusted.detail
    trust = tmp_path / "keys" / "trust.toml"
    add_trusted_key(trust, signer.info)
    signatures = Signatures(trust)
    assert signatures.status(run_dir).state == "verified"
    (run_dir / "report.html").write_text("<html>altered</html>")
    changed = signatures.status(run_dir)  # the cache follows every file of the folder
    assert changed.state == "invalid" and "report.html: CHANGED" in changed.detail
