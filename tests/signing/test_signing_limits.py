"""Signed limit sets: the production gate refuses unsigned, altered or untrusted ones."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from bench.signing.errors import LimitSetSignatureError, SigningError
from bench.signing.signer import sidecar_path, sign_limit_set, sign_run_dir
from bench.signing.verify import check_signed_limit_set, verify_limit_set, verify_run_dir

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_signed_limit_set_passes_gate(limit_file, engineer, make_trust):
    side = sign_limit_set(limit_file, engineer, now=days(3))
    assert side == limit_file.with_name("cell-lfp.toml.sig.json")
    data = json.loads(side.read_text())
    assert data["file"] == "cell-lfp.toml" and len(data["signatures"]) == 1
    status = check_signed_limit_set(limit_file, make_trust(engineer))
    assert status.path == limit_file
    assert status.sha256 == data["sha256"]
    assert status.signers == (f"Erin Engineer (engineer, {engineer.info.short})",)
    assert status.demo is False


def test_altered_limit_set_is_refused(limit_file, engineer, make_trust):
    sign_limit_set(limit_file, engineer, now=days(3))
    limit_file.write_text(limit_file.read_text().replace("3.65 V", "3.70 V"))
    with pytest.raises(LimitSetSignatureError) as err:
        check_signed_limit_set(limit_file, make_trust(engineer))
    message = str(err.value)
    assert str(limit_file) in message and "cell-lfp.toml: CHANGED" in message
    assert "BAD SIGNATURE" in message  # the signatures no longer match the bytes either
    assert err.value.path == str(limit_file)


def test_unsigned_limit_set_is_refused(limit_file, engineer, make_trust):
    with pytest.raises(LimitSetSignatureError, match=r"cell-lfp\.toml.*not signed"):
        check_signed_limit_set(limit_file, make_trust(engineer))


def test_limit_set_signed_by_untrusted_key_is_refused(limit_file, engineer, witness, make_trust):
    sign_limit_set(limit_file, engineer, now=days(3))
    with pytest.raises(LimitSetSignatureError, match="UNKNOWN KEY"):
        check_signed_limit_set(limit_file, make_trust(witness))


def test_revoked_limit_signer_is_refused(limit_file, engineer, make_trust):
    sign_limit_set(limit_file, engineer, now=days(3))
    with pytest.raises(LimitSetSignatureError, match="REVOKED"):
        check_signed_limit_set(limit_file, make_trust(engineer, revoked=((engineer, days(2)),)))


def test_demo_only_signature_refused_unless_allowed(limit_file, make_signer, make_trust):
    demo = make_signer("DEMO Engineer", "engineer", demo=True)
    sign_limit_set(limit_file, demo, now=days(3))
    trust = make_trust(demo)
    with pytest.raises(LimitSetSignatureError, match="DEMO"):
        check_signed_limit_set(limit_file, trust)
    assert check_signed_limit_set(limit_file, trust, allow_demo=True).demo is True


def test_second_signature_and_change_after_signing(limit_file, engineer, make_signer, make_trust):
    reviewer = make_signer("Rita Reviewer", "reviewer")
    sign_limit_set(limit_file, engineer, now=days(3))
    sign_limit_set(limit_file, reviewer, now=days(4))
    result = verify_limit_set(limit_file, make_trust(engineer, reviewer))
    assert result.ok and [s.role for s in result.signatures] == ["engineer", "reviewer"]
    limit_file.write_text(limit_file.read_text() + "# edited\n")
    with pytest.raises(SigningError, match="changed since it was first signed"):
        sign_limit_set(limit_file, make_signer("Other", "witness"), now=days(5))


def test_limit_signature_cannot_be_transplanted_into_run_dir(run_dir, limit_file, engineer, make_trust):
    sign_run_dir(run_dir, engineer, now=days(3))
    sign_limit_set(limit_file, engineer, now=days(3))
    record = json.loads(sidecar_path(limit_file).read_text())["signatures"][0]
    (run_dir / "signatures" / f"1-engineer-{engineer.info.short}.json").write_text(json.dumps(record))
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert result.signatures[0].status == "BAD SIGNATURE"
    assert "limit-set" in " ".join(result.signatures[0].notes)


def test_renamed_copy_keeps_signature_with_sidecar(limit_file, engineer, make_trust, tmp_path):
    sign_limit_set(limit_file, engineer, now=days(3))
    copy = tmp_path / "copy.toml"
    shutil.copy(limit_file, copy)
    assert not verify_limit_set(copy, make_trust(engineer)).ok  # no sidecar next to the copy
