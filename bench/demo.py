"""`make demo`: run the smoke plan on the simulated station, sign the report, verify it.

The signature uses a DEMO key generated on first use (keys/demo/), labelled as such in the
signature and in the report; a real engineer signs with `bench sign` and their own key.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.journal import Journal

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    report_dir = ROOT / "reports"
    code = pytest.main(
        [
            str(ROOT / "test_plans" / "smoke"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-o",
            "addopts=",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            "--report-dir",
            str(report_dir),
            "--dut",
            "DEMO-PACK-0001",
            "--operator",
            "demo",
        ]
    )
    journal = Journal(report_dir / "journal.sqlite")
    runs = journal.runs(1)
    if not runs:
        print("demo: no run was recorded", file=sys.stderr)
        return 1
    run = runs[0]
    run_dir = report_dir / run["run_id"]
    from bench.report.render import render_run
    from bench.signing import demo_signer, print_verification, sign_run_dir, verify_run_dir
    from bench.signing.certs import pdf_key_paths
    from bench.signing.demo import demo_pdf_key, ensure_demo_key
    from bench.signing.trust import add_trusted_key, load_trust

    key_dir = ROOT / "keys" / "demo"
    signer = demo_signer(key_dir)
    pdf_key = demo_pdf_key(key_dir)
    trust = key_dir / "demo-trust.toml"
    if trust.exists() and not getattr(load_trust(trust).keys.get(signer.info.fingerprint), "pdf_certificate", None):
        trust.unlink()  # written by an older demo without the PDF certificate; it is regenerated
    # idempotent: a demo auditor who trusts the demo key and its PDF certificate
    add_trusted_key(trust, signer.info, pdf_certificate=pdf_key_paths(ensure_demo_key(key_dir).public)[1])
    render_run(journal, run["run_id"], run_dir, signatures=[_sig_view(signer)])
    sign_run_dir(run_dir, signer, meaning="performed the tests (demo)", pdf_key=pdf_key)
    verification = verify_run_dir(run_dir, trust)
    print_verification(verification)
    print(f"\nrun {run['run_id']}: {run['status']} {run['verdict']}")
    print(f"report: {run_dir / 'report.html'}  (signed PDF: {run_dir / 'signatures' / 'report-signed.pdf'})")
    print(f"verify offline: .venv/bin/bench verify {run_dir} --trust {trust}   (DEMO key)")
    if not verification.ok:
        return 1
    return 0 if code == 0 else int(code)


def _sig_view(signer: object) -> dict[str, object]:
    """The intended signer shown in the report; the signatures themselves live in signatures/."""
    info = signer.info  # type: ignore[attr-defined]
    return {
        "name": info.name,
        "role": info.role,
        "meaning": "performed the tests (demo)",
        "time": "see signatures/ (bench verify)",
        "fingerprint": info.fingerprint,
        "demo": info.demo,
    }


if __name__ == "__main__":
    sys.exit(main())
