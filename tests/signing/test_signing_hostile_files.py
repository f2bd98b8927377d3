"""Issue 11, items 7-12: files that try to lie to the signer or the verifier.

Each test reproduces an attack that worked before (second read of a limit set, a DEMO key
relabelled as real, links and FIFOs in a run folder, a removed newest signature, malformed
files ending in tracebacks, a revocation time of "now") and checks it is now refused by name.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.signing.errors import LimitSetSignatureError, SigningError
from bench.signing.files import FileTooLargeError, UnsafeFileError
from bench.signing.keys import Signer
from bench.signing.signer import sign_limit_set, sign_run_dir
from bench.signing.trust import load_trust
from bench.signing.verify import check_signed_limit_set, verify_limit_set, verify_run_dir

SIGNED_LIMITS = b"""[limit_set]
id = "cell-lfp"
version = "1.2"

[limits."cell.ocv"]
min = "2.50 V"
max = "3.65 V"
clause = "UL 1974:2018 6"
source = "UL 1974:2018 6 [bench]"
"""
ALTERED_LIMITS = SIGNED_LIMITS.replace(b'max = "3.65 V"', b'max = "4.50 V"')


def days(n: float) -> datetime:
    """Same origin as the conftest signers' validity (2025-01-01)."""
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n)


# -- helpers ---------------------------------------------------------------------------------
def _release_fifo(path: Path) -> None:
    """Unblock whoever waits on the FIFO (a writer waiting for a reader, or the reverse)."""
    for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
        try:
            os.close(os.open(path, flags))
        except OSError:
            pass


def serve_fifo(path: Path, contents: list[bytes]) -> threading.Thread:
    """A FIFO at `path` that gives contents[0] to the first reader, contents[1] to the second, ..."""
    os.mkfifo(path)

    def reader_gone() -> bool:
        """No descriptor of this process (the reader runs in a thread of it) refers to the FIFO."""
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                    return False
            except OSError:
                continue
        return True

    def serve() -> None:
        for data in contents:
            try:
                with open(path, "wb") as fh:  # blocks until a reader opens the FIFO
                    fh.write(data)
            except OSError:
                return
            for _ in range(2000):  # let that reader finish before serving the next one
                if reader_gone():
                    break
                threading.Event().wait(0.005)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def stop_fifo(path: Path, thread: threading.Thread) -> None:
    for _ in range(20):  # bounded: each round lets a blocked writer through
        if not thread.is_alive():
            return
        _release_fifo(path)
        thread.join(0.05)


def finishes(fn, *unblock: Path, wait_s: float = 20.0):
    """Run fn; fail (instead of hanging the suite) if it blocks, e.g. on a FIFO. Returns its result."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(wait_s)
    if thread.is_alive():
        for path in unblock:
            _release_fifo(path)
        thread.join(5)
        pytest.fail(f"blocked for over {wait_s} s (a FIFO or special file was opened and read)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def production_station(tmp_path: Path, trust: Path) -> Path:
    station = tmp_path / "prod.toml"
    station.write_text(
        f"""[station]
name = "prod-bench"
mode = "production"

[safety]
trust_file = "{trust.name}"

