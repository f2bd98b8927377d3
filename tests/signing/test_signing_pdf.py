"""PAdES signatures inside the report PDF (issue 19): made with the signers' keys, pinned in the trust
file, one incremental update per signature, checked by pyHanko's own validation and by `bench verify`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.cli import main
from bench.report.pdf import EmbeddedFile, render_pdf
from bench.signing.certs import issue_self_signed, load_pdf_signing_key
from bench.signing.keys import Signer, generate_key, save_private_key, save_public_info
from bench.signing.pdfsign import SIGNED_PDF, validate_signed_pdf
from bench.signing.signer import sign_run_dir
from bench.signing.times import utc_now
from bench.signing.trust import add_trusted_key, load_trust
from bench.signing.verify import verify_run_dir

_spec = importlib.util.spec_from_file_location(
    "pdfa_checks", Path(__file__).resolve().parents[1] / "report" / "pdfa_checks.py"
)
pdfa_checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pdfa_checks)  # type: ignore[union-attr]

PW = b"correct horse"
RECORD = b'{"report_id":"ESSB-RUN-0001","run":{"run_id":"RUN-0001"}}'
HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ESSB-RUN-0001 test report</title>
<style>@page{size:A4} body{font-family:"DejaVu Sans",sans-serif}</style></head>
<body><h1>Test report ESSB-RUN-0001</h1><table><tr><th>Measurement</th><td>pack.ocv 52.6 V PASS</td></tr></table>
</body></html>"""


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory) -> bytes:
    """A small archival report PDF with record.json embedded, rendered once for the module."""
    base = tmp_path_factory.mktemp("pdf")
    data, pages = render_pdf(
        HTML, base, embedded=[EmbeddedFile("record.json", RECORD, "run record", "Data", "application/json")]
    )
    assert pages == 1
    return data


@pytest.fixture
def pdf_run(tmp_path: Path, report_pdf: bytes) -> Path:
    d = tmp_path / "reports" / "RUN-0001"
    d.mkdir(parents=True)
    (d / "record.json").write_bytes(RECORD)
    (d / "report.html").write_text(HTML, encoding="utf-8")
    (d / "report.pdf").write_bytes(report_pdf)
    return d


def _person(tmp_path: Path, name: str, role: str) -> tuple[Signer, Path]:
    """A signer valid from yesterday (PDF signing times are real clock times), with a PDF certificate."""
    private, info = generate_key(name, role, now=utc_now() - timedelta(days=1))
    keys = tmp_path / "keys"
    pub = keys / f"{role}.pub.json"
    save_public_info(info, pub)
    save_private_key(private, keys / f"{role}.key.pem", PW)
    issue_self_signed(info, pub, PW)
    return Signer(private, info), pub


@pytest.fixture
def people(tmp_path: Path):
    eng, eng_pub = _person(tmp_path, "Erin Engineer", "engineer")
    wit, wit_pub = _person(tmp_path, "Walt Witness", "witness")
    trust = tmp_path / "trust.toml"
    add_trusted_key(trust, eng.info, pdf_certificate=eng_pub.with_name("engineer.cert.pem"))
    add_trusted_key(trust, wit.info, pdf_certificate=wit_pub.with_name("witness.cert.pem"))
    return {
        "eng": (eng, load_pdf_signing_key(eng_pub, PW)),
        "wit": (wit, load_pdf_signing_key(wit_pub, PW)),
        "trust": trust,
        "eng_pub": eng_pub,
        "wit_pub": wit_pub,
    }


def _sign_both(pdf_run: Path, people: dict) -> bytes:
    for who in ("eng", "wit"):
        signer, key = people[who]
        sign_run_dir(pdf_run, signer, pdf_key=key)
    return (pdf_run / "signatures" / SIGNED_PDF).read_bytes()


def _pyhanko_statuses(data: bytes, people: dict) -> list:
    """pyHanko's own validation, with the two certificates as trust anchors."""
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = [
        ax509.Certificate.load(k.certificate.public_bytes(serialization.Encoding.DER))
        for _, k in (people["eng"], people["wit"])
    ]
    reader = PdfFileReader(io.BytesIO(data))
    return [
        (s.field_name, validate_pdf_signature(s, ValidationContext(trust_roots=roots, allow_fetching=False)))
        for s in reader.embedded_signatures
    ]


