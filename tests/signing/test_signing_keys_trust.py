"""Keys, canonical JSON, trust files, the demo key."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from bench.errors import ConfigError
from bench.signing.demo import ensure_demo_key
from bench.signing.errors import KeyFileError, SigningError, TrustFileError
from bench.signing.keys import load_public_info, load_signer, write_key_pair
from bench.signing.manifest import CanonicalJsonError, canonical_json
from bench.signing.signer import sign_run_dir
from bench.signing.times import parse_utc
from bench.signing.trust import add_trusted_key, load_trust, revoke_key
from bench.signing.verify import verify_run_dir

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_canonical_json_rule():
    data = {"b": [1, 2.0, 0.1, 1e-7, 1e16, -0.0], "a": "3.65 V · 0.5 MΩ", "c": {"z": None, "y": True}}
    out = canonical_json(data)
    assert out == ('{"a":"3.65 V · 0.5 MΩ","b":[1,2.0,0.1,1e-07,1e+16,-0.0],"c":{"y":true,"z":null}}'.encode())
    assert canonical_json(json.loads(out)) == out  # stable through a parse/serialise cycle


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [1, math.nan]}, r"\$\.a\[1\]"),
        ({"t": T0}, r"\$\.t"),
        ({1: "x"}, r"\$: key 1"),
        ({"x": b"1"}, r"\$\.x"),
    ],
)
def test_canonical_json_refuses_ambiguous_values(value, where):
    with pytest.raises(CanonicalJsonError, match=where):
        canonical_json(value)


def test_key_pair_files_round_trip(tmp_path):
    paths = write_key_pair("Erin Engineer", "engineer", tmp_path, b"pw", valid_days=10, now=T0)
    assert paths.private.stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED PRIVATE KEY" in paths.private.read_bytes()
    info = load_public_info(paths.public)
    assert (info.name, info.role, info.demo) == ("Erin Engineer", "engineer", False)
    assert info.valid_until == datetime(2025, 1, 11, tzinfo=UTC)
    assert paths.public.name == f"erin-engineer-{info.short}.pub.json"
    signer = load_signer(paths.private, paths.public, b"pw")
    assert signer.info.fingerprint == info.fingerprint


def test_key_errors_name_the_file(tmp_path):
    a = write_key_pair("A", "engineer", tmp_path, b"pw", now=T0)
    b = write_key_pair("B", "witness", tmp_path, b"pw", now=T0)
    with pytest.raises(KeyFileError, match=rf"{a.private.name}: cannot decrypt: wrong passphrase"):
        load_signer(a.private, a.public, b"wrong")
    with pytest.raises(KeyFileError, match=rf"{a.private.name}: key is encrypted"):
        load_signer(a.private, a.public, None)
    with pytest.raises(KeyFileError, match=rf"{a.private.name}: private key does not match public file"):
        load_signer(a.private, b.public, b"pw")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_pair("A", "engineer", tmp_path, b"pw", stem=a.private.name.removesuffix(".key.pem"))
    data = json.loads(a.public.read_text())
    data["fingerprint"] = "0" * 64
    a.public.write_text(json.dumps(data))
    with pytest.raises(KeyFileError, match=rf"{a.public.name}: fingerprint .* does not match"):
        load_public_info(a.public)
    with pytest.raises(SigningError, match="unknown role 'boss'"):
        write_key_pair("C", "boss", tmp_path, b"pw")


def test_times_need_a_zone():
    assert parse_utc("2025-06-01T14:00:00+02:00") == datetime(2025, 6, 1, 12, tzinfo=UTC)
    with pytest.raises(SigningError, match="--at: '2025-06-01T12:00:00' has no time zone"):
        parse_utc("2025-06-01T12:00:00", where="--at")


def test_trust_file_add_revoke_and_errors(tmp_path, engineer, witness):
    trust = tmp_path / "trust.toml"
    add_trusted_key(trust, engineer.info)
    before = trust.read_text()
    assert add_trusted_key(trust, engineer.info).fingerprint == engineer.info.fingerprint
    assert trust.read_text() == before  # adding twice changes nothing
    add_trusted_key(trust, witness.info)
    rev = revoke_key(trust, engineer.info.fingerprint[:10], datetime(2025, 2, 1, tzinfo=UTC), reason="lost")
    assert rev.fingerprint == engineer.info.fingerprint
    store = load_trust(trust)
    assert set(store.keys) == {engineer.info.fingerprint, witness.info.fingerprint}
    assert store.revocation_for(engineer.info.fingerprint).reason == "lost"
    with pytest.raises(TrustFileError, match="not a fingerprint"):
        revoke_key(trust, "abc", datetime(2025, 2, 1, tzinfo=UTC))
    bad = tmp_path / "bad.toml"
    bad.write_text('[[key]]\nname = "X"\nfingerprint = "1234"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml:key\[0\]:fingerprint: expected 64 hex digits"):
        load_trust(bad)
    bad.write_text('[[revoked]]\nfingerprint = "' + "a" * 64 + '"\nrevoked_at = "2025-01-01T00:00:00"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml:revoked\[0\]:revoked_at: .*no time zone"):
        load_trust(bad)


def test_trust_file_by_public_key_path(tmp_path, run_dir):
    paths = write_key_pair("Erin Engineer", "engineer", tmp_path / "keys", b"pw", now=T0)
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[[key]]\npublic_key_file = "keys/{paths.public.name}"\n')
    signer = load_signer(paths.private, paths.public, b"pw")
    sign_run_dir(run_dir, signer, now=datetime(2025, 1, 5, tzinfo=UTC))
    assert verify_run_dir(run_dir, trust).ok


def test_demo_key_is_labelled_and_reused(tmp_path, run_dir):
    first = ensure_demo_key(tmp_path / "demo")
    again = ensure_demo_key(tmp_path / "demo")
    assert first == again
    info = load_public_info(first.public)
    assert info.demo and "DEMO" in info.name
    assert json.loads(first.public.read_text())["demo"] is True
    signer = first.signer()
    sig = sign_run_dir(run_dir, signer)
    assert json.loads(sig.read_text())["signed"]["demo"] is True
    trust = tmp_path / "trust.toml"
    add_trusted_key(trust, info)
    result = verify_run_dir(run_dir, trust)
    assert result.ok and result.signatures[0].demo
    assert any("DEMO KEY" in n for n in result.signatures[0].notes)


def test_real_key_is_never_taken_for_the_demo_key(tmp_path):
    write_key_pair("Erin Engineer", "engineer", tmp_path, b"pw", stem="DEMO-engineer")
    with pytest.raises(KeyFileError, match="expected a DEMO key"):
        ensure_demo_key(tmp_path)