[roles.dmm]
driver = "instruments.keysight_34465a:Keysight34465A"
resource = "TCPIP0::192.0.2.23::5025::SOCKET"
make = "Keysight"
model = "34465A"
serial = "MY59001234"
calibration = {{ certificate = "KS-CAL-1", due = 2099-06-30, lab = "Keysight" }}
""",
        encoding="utf-8",
    )
    return station


def _session(station: Path, limits: Path, tmp_path: Path):
    from bench.session import BenchSession

    session = BenchSession(station=station, limits=[limits], report_dir=tmp_path / "reports", interactive=False)
    session.journal.close()
    return session


# -- item 7: production verifies the bytes it uses -------------------------------------------------
def _signed_fifo_setup(tmp_path: Path, engineer: Signer, make_trust) -> tuple[Path, Path]:
    """A production station trusting `engineer`, and a FIFO path whose sidecar signs SIGNED_LIMITS."""
    signed = tmp_path / "signed.toml"
    signed.write_bytes(SIGNED_LIMITS)
    sign_limit_set(signed, engineer, now=days(1))
    station = production_station(tmp_path, make_trust(engineer))
    (tmp_path / "limits.toml.sig.json").write_bytes((tmp_path / "signed.toml.sig.json").read_bytes())
    return station, tmp_path / "limits.toml"


def test_production_verifies_the_same_bytes_it_parses(tmp_path, engineer, make_trust):
    station, fifo = _signed_fifo_setup(tmp_path, engineer, make_trust)
    # The first read gets altered limits, a second read would get the signed ones.
    thread = serve_fifo(fifo, [ALTERED_LIMITS, SIGNED_LIMITS])
    try:
        with pytest.raises(LimitSetSignatureError, match="limits.toml") as err:
            finishes(lambda: _session(station, fifo, tmp_path), fifo)
        assert "CHANGED" in str(err.value)
    finally:
        stop_fifo(fifo, thread)


def test_production_uses_and_keeps_the_verified_bytes(tmp_path, engineer, make_trust):
    station, fifo = _signed_fifo_setup(tmp_path, engineer, make_trust)
    thread = serve_fifo(fifo, [SIGNED_LIMITS, ALTERED_LIMITS])
    try:
        session = finishes(lambda: _session(station, fifo, tmp_path), fifo)
    finally:
        stop_fifo(fifo, thread)
    (used,) = session.limits.sets
    assert used.raw == SIGNED_LIMITS  # what the run journals at open
    assert used.limits["cell.ocv"].high.magnitude == pytest.approx(3.65)


# -- item 8: the trust file, not the signature, says whose key and whether it is a demo key ----
def _relabelled(demo_signer: Signer, name: str) -> Signer:
    """The attack: the DEMO key's public file edited to demo=false and another printed name."""
    return Signer(demo_signer.private_key, replace(demo_signer.info, name=name, demo=False))


def test_relabelled_demo_key_cannot_sign_production_limits(limit_file, make_signer, make_trust):
    demo = make_signer("DEMO Engineer (not for real reports)", demo=True)
    trust = make_trust(demo)
    assert load_trust(trust).keys[demo.info.fingerprint].demo
    sign_limit_set(limit_file, _relabelled(demo, "Erin Engineer"), now=days(1))
    with pytest.raises(LimitSetSignatureError) as err:
        check_signed_limit_set(limit_file, trust)
    assert "NAME MISMATCH" in str(err.value) or "DEMO MISMATCH" in str(err.value)


def test_signature_claiming_not_demo_for_a_demo_key_fails(run_dir, make_signer, make_trust):
    demo = make_signer("DEMO Engineer", demo=True)
    trust = make_trust(demo)
    sign_run_dir(run_dir, Signer(demo.private_key, replace(demo.info, demo=False)), now=days(1))
    (sig,) = verify_run_dir(run_dir, trust).signatures
    assert (sig.status, sig.ok, sig.demo) == ("DEMO MISMATCH", False, True)


def test_signature_claiming_another_name_fails(run_dir, engineer, make_trust):
    trust = make_trust(engineer)
    sign_run_dir(run_dir, Signer(engineer.private_key, replace(engineer.info, name="Someone Else")), now=days(1))
    v = verify_run_dir(run_dir, trust)
    (sig,) = v.signatures
    assert (sig.status, sig.signer) == ("NAME MISMATCH", "Erin Engineer")
    assert not v.ok


def test_production_refuses_a_key_the_trust_file_marks_demo(limit_file, engineer, make_trust, tmp_path):
    trust = make_trust(engineer)
    text = trust.read_text().replace(
        f'fingerprint = "{engineer.info.fingerprint}"', f'fingerprint = "{engineer.info.fingerprint}"\ndemo = true'
    )
    trust.write_text(text)
    sign_limit_set(limit_file, engineer, now=days(1))  # the signature itself says demo = false
    with pytest.raises(LimitSetSignatureError, match="DEMO"):
        check_signed_limit_set(limit_file, trust)


# -- item 9: no links, no special files, bounded reads ------------------------------------------
def test_sign_refuses_a_planted_manifest_link(run_dir, engineer, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run_dir / "manifest.json").symlink_to(victim)
    with pytest.raises(UnsafeFileError, match="manifest.json"):
        sign_run_dir(run_dir, engineer, now=days(1))
    assert victim.read_text() == "precious"


def test_sign_refuses_a_signatures_link(run_dir, engineer, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_dir / "signatures").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeFileError, match="signatures"):
        sign_run_dir(run_dir, engineer, now=days(1))
    assert list(outside.iterdir()) == []


def test_sign_refuses_a_linked_or_special_artifact(run_dir, engineer, tmp_path):
    (run_dir / "attachments" / "extra.csv").symlink_to(run_dir / "record.json")
    with pytest.raises(UnsafeFileError, match="extra.csv"):
        sign_run_dir(run_dir, engineer, now=days(1))
    (run_dir / "attachments" / "extra.csv").unlink()
    os.mkfifo(run_dir / "attachments" / "pipe.csv")
    with pytest.raises(UnsafeFileError, match="FIFO"):
        finishes(lambda: sign_run_dir(run_dir, engineer, now=days(1)), run_dir / "attachments" / "pipe.csv")