def test_engineer_certifies_witness_approves_and_both_stay_intact(pdf_run, people):
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    report = (pdf_run / "report.pdf").read_bytes()
    signed = _sign_both(pdf_run, people)
    assert signed.startswith(report)  # incremental: report.pdf (in the manifest) is the first revision
    (eng_field, eng), (wit_field, wit) = _pyhanko_statuses(signed, people)
    assert (eng_field, wit_field) == ("Sig1-engineer", "Sig2-witness")
    for status in (eng, wit):
        assert status.intact and status.valid and status.trusted and status.docmdp_ok
    assert eng.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert eng.modification_level == ModificationLevel.FORM_FILLING  # only the witness signature came after
    assert wit.coverage == SignatureCoverageLevel.ENTIRE_FILE
    v = verify_run_dir(pdf_run, people["trust"], expect_roles=["engineer", "witness"])
    assert v.ok, v.failure_lines()
    assert [(p.field, p.status, p.kind) for p in v.pdf_signatures] == [
        ("Sig1-engineer", "OK", "certification"),
        ("Sig2-witness", "OK", "approval"),
    ]
    assert all(a.status == "OK" for a in v.artifacts)  # the manifest still holds after two PDF signatures


def test_signed_pdf_stays_pdfa_and_carries_manifest_and_record(pdf_run, people, tmp_path):
    signed = _sign_both(pdf_run, people)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    assert pdfa_checks.pdfa_problems(path) == []
    files = pdfa_checks.embedded(path)
    assert files["record.json"] == (RECORD, "/Data")
    manifest = (pdf_run / "manifest.json").read_bytes()
    assert files["manifest.json"] == (manifest, "/Supplement")
    entry = next(f for f in json.loads(manifest)["files"] if f["path"] == "report.pdf")
    assert hashlib.sha256(signed[: entry["size"]]).hexdigest() == entry["sha256"]  # the PDF vouches for itself


def _byte_inside_a_stream(pdf: bytes) -> int:
    """A byte in the data of the first sizeable stream past a third of the file: changing it breaks
    the signed digest but leaves the file readable. (A fixed offset sometimes fell inside an object's
    dictionary, depending on the run's ids and times, and pyHanko could no longer parse the file.)"""
    at = len(pdf) // 3
    for _ in range(10_000):
        start = pdf.find(b"stream", at)
        assert start >= 0, "no stream in the signed PDF"
        data = start + len(b"stream") + (2 if pdf[start + 6 : start + 8] == b"\r\n" else 1)
        end = pdf.find(b"endstream", data)
        if pdf[start - 3 : start] != b"end" and end - data >= 64:
            return data + (end - data) // 2
        at = start + 1
    raise AssertionError("no stream of 64 bytes or more in the signed PDF")


def test_a_byte_changed_after_signing_is_reported_broken(pdf_run, people):
    signed = bytearray(_sign_both(pdf_run, people))
    signed[_byte_inside_a_stream(signed)] ^= 0x01
    broken = bytes(signed)
    statuses = _pyhanko_statuses(broken, people)
    assert all(not st.intact for _, st in statuses)
    results = validate_signed_pdf(broken, load_trust(people["trust"]))
    assert [r.status for r in results] == ["BROKEN", "BROKEN"]
    (pdf_run / "signatures" / SIGNED_PDF).write_bytes(broken)
    v = verify_run_dir(pdf_run, people["trust"])
    assert not v.ok and any("report-signed.pdf" in line for line in v.failure_lines())


def test_removing_the_witness_pdf_signature_is_caught(pdf_run, people):
    signer, key = people["eng"]
    sign_run_dir(pdf_run, signer, pdf_key=key)
    first = (pdf_run / "signatures" / SIGNED_PDF).read_bytes()
    signer, key = people["wit"]
    sign_run_dir(pdf_run, signer, pdf_key=key)
    (pdf_run / "signatures" / SIGNED_PDF).write_bytes(first)  # truncated back to the engineer's revision
    v = verify_run_dir(pdf_run, people["trust"])
    assert not v.ok
    assert any("2-witness" in p and "not in signatures/report-signed.pdf" in p for p in v.problems)


def test_pdf_certificate_not_in_the_trust_file_is_unknown(pdf_run, people, tmp_path):
    signer, key = people["eng"]
    sign_run_dir(pdf_run, signer, pdf_key=key)
    bare = tmp_path / "bare-trust.toml"
    add_trusted_key(bare, signer.info)  # the Ed25519 key is trusted, its PDF certificate is not recorded
    v = verify_run_dir(pdf_run, bare)
    assert [p.status for p in v.pdf_signatures] == ["UNKNOWN CERTIFICATE"] and not v.ok


