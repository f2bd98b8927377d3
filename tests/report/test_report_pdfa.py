"""The archival PDF: PDF/A-3b with the evidence embedded, tagged; bounded layout; no writes through links."""

from __future__ import annotations

import json
from pathlib import Path

import pikepdf
import pytest
from pdfa_checks import embedded, pdfa_problems

from bench.cli import main as bench_main
from bench.journal import Journal
from bench.report.render import clip, render_report
from bench.signing.files import UnsafeFileError


def test_pdf_is_pdfa3b_tagged_with_the_evidence_embedded(run_id: str, journal: Journal, tmp_path: Path) -> None:
    result = render_report(journal, run_id, tmp_path / "run")
    assert result.pdf is not None, result.pdf_error
    assert pdfa_problems(result.pdf) == []
    files = embedded(result.pdf)
    assert files["record.json"] == ((result.out_dir / "record.json").read_bytes(), "/Data")
    assert files["module_lfp.toml"] == ((result.out_dir / "limits" / "module_lfp.toml").read_bytes(), "/Source")
    assert files["passport.json"] == ((result.out_dir / "attachments" / "passport.json").read_bytes(), "/Data")
    pdf = pikepdf.open(result.pdf)
    assert str(pdf.Root.Lang) == "en"
    assert pdf.open_metadata()["dc:title"].startswith(f"ESSB-{run_id}")
    assert pdf.Root.ViewerPreferences.DisplayDocTitle


def test_passport_from_dut_information_is_embedded_when_not_attached(run_id: str, build_run, tmp_path: Path) -> None:
    j = build_run(tmp_path / "j.sqlite", samples=200)
    with pytest.MonkeyPatch.context() as mp:  # a run whose passport came only with the DUT information
        real = j.attachments
        mp.setattr(j, "attachments", lambda rid: [a for a in real(rid) if a["name"] != "passport.json"])
        result = render_report(j, run_id, tmp_path / "run")
    record = json.loads((result.out_dir / "record.json").read_bytes())
    passport = json.loads(embedded(result.pdf)["passport.json"][0])
    assert passport == record["passports"][0]["data"] and passport["id"] == "BP-DE-0042"
    j.close()


def test_same_journal_gives_the_same_pdf_bytes(run_id: str, journal: Journal, tmp_path: Path) -> None:
    a = render_report(journal, run_id, tmp_path / "a").pdf
    b = render_report(journal, run_id, tmp_path / "b").pdf
    assert a is not None and b is not None and a.read_bytes() == b.read_bytes()


def test_pdf_out_of_time_is_journalled_and_keeps_html_and_record(
    run_id: str, journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = render_report(journal, run_id, tmp_path / "run", pdf_timeout_s=0.01)
    assert result.pdf is None and "did not finish within 0.01 s" in (result.pdf_error or "")
    assert result.html.exists() and (result.out_dir / "record.json").exists()
    assert not (result.out_dir / "report.pdf").exists()
    failed = [e for e in journal.events(run_id) if e["kind"] == "report_failed"]
    assert len(failed) == 1 and "did not finish" in failed[0]["message"]
    assert failed[0]["data"]["artifact"] == "report.pdf"
    assert "report.pdf not rendered" in capsys.readouterr().err


def test_bench_report_pdf_timeout_option(run_id: str, journal: Journal, tmp_path: Path, capsys) -> None:
    reports = Path(journal.path).parent
    code = bench_main(
        ["report", run_id, "--report-dir", str(reports), "--out", str(tmp_path / "o"), "--pdf-timeout", "0.01"]
    )
    assert code == 0
    assert "pdf: NOT rendered" in capsys.readouterr().err


def test_long_values_are_clipped_on_the_page() -> None:
    assert clip("S" * 50_000).startswith("S" * 256 + "… [cut: 50,000 characters")
    assert clip("MOD-0042") == "MOD-0042"


@pytest.mark.parametrize(
    "planted", ["report.html", "record.json", "attachments/telemetry.csv", "limits/module_lfp.toml"]
)
def test_report_never_writes_through_a_planted_link(
    planted: str, run_id: str, journal: Journal, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    (out / Path(planted).parent).mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / planted).symlink_to(victim)
    with pytest.raises(UnsafeFileError, match=Path(planted).name):
        render_report(journal, run_id, out, pdf=False)
    assert victim.read_text() == "precious"


def test_report_refuses_a_linked_attachments_folder(run_id: str, journal: Journal, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "attachments").symlink_to(elsewhere, target_is_directory=True)
    reports = Path(journal.path).parent
    code = bench_main(["report", run_id, "--report-dir", str(reports), "--out", str(out), "--no-pdf"])
    assert code == 2 and list(elsewhere.iterdir()) == []