def test_verify_refuses_linked_manifest_and_signatures(run_dir, engineer, make_trust, tmp_path):
    trust = make_trust(engineer)
    sign_run_dir(run_dir, engineer, now=days(1))
    assert verify_run_dir(run_dir, trust).ok
    copy = tmp_path / "copy"
    copy.mkdir()
    os.replace(run_dir / "manifest.json", copy / "manifest.json")
    (run_dir / "manifest.json").symlink_to(copy / "manifest.json")
    v = verify_run_dir(run_dir, trust)
    assert not v.ok and any("symbolic link" in p for p in v.problems)
    (run_dir / "manifest.json").unlink()
    os.replace(copy / "manifest.json", run_dir / "manifest.json")
    os.replace(run_dir / "signatures", copy / "signatures")
    (run_dir / "signatures").symlink_to(copy / "signatures", target_is_directory=True)
    v = verify_run_dir(run_dir, trust)
    assert not v.ok and any("signatures" in p and "link" in p for p in v.problems)


def test_manifest_pointing_at_dev_zero_fails_fast(run_dir, engineer, make_trust):
    trust = make_trust(engineer)
    sign_run_dir(run_dir, engineer, now=days(1))
    (run_dir / "manifest.json").unlink()
    (run_dir / "manifest.json").symlink_to("/dev/zero")
    v = finishes(lambda: verify_run_dir(run_dir, trust))
    assert not v.ok and any("manifest.json" in p and "symbolic link" in p for p in v.problems)


def test_fifo_manifest_and_oversize_manifest_fail_by_name(run_dir, engineer, make_trust):
    trust = make_trust(engineer)
    sign_run_dir(run_dir, engineer, now=days(1))
    manifest = run_dir / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)
    v = finishes(lambda: verify_run_dir(run_dir, trust), manifest)
    assert not v.ok and any("FIFO" in p for p in v.problems)
    manifest.unlink()
    with open(manifest, "wb") as fh:  # sparse: 40 MB of zeros costs no disk
        fh.truncate(40 * 1024 * 1024)
    v = verify_run_dir(run_dir, trust)
    assert not v.ok and any("larger than" in p and "manifest" in p for p in v.problems)


def test_oversize_signature_file_is_malformed_not_read(run_dir, engineer, make_trust):
    trust = make_trust(engineer)
    path = sign_run_dir(run_dir, engineer, now=days(1))
    with open(path, "r+b") as fh:
        fh.truncate(5 * 1024 * 1024)
    (sig,) = verify_run_dir(run_dir, trust).signatures
    assert sig.status == "MALFORMED" and "larger than" in sig.notes[0]


def test_read_cap_error_is_named(tmp_path):
    from bench.signing.files import read_file

    big = tmp_path / "trust.toml"
    with open(big, "wb") as fh:
        fh.truncate(5 * 1024 * 1024)
    with pytest.raises(FileTooLargeError, match="trust.toml"):
        read_file(big, limit=4 * 1024 * 1024, what="trust file")


# -- item 10: a deleted newest signature and required roles ---------------------------------------
def test_deleting_the_newest_signature_is_caught_only_with_required_roles(
    run_dir, engineer, witness, make_trust, tmp_path
):
    trust = make_trust(engineer, witness)
    sign_run_dir(run_dir, engineer, now=days(1))
    newest = sign_run_dir(run_dir, witness, now=days(2))
    newest.unlink()
    assert verify_run_dir(run_dir, trust).ok  # undetectable by the signatures alone (documented)
    v = verify_run_dir(run_dir, trust, expect_roles=["engineer", "witness"])
    assert not v.ok and any("no valid witness signature" in p for p in v.problems)
    policy = tmp_path / "policy-trust.toml"
    policy.write_text(trust.read_text() + '\n[policy]\nrequired_roles = ["engineer", "witness"]\n')
    v = verify_run_dir(run_dir, policy)
    assert not v.ok and any("required_roles" in p for p in v.problems)