def test_signing_and_verifying_make_no_network_call(pdf_run, people, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network call attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _sign_both(pdf_run, people)
    assert verify_run_dir(pdf_run, people["trust"]).ok


def test_revoked_key_fails_its_pdf_signature_too(pdf_run, people):
    from bench.signing.trust import revoke_key

    signer, key = people["eng"]
    sign_run_dir(pdf_run, signer, pdf_key=key)
    revoke_key(people["trust"], signer.info.fingerprint, utc_now() - timedelta(hours=1), reason="lost")
    v = verify_run_dir(pdf_run, people["trust"])
    assert [p.status for p in v.pdf_signatures] == ["REVOKED"]


def test_cli_cert_trust_sign_verify(pdf_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PW", "engineer secret")
    keys = tmp_path / "clikeys"
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
                "PW",
            ]
        )
        == 0
    )
    pub = next(keys.glob("*.pub.json"))
    assert main(["keys", "cert", "--pub", str(pub), "--passphrase-env", "PW"]) == 0
    cert = next(keys.glob("*.cert.pem"))
    trust = tmp_path / "t.toml"
    assert main(["keys", "trust-add", str(trust), str(pub), "--pdf-cert", str(cert)]) == 0
    key = str(pub).replace(".pub.json", ".key.pem")
    assert main(["sign", str(pdf_run), "--key", key, "--pub", str(pub), "--passphrase-env", "PW"]) == 0
    assert "PAdES B-B" in capsys.readouterr().out
    assert main(["verify", str(pdf_run), "--trust", str(trust)]) == 0
    out = capsys.readouterr().out
    assert "PDF signatures in signatures/report-signed.pdf" in out and "Sig1-engineer" in out
    assert "1 PDF signature(s) valid" in out


def test_organisation_certificate_is_imported_and_pinned(pdf_run, tmp_path, capsys):
    """An organisation CA issues the PDF certificate; the trust file pins that certificate."""
    private, info = generate_key("Erin Engineer", "engineer", now=utc_now() - timedelta(days=1))
    pub = tmp_path / "k" / "erin.pub.json"
    save_public_info(info, pub)
    save_private_key(private, tmp_path / "k" / "erin.key.pem", PW)
    from cryptography.hazmat.primitives.asymmetric import rsa

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Lab CA")])
    ee_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = utc_now() - timedelta(days=1)
    ee = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Erin Engineer")]))
        .issuer_name(ca_name)
        .public_key(ee_key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "org.pem").write_bytes(ee.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "org.key").write_bytes(
        ee_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "pw").write_bytes(PW)
    assert (
        main(
            [
                "keys",
                "cert",
                "--pub",
                str(pub),
                "--import-cert",
                str(tmp_path / "org.pem"),
                "--import-key",
                str(tmp_path / "org.key"),
                "--passphrase-file",
                str(tmp_path / "pw"),
            ]
        )
        == 0
    )
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "other.key").write_bytes(
        other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    assert (
        main(
            [
                "keys",
                "cert",
                "--pub",
                str(pub),
                "--import-cert",
                str(tmp_path / "org.pem"),
                "--import-key",
                str(tmp_path / "other.key"),
                "--passphrase-file",
                str(tmp_path / "pw"),
            ]
        )
        == 2
    )
    assert "does not belong to certificate" in capsys.readouterr().err
    trust = tmp_path / "t.toml"
    add_trusted_key(trust, info, pdf_certificate=tmp_path / "org.pem")
    sign_run_dir(pdf_run, Signer(private, info), pdf_key=load_pdf_signing_key(pub, PW))
    v = verify_run_dir(pdf_run, trust)
    assert v.ok, v.failure_lines()
    assert v.pdf_signatures[0].cert_sha256 == hashlib.sha256(ee.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_a_key_type_that_would_make_the_pdf_2_0_is_refused(pdf_run, tmp_path):
    """pyHanko marks an ECDSA-signed PDF as PDF 2.0 (ISO 32002); a PDF/A-3 report may not claim that."""
    from bench.signing.certs import PdfSigningKey
    from bench.signing.errors import SigningError

    private, info = generate_key("Erin Engineer", "engineer", now=utc_now() - timedelta(days=1))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Erin Engineer")])
    start = utc_now() - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(3)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .sign(ec_key, hashes.SHA256())
    )
    with pytest.raises(SigningError, match="PDF 2.0"):
        sign_run_dir(pdf_run, Signer(private, info), pdf_key=PdfSigningKey(ec_key, cert))
    assert not (pdf_run / "signatures" / SIGNED_PDF).exists()


def test_with_a_time_stamping_authority_the_signature_is_b_t(pdf_run, people):
    """B-T: a time-stamp token over the signature (a local TSA here; `--tsa-url` names a real one)."""
    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's local TSA is RSA-only
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local test TSA")])
    start = utc_now() - timedelta(days=1)
    tsa_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tsa_key.public_key())
        .serial_number(9)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(tsa_key, hashes.SHA256())
    )
    stamper = DummyTimeStamper(
        ax509.Certificate.load(tsa_cert.public_bytes(serialization.Encoding.DER)),
        akeys.PrivateKeyInfo.load(
            tsa_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
    )
    signer, key = people["eng"]
    sign_run_dir(pdf_run, signer, pdf_key=key, timestamper=stamper)
    (sig,) = PdfFileReader(io.BytesIO((pdf_run / "signatures" / SIGNED_PDF).read_bytes())).embedded_signatures
    unsigned = sig.signer_info["unsigned_attrs"]
    assert any(a["type"].native == "signature_time_stamp_token" for a in unsigned)
    assert verify_run_dir(pdf_run, people["trust"]).ok
