"""`bench keys`, `bench sign`, `bench verify` through `bench.cli.main`, checking exit codes and output."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main


@pytest.fixture
def keyed(tmp_path, monkeypatch, capsys):
    """Engineer and witness keys created through the CLI, both in a trust file."""
    monkeypatch.setenv("ENG_PW", "engineer secret")
    pw_file = tmp_path / "witness.pw"
    pw_file.write_text("witness secret\n")
    keys = tmp_path / "keys"
    assert (
        main(
            [
                "keys",
                "new",
                "--name",
                "Erin Engineer",
                "--role",
                "engineer",
                "--out",
                str(keys),
                "--passphrase-env",
                "ENG_PW",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "keys",
                "new",
                "--name",
                "Walt Witness",
                "--role",
                "witness",
                "--valid-days",
                "30",
                "--out",
                str(keys),
                "--passphrase-file",
                str(pw_file),
            ]
        )
        == 0
    )
    eng_pub = next(keys.glob("erin-engineer-*.pub.json"))
    wit_pub = next(keys.glob("walt-witness-*.pub.json"))
    trust = tmp_path / "trust.toml"
    assert main(["keys", "trust-add", str(trust), str(eng_pub)]) == 0
    assert main(["keys", "trust-add", str(trust), str(wit_pub)]) == 0
    capsys.readouterr()
    return {
        "eng": [
            "--key",
            str(eng_pub).replace(".pub.json", ".key.pem"),
            "--pub",
            str(eng_pub),
            "--passphrase-env",
            "ENG_PW",
        ],
        "wit": [
            "--key",
            str(wit_pub).replace(".pub.json", ".key.pem"),
            "--pub",
            str(wit_pub),
            "--passphrase-file",
            str(pw_file),
        ],
        "eng_pub": eng_pub,
        "trust": str(trust),
    }


def test_keys_show(keyed, capsys):
    assert main(["keys", "show", str(keyed["eng_pub"])]) == 0
    out = capsys.readouterr().out
    assert "Erin Engineer" in out and "fingerprint:" in out and "valid now" in out


def test_sign_then_countersign_then_verify(run_dir, keyed, capsys):
    assert main(["sign", str(run_dir), *keyed["eng"]]) == 0
    assert main(["sign", str(run_dir), *keyed["wit"], "--meaning", "witnessed on site"]) == 0
    capsys.readouterr()
    assert main(["verify", str(run_dir), "--trust", keyed["trust"]]) == 0
    out = capsys.readouterr().out
    assert "OK       record.json" in out
    assert '"witnessed on site"' in out
    assert "RESULT: PASS" in out


def test_verify_fails_with_artifact_named(run_dir, keyed, capsys):
    assert main(["sign", str(run_dir), *keyed["eng"]]) == 0
    (run_dir / "attachments" / "events.csv").unlink()
    capsys.readouterr()
    assert main(["verify", str(run_dir), "--trust", keyed["trust"]]) == 1
    out = capsys.readouterr().out
    assert "MISSING  attachments/events.csv" in out
    assert "RESULT: FAIL" in out and "attachments/events.csv: MISSING" in out


def test_verify_without_trust_says_untrusted(run_dir, keyed, capsys):
    assert main(["sign", str(run_dir), *keyed["eng"]]) == 0
    capsys.readouterr()
    assert main(["verify", str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "UNTRUSTED" in out and "No trust file given" in out
    assert main(["verify", str(run_dir), "--allow-untrusted"]) == 0


def test_revoke_via_cli(run_dir, keyed, capsys):
    assert main(["sign", str(run_dir), *keyed["eng"]]) == 0
    fp8 = keyed["eng_pub"].name.split("-")[-1].split(".")[0]
    assert main(["keys", "revoke", keyed["trust"], fp8, "--at", "2000-01-01T00:00:00Z", "--reason", "lost"]) == 0
    capsys.readouterr()
    assert main(["verify", str(run_dir), "--trust", keyed["trust"]]) == 1
    out = capsys.readouterr().out
    assert "REVOKED" in out and "2000-01-01T00:00:00Z: lost" in out


def test_limit_set_sign_and_verify_via_cli(limit_file, keyed, capsys):
    assert main(["sign", str(limit_file), *keyed["eng"]]) == 0
    assert Path(str(limit_file) + ".sig.json").exists()
    assert main(["verify", str(limit_file), "--trust", keyed["trust"]]) == 0
    limit_file.write_text(limit_file.read_text().replace("2.50 V", "2.00 V"))
    capsys.readouterr()
    assert main(["verify", str(limit_file), "--trust", keyed["trust"]]) == 1
    assert "CHANGED  cell-lfp.toml" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line(run_dir, keyed, capsys, monkeypatch):
    monkeypatch.setenv("ENG_PW", "wrong")
    assert main(["sign", str(run_dir), *keyed["eng"]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench sign: ") and "wrong passphrase" in err and ".key.pem" in err
    assert len(err.splitlines()) == 1
    assert main(["verify", str(run_dir), "--trust", "nope.toml"]) == 2
    assert "nope.toml: trust file not found" in capsys.readouterr().err
    assert main(["verify", str(run_dir / "absent")]) == 2
    monkeypatch.delenv("ENG_PW")
    assert main(["keys", "new", "--name", "X", "--role", "engineer", "--passphrase-env", "ENG_PW"]) == 2
    assert "--passphrase-env ENG_PW: environment variable is not set" in capsys.readouterr().err


def test_demo_key_via_cli(run_dir, tmp_path, capsys):
    demo_dir = tmp_path / "demo"
    assert main(["keys", "demo", "--dir", str(demo_dir)]) == 0
    pub = demo_dir / "DEMO-engineer.pub.json"
    assert main(["sign", str(run_dir), "--key", str(demo_dir / "DEMO-engineer.key.pem"), "--pub", str(pub)]) == 0
    assert "[DEMO KEY]" in capsys.readouterr().out
    trust = tmp_path / "t.toml"
    assert main(["keys", "trust-add", str(trust), str(pub)]) == 0
    capsys.readouterr()
    assert main(["verify", str(run_dir), "--trust", str(trust)]) == 0
    assert "DEMO KEY" in capsys.readouterr().out