def test_expect_roles_on_the_command_line(run_dir, engineer, witness, make_trust, capsys):
    trust = make_trust(engineer, witness)
    sign_run_dir(run_dir, engineer, now=days(1))
    argv = ["verify", str(run_dir), "--trust", str(trust), "--expect-roles", "engineer,witness"]
    assert main(argv) == 1
    assert "no valid witness signature" in capsys.readouterr().out
    sign_run_dir(run_dir, witness, now=days(2))
    assert main(argv) == 0
    assert main(["verify", str(run_dir), "--trust", str(trust), "--expect-roles", "engineer,notary"]) == 2
    assert "notary" in capsys.readouterr().err


def test_policy_with_unknown_role_is_a_config_error(tmp_path):
    trust = tmp_path / "t.toml"
    trust.write_text('schema_version = "ess-bench-trust/1"\n[policy]\nrequired_roles = ["witnes"]\n')
    with pytest.raises(ConfigError, match="policy.required_roles"):
        load_trust(trust)


# -- item 11: one-line named errors instead of tracebacks ------------------------------------------
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_signature_and_manifest(run_dir, engineer, make_trust, capsys):
    trust = make_trust(engineer)
    path = sign_run_dir(run_dir, engineer, now=days(1))
    data = json.loads(path.read_text())
    data["signed"]["countersigns"] = json.loads(_nested(50))
    path.write_text(json.dumps(data)[:-1] + ', "x": ' + _nested(100_000) + "}")
    assert main(["verify", str(run_dir), "--trust", str(trust)]) == 1
    out = capsys.readouterr().out
    assert "MALFORMED" in out and "nested too deeply" in out
    (run_dir / "manifest.json").write_text(_nested(100_000))
    assert main(["verify", str(run_dir), "--trust", str(trust)]) == 1
    assert "manifest.json: JSON nested too deeply" in capsys.readouterr().out


def test_signed_time_far_in_the_future_is_malformed(run_dir, engineer, make_trust, capsys):
    trust = make_trust(engineer)
    path = sign_run_dir(run_dir, engineer, now=days(1))
    data = json.loads(path.read_text())
    data["signed"]["signed_utc"] = "9999-12-31T23:59:59-05:00"
    path.write_text(json.dumps(data))
    assert main(["verify", str(run_dir), "--trust", str(trust)]) == 1
    out = capsys.readouterr().out
    assert "MALFORMED" in out and "out of the representable range" in out


def test_folder_named_like_a_signature(run_dir, engineer, witness, make_trust, capsys):
    trust = make_trust(engineer)
    sign_run_dir(run_dir, engineer, now=days(1))
    (run_dir / "signatures" / f"2-witness-{witness.info.short}.json").mkdir()
    assert main(["verify", str(run_dir), "--trust", str(trust)]) == 1
    out = capsys.readouterr().out
    assert "MALFORMED" in out and "is a directory" in out
    with pytest.raises(SigningError, match="is a directory"):
        sign_run_dir(run_dir, witness, now=days(2))


def test_garbage_sidecar_and_trust_file_are_named(limit_file, engineer, make_trust, tmp_path):
    trust = make_trust(engineer)
    sign_limit_set(limit_file, engineer, now=days(1))
    side = limit_file.with_name(limit_file.name + ".sig.json")
    side.write_text(_nested(100_000))
    v = verify_limit_set(limit_file, trust)
    assert not v.ok and "nested too deeply" in v.problems[0] and str(side) in v.problems[0]
    fifo = tmp_path / "fifo-trust.toml"
    os.mkfifo(fifo)
    with pytest.raises(SigningError, match="FIFO"):
        finishes(lambda: load_trust(fifo), fifo)


# -- item 12: trust-file times are explicit --------------------------------------------------
@pytest.mark.parametrize("field", ["revoked_at", "valid_from"])
def test_trust_file_times_must_be_explicit(tmp_path, engineer, field):
    trust = tmp_path / "t.toml"
    fp = engineer.info.fingerprint
    if field == "revoked_at":
        body = f'[[revoked]]\nfingerprint = "{fp}"\nrevoked_at = "now"\n'
    else:
        body = f'[[key]]\nname = "E"\nfingerprint = "{fp}"\nvalid_from = "now"\n'
    trust.write_text('schema_version = "ess-bench-trust/1"\n' + body)
    with pytest.raises(ConfigError, match=f"{field}.*'now' is not a fixed time"):
        load_trust(trust)


def test_cli_revoke_at_now_is_still_accepted(tmp_path, engineer, make_trust, capsys):
    trust = make_trust(engineer)
    assert main(["keys", "revoke", str(trust), engineer.info.fingerprint, "--at", "now"]) == 0
    text = trust.read_text()
    assert 'revoked_at = "now"' not in text and 'revoked_at = "20' in text
