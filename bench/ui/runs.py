"""The run list: runs from the journal with filters, each with its report and signature status."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.journal import Journal

FILTERS = ("dut", "plan", "verdict", "station")


@dataclass(frozen=True)
class SignatureStatus:
    state: str  # unsigned | verified | untrusted | invalid | no report
    detail: str = ""


class Signatures:
    """Signature status of a run folder (bench.signing.verify), cached until its files change."""

    def __init__(self, trust: Path | None = None) -> None:
        self.trust = trust
        self._cache: dict[Path, tuple[tuple[Any, ...], SignatureStatus]] = {}

    def status(self, run_dir: Path) -> SignatureStatus:
        from bench.signing.manifest import SIGNATURES_DIR

        if not (run_dir / "report.html").exists():
            return SignatureStatus("no report")
        sig_dir = run_dir / SIGNATURES_DIR
        files = sorted(sig_dir.glob("*.json")) if sig_dir.is_dir() else []
        if not files:
            return SignatureStatus("unsigned")
        key = _fingerprint(run_dir)  # any file added, removed or rewritten: verify again
        hit = self._cache.get(run_dir)
        if hit is not None and hit[0] == key:
            return hit[1]
        from bench.signing.verify import verify_run_dir

        try:
            v = verify_run_dir(run_dir, self.trust, allow_untrusted=self.trust is None)
        except Exception as exc:  # noqa: BLE001 - show it, do not fail the list
            result = SignatureStatus("invalid", f"{type(exc).__name__}: {exc}")
        else:
            signers = ", ".join(f"{s.signer} ({s.role})" for s in v.signatures if s.ok)
            if not v.ok:
                result = SignatureStatus("invalid", "; ".join(v.failure_lines()[:3]))
            elif self.trust is not None:
                result = SignatureStatus("verified", signers)
            else:
                result = SignatureStatus(
                    "untrusted",
                    f"integrity and signatures OK ({signers}); no trust file "
                    "given to bench ui (--trust), so the signers are not vouched for",
                )
        self._cache[run_dir] = (key, result)
        return result


def _fingerprint(run_dir: Path) -> tuple[Any, ...]:
    """(path, size, mtime) of every file of a run folder: cheap (stat only), changes with any edit."""
    out = []
    for p in sorted(run_dir.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append((str(p.relative_to(run_dir)), st.st_size, st.st_mtime_ns))
    return tuple(out)


def list_runs(
    journal: Journal, report_dir: Path, signatures: Signatures, filters: dict[str, str], limit: int = 200
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """(rows, choices): the filtered runs newest first, and the values each filter can take."""
    every = journal.runs(1000)
    choices = {
        "dut": sorted({str(r["dut_serial"]) for r in every if r.get("dut_serial")}),
        "plan": sorted({str(r["plan"]) for r in every if r.get("plan")}),
        "verdict": sorted({str(r["verdict"] or r["status"]) for r in every}),
        "station": sorted({str(r["station"]) for r in every if r.get("station")}),
    }
    rows = journal.runs(
        limit,
        dut_serial=filters.get("dut") or None,
        plan=filters.get("plan") or None,
        station=filters.get("station") or None,
    )
    verdict = filters.get("verdict")
    if verdict:
        rows = [r for r in rows if (r["verdict"] or r["status"]) == verdict]
    out = []
    for r in rows:
        run_dir = report_dir / r["run_id"]
        report = run_dir / "report.html"
        sig = signatures.status(run_dir)
        out.append(
            {
                "run_id": r["run_id"],
                "plan": r["plan"],
                "plan_version": r["plan_version"],
                "dut": r["dut_serial"],
                "station": r["station"],
                "status": r["status"],
                "verdict": r["verdict"],
                "reason": r["reason"],
                "started": r["started_wall"],
                "ended": r["ended_wall"],
                "operator": r["operator"],
                "report": f"/reports/{r['run_id']}/report.html" if report.exists() else None,
                "signature": sig.state,
                "signature_detail": sig.detail,
            }
        )
    return out, choices
