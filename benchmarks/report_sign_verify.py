"""Benchmark: archival PDF, then engineer + witness signatures (Ed25519 + PAdES) and `bench verify`.

Prints the time to render the report (PDF/A-3b laid out in its child process), to sign it twice
(manifest, Ed25519, PAdES certification then approval by incremental update) and to verify the
folder (hashes, Ed25519, pyHanko validation of both PDF signatures). Targets: sign < 5 s each,
verify < 10 s. Usage: `.venv/bin/python benchmarks/report_sign_verify.py [--samples N]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report_render import build  # noqa: E402

from bench.report.render import render_report  # noqa: E402
from bench.signing.certs import issue_self_signed, load_pdf_signing_key  # noqa: E402
from bench.signing.keys import Signer, generate_key, save_private_key, save_public_info  # noqa: E402
from bench.signing.signer import sign_run_dir  # noqa: E402
from bench.signing.times import utc_now  # noqa: E402
from bench.signing.trust import add_trusted_key  # noqa: E402
from bench.signing.verify import verify_run_dir  # noqa: E402

SIGN_TARGET_S = 5.0
VERIFY_TARGET_S = 10.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=200_000)
    args, _ = ap.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        journal, run_id = build(base / "journal.sqlite", args.samples)
        t = time.perf_counter()
        result = render_report(journal, run_id, base / "run")
        render_s = time.perf_counter() - t
        journal.close()
        if result.pdf is None:
            print(f"report.pdf not rendered: {result.pdf_error}")
            return 1
        people = []
        for name, role in (("Erin Engineer", "engineer"), ("Walt Witness", "witness")):
            private, info = generate_key(name, role, now=utc_now() - timedelta(days=1))
            pub = base / "keys" / f"{role}.pub.json"
            save_public_info(info, pub)
            save_private_key(private, base / "keys" / f"{role}.key.pem", b"pw")
            cert = issue_self_signed(info, pub, b"pw")
            add_trusted_key(base / "trust.toml", info, pdf_certificate=cert)
            people.append((Signer(private, info), load_pdf_signing_key(pub, b"pw")))
        sign_s = []
        for signer, key in people:
            t = time.perf_counter()
            sign_run_dir(base / "run", signer, pdf_key=key)
            sign_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        v = verify_run_dir(base / "run", base / "trust.toml", expect_roles=["engineer", "witness"])
        verify_s = time.perf_counter() - t
        size = (base / "run" / "signatures" / "report-signed.pdf").stat().st_size / 1e3
        print(f"render_report (archival PDF, {result.pdf_pages} pages): {render_s:.2f} s")
        print(
            f"sign engineer (certifies): {sign_s[0]:.2f} s; sign witness (approves): {sign_s[1]:.2f} s "
            f"(target < {SIGN_TARGET_S:.0f} s each); signed PDF {size:.0f} kB"
        )
        print(
            f"verify (hashes, 2 Ed25519, 2 PAdES via pyHanko): {verify_s:.2f} s (target < {VERIFY_TARGET_S:.0f} s); "
            f"result {'PASS' if v.ok else 'FAIL'}"
        )
        ok = v.ok and max(sign_s) < SIGN_TARGET_S and verify_s < VERIFY_TARGET_S
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
