"""Run-directory signing and verification: untouched passes, every kind of tampering is named."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.signing.errors import SigningError
from bench.signing.manifest import build_manifest, read_manifest, write_manifest
from bench.signing.signature import SUBJECT_RUN, create_signature, write_signature_file
from bench.signing.signer import sign_run_dir
from bench.signing.verify import verify_run_dir

T0 = datetime(2025, 1, 1, tzinfo=UTC)  # same origin as the conftest signers' validity


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _artifact(result, path: str):
    return next(a for a in result.artifacts if a.path == path)


def test_untouched_signed_directory_verifies(run_dir, engineer, make_trust):
    sig = sign_run_dir(run_dir, engineer, now=days(10))
    assert sig.name == f"1-engineer-{engineer.info.short}.json"
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert result.ok, result.failure_lines()
    assert [a.status for a in result.artifacts] == ["OK"] * 6
    assert [(s.status, s.signer, s.meaning) for s in result.signatures] == [
        ("OK", "Erin Engineer", "performed the tests")
    ]


def test_manifest_lists_artifacts_sorted_posix_without_itself_or_signatures(run_dir, engineer):
    sign_run_dir(run_dir, engineer, now=days(10))
    manifest, raw = read_manifest(run_dir)
    assert [f.path for f in manifest.files] == [
        "attachments/cells.csv",
        "attachments/events.csv",
        "limits/cell-lfp.toml",
        "record.json",
        "report.html",
        "report.pdf",
    ]
    assert manifest.run_id == "RUN-0001"
    assert raw == manifest.to_bytes()  # written in canonical form
    data = json.loads(raw)
    assert data["schema_version"] == "ess-bench-manifest/1"
    assert data["created_utc"] == "2025-01-11T00:00:00Z"
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in data["files"])


def _digit_in_record(d: Path) -> None:
    p = d / "record.json"
    p.write_text(p.read_text().replace("3.6512", "3.6513"))


def _limit_in_copy(d: Path) -> None:
    p = d / "limits" / "cell-lfp.toml"
    p.write_text(p.read_text().replace('max = "3.65 V"', 'max = "3.75 V"'))


def _byte_in_pdf(d: Path) -> None:
    p = d / "report.pdf"
    data = bytearray(p.read_bytes())
    data[40] ^= 0x01
    p.write_bytes(bytes(data))


def _delete_attachment(d: Path) -> None:
    (d / "attachments" / "cells.csv").unlink()


def _add_file(d: Path) -> None:
    (d / "attachments" / "late.csv").write_text("t_s,v\n0,1\n")


@pytest.mark.parametrize(
    ("tamper", "path", "status"),
    [
        (_digit_in_record, "record.json", "CHANGED"),
        (_limit_in_copy, "limits/cell-lfp.toml", "CHANGED"),
        (_byte_in_pdf, "report.pdf", "CHANGED"),
        (_delete_attachment, "attachments/cells.csv", "MISSING"),
        (_add_file, "attachments/late.csv", "EXTRA"),
    ],
    ids=["record-digit", "limit-copy", "pdf-byte", "deleted-attachment", "added-file"],
)
def test_tampered_artifact_fails_and_is_named(run_dir, engineer, make_trust, tamper, path, status):
    sign_run_dir(run_dir, engineer, now=days(10))
    tamper(run_dir)
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert not result.ok
    assert _artifact(result, path).status == status
    assert [a.path for a in result.artifacts if not a.ok] == [path]
    assert any(line.startswith(f"{path}: {status}") for line in result.failure_lines())
    assert all(s.status == "OK" for s in result.signatures)  # the manifest itself is intact


def _edit_signature(run_dir: Path, **changes) -> Path:
    path = next((run_dir / "signatures").glob("1-*.json"))
    data = json.loads(path.read_text())
    data["signed"].update(changes)
    path.write_text(json.dumps(data))
    return path


def test_swapped_public_key_in_signature_file_fails(run_dir, engineer, make_signer, make_trust):
    sign_run_dir(run_dir, engineer, now=days(10))
    other = make_signer("Mallory", "engineer")
    _edit_signature(run_dir, public_key=other.info.public_key_b64)
    result = verify_run_dir(run_dir, make_trust(engineer, other))
    assert not result.ok
    (sig,) = result.signatures
    assert sig.status == "BAD SIGNATURE"
    assert "swapped" in " ".join(sig.notes)
    assert sig.source.startswith("signatures/1-engineer-")


def test_swapped_public_key_and_fingerprint_fails(run_dir, engineer, make_signer, make_trust):
    sign_run_dir(run_dir, engineer, now=days(10))
    other = make_signer("Mallory", "engineer")
    _edit_signature(run_dir, public_key=other.info.public_key_b64, fingerprint=other.info.fingerprint)
    result = verify_run_dir(run_dir, make_trust(engineer, other))
    assert result.signatures[0].status == "BAD SIGNATURE"
    assert not result.ok


def test_edited_signing_time_breaks_signature(run_dir, engineer, make_trust):
    sign_run_dir(run_dir, engineer, now=days(10))
    _edit_signature(run_dir, signed_utc="2025-01-02T00:00:00Z")
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert result.signatures[0].status == "BAD SIGNATURE"


def test_forged_signature_by_unlisted_key_is_unknown(run_dir, engineer, make_signer, make_trust):
    mallory = make_signer("Mallory", "engineer")
    sign_run_dir(run_dir, mallory, now=days(10))
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert result.signatures[0].status == "UNKNOWN KEY"
    assert mallory.info.fingerprint in result.signatures[0].notes[0]
    assert not result.ok


def test_expired_key_signature_is_outside_validity(run_dir, make_signer, make_trust):
    short = make_signer("Erin Engineer", "engineer", valid_days=30)
    with pytest.raises(SigningError, match="not valid at 2025-03-02"):
        sign_run_dir(run_dir, short, now=days(60))
    # A signature made anyway (clock set back on the signing side is what validity guards against).
    manifest = build_manifest(run_dir, now=days(60))
    write_manifest(run_dir, manifest)
    record = create_signature(short, manifest.to_bytes(), subject=SUBJECT_RUN, signed_at=days(60))
    write_signature_file(record, run_dir / "signatures" / f"1-engineer-{short.info.short}.json")
    result = verify_run_dir(run_dir, make_trust(short))
    (sig,) = result.signatures
    assert sig.status == "OUTSIDE VALIDITY"
    assert "2025-03-02T00:00:00Z" in sig.notes[0] and "2025-01-31T00:00:00Z" in sig.notes[0]
    assert not result.ok


@pytest.mark.parametrize(("revoked_day", "status"), [(5, "REVOKED"), (10, "REVOKED"), (20, "OK")])
def test_revoked_key(run_dir, engineer, make_trust, revoked_day, status):
    sign_run_dir(run_dir, engineer, now=days(10))
    trust = make_trust(engineer, revoked=((engineer, days(revoked_day)),))
    result = verify_run_dir(run_dir, trust)
    (sig,) = result.signatures
    assert sig.status == status
    assert result.ok is (status == "OK")
    assert any("revoked" in n for n in sig.notes)


def test_engineer_then_witness_later_both_verify(run_dir, engineer, witness, make_trust):
    sign_run_dir(run_dir, engineer, now=days(10))
    manifest_before = (run_dir / "manifest.json").read_bytes()
    second = sign_run_dir(run_dir, witness, meaning="witnessed the capacity test", now=days(12))
    assert (run_dir / "manifest.json").read_bytes() == manifest_before
    assert second.name == f"2-witness-{witness.info.short}.json"
    result = verify_run_dir(run_dir, make_trust(engineer, witness))
    assert result.ok, result.failure_lines()
    assert [(s.role, s.meaning, s.signed_utc) for s in result.signatures] == [
        ("engineer", "performed the tests", "2025-01-11T00:00:00Z"),
        ("witness", "witnessed the capacity test", "2025-01-13T00:00:00Z"),
    ]


def test_countersign_refused_after_artifact_change(run_dir, engineer, witness):
    sign_run_dir(run_dir, engineer, now=days(10))
    manifest_before = (run_dir / "manifest.json").read_bytes()
    _byte_in_pdf(run_dir)
    with pytest.raises(SigningError, match=r"CHANGED report\.pdf.*not rewritten"):
        sign_run_dir(run_dir, witness, now=days(12))
    assert (run_dir / "manifest.json").read_bytes() == manifest_before
    assert len(list((run_dir / "signatures").iterdir())) == 1


def test_same_key_cannot_sign_twice(run_dir, engineer):
    sign_run_dir(run_dir, engineer, now=days(10))
    with pytest.raises(SigningError, match="already signed"):
        sign_run_dir(run_dir, engineer, now=days(11))


def test_removed_earlier_signature_is_detected(run_dir, engineer, witness, make_trust):
    first = sign_run_dir(run_dir, engineer, now=days(10))
    sign_run_dir(run_dir, witness, now=days(12))
    first.unlink()
    result = verify_run_dir(run_dir, make_trust(engineer, witness))
    assert not result.ok
    assert any(first.name in p and "MISSING" in p for p in result.problems)


def test_unsigned_directory_fails(run_dir, engineer, make_trust):
    write_manifest(run_dir, build_manifest(run_dir, now=days(1)))
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert not result.ok
    assert any("no signatures" in p for p in result.problems)
    (run_dir / "manifest.json").unlink()
    assert any("manifest not found" in p for p in verify_run_dir(run_dir, make_trust(engineer)).problems)


def test_without_trust_file_keys_are_untrusted(run_dir, engineer):
    sign_run_dir(run_dir, engineer, now=days(10))
    strict = verify_run_dir(run_dir, None)
    assert not strict.ok
    assert strict.signatures[0].status == "UNTRUSTED"
    assert any("No trust file" in n for n in strict.notes)
    relaxed = verify_run_dir(run_dir, None, allow_untrusted=True)
    assert relaxed.ok
    assert relaxed.signatures[0].status == "UNTRUSTED"


def test_trust_file_role_restriction(run_dir, engineer, tmp_path):
    sign_run_dir(run_dir, engineer, now=days(10))
    trust = tmp_path / "roles.toml"
    trust.write_text(
        f'[[key]]\nname = "Erin Engineer"\nrole = "reviewer"\nfingerprint = "{engineer.info.fingerprint}"\n'
        f'public_key = "{engineer.info.public_key_b64}"\n'
    )
    result = verify_run_dir(run_dir, trust)
    assert result.signatures[0].status == "ROLE MISMATCH"


def test_malformed_signature_file_fails(run_dir, engineer, make_trust):
    path = sign_run_dir(run_dir, engineer, now=days(10))
    data = json.loads(path.read_text())
    data["signature"] = "not base64!"
    path.write_text(json.dumps(data))
    result = verify_run_dir(run_dir, make_trust(engineer))
    assert result.signatures[0].status == "MALFORMED"
    assert not result.ok


def test_truncated_signature_bytes_fail(run_dir, engineer, make_trust):
    path = sign_run_dir(run_dir, engineer, now=days(10))
    data = json.loads(path.read_text())
    data["signature"] = base64.b64encode(base64.b64decode(data["signature"])[:-1]).decode()
    path.write_text(json.dumps(data))
    assert verify_run_dir(run_dir, make_trust(engineer)).signatures[0].status == "BAD SIGNATURE"
