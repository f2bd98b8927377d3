"""The report folder: every section, the PDF (id and page X of Y on every page), ABORTED runs,
amendments through `bench report --amends`, signed folders never overwritten, PDF failure tolerated."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.cli import main as bench_main
from bench.journal import Journal
from bench.report import pdf as pdf_module
from bench.report.render import SignedReportError, render_report

SECTIONS = (
    "identity",
    "dut",
    "passport",
    "instruments",
    "limits",
    "conditions",
    "compliance",
    "measurements",
    "plots",
    "prompts",
    "deviations",
    "events",
    "attachments",
    "signatures",
    "statement",
    "end",
)


def _page_texts(html: str, base: Path) -> list[str]:
    doc = pdf_module.html_document(html, base)
    pages = []
    for page in doc.pages:
        stack, texts = [page._page_box], []
        while stack:
            box = stack.pop()
            if isinstance(getattr(box, "text", None), str):
                texts.append(box.text)
            stack.extend(getattr(box, "children", None) or [])
        pages.append("\n".join(texts))
    return pages


def test_html_has_every_section_and_the_17025_content(run_id: str, journal: Journal, tmp_path: Path) -> None:
    html = render_report(journal, run_id, tmp_path / "run", pdf=False).html.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    for text in (
        "ESS Bench lab",
        "Bay 2, battery test cell",
        "module_intake",
        "1.3.0",
        "0.1.0+gdeadbeef1234",
        "FL-CAL-2024-00913",
        "EXPIRED",
        "INDETERMINATE",
        "MY61230017",
        "B.01.07",
        "cd" * 32,
        "23.4 °C",
        "Module free of swelling and leaks?",
        "rest before capacity shortened",
        "The results relate only to the items tested",
        "BP-DE-0042",
        "repurposer.name",
        "grade <b>B</b>",
        "max ≤ 12 A",
        f"END OF REPORT ESSB-{run_id}",
    ):
        assert text in html, text
    assert 'id="aborted"' not in html and 'id="amended"' not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained, offline


def test_pdf_has_report_id_and_page_x_of_y_on_every_page_and_an_end_marker(
    run_id: str, journal: Journal, tmp_path: Path
) -> None:
    result = render_report(journal, run_id, tmp_path / "run")
    assert result.pdf is not None and result.pdf.read_bytes()[:5] == b"%PDF-"
    pages = _page_texts(result.html.read_text(encoding="utf-8"), result.out_dir)
    assert len(pages) == result.pdf_pages >= 2
    for n, text in enumerate(pages, start=1):
        assert f"ESSB-{run_id}" in text and f"page {n} of {len(pages)}" in text
    assert f"END OF REPORT ESSB-{run_id}" in pages[-1]


def test_aborted_run_renders_a_banner_with_its_reason(
    run_id: str, build_run: Callable[..., Journal], tmp_path: Path
) -> None:
    j = build_run(tmp_path / "j.sqlite", samples=500, aborted=True)
    html = render_report(j, run_id, tmp_path / "run", pdf=False).html.read_text(encoding="utf-8")
    assert 'id="aborted"' in html and "RUN ABORTED" in html
    assert "interlock: cell over-temperature" in html and "cell over-temperature 61 °C" in html
    j.close()


def test_pdf_failure_keeps_html_and_json_and_is_journalled(
    run_id: str,
    journal: Journal,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.pdf").write_bytes(b"%PDF-stale")

    def broken() -> None:
        raise pdf_module.PdfUnavailable("WeasyPrint unavailable (OSError: cannot load library 'pango-1.0-0')")

    monkeypatch.setattr(pdf_module, "_weasyprint", broken)
    result = render_report(journal, run_id, tmp_path / "run")
    assert result.pdf is None and "pango" in (result.pdf_error or "")
    assert result.html.exists() and (result.out_dir / "record.json").exists()
    assert not (result.out_dir / "report.pdf").exists()  # no stale PDF disagreeing with the HTML
    assert "report.pdf not rendered" in capsys.readouterr().err
    assert any(e["kind"] == "report_failed" and "pango" in e["message"] for e in journal.events(run_id))


def test_signed_folder_is_never_overwritten(run_id: str, journal: Journal, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "signatures").mkdir(parents=True)
    with pytest.raises(SignedReportError):
        render_report(journal, run_id, out, pdf=False)


def _cli_journal(tmp_path: Path, build_run: Callable[..., Journal]) -> Path:
    reports = tmp_path / "reports"
    build_run(reports / "journal.sqlite", samples=300).close()
    return reports


def test_cli_amendment_goes_beside_a_signed_report_and_names_what_it_replaces(
    run_id: str, build_run: Callable[..., Journal], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = _cli_journal(tmp_path, build_run)
    assert bench_main(["report", run_id, "--report-dir", str(reports), "--no-pdf"]) == 0
    run_dir = reports / run_id
    (run_dir / "signatures").mkdir()
    signed_html = (run_dir / "report.html").read_bytes()
    assert bench_main(["report", run_id, "--report-dir", str(reports)]) == 2  # refuses to overwrite
    assert "is signed" in capsys.readouterr().err
    code = bench_main(
        [
            "report",
            run_id[:20],
            "--report-dir",
            str(reports),
            "--no-pdf",
            "--amends",
            f"ESSB-{run_id}",
            "--reason",
            "DUT serial corrected",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "is signed and kept unchanged" in out
    amended = reports / f"{run_id}-amend-1"
    html = (amended / "report.html").read_text(encoding="utf-8")
    assert (run_dir / "report.html").read_bytes() == signed_html
    assert f"ESSB-{run_id}-A1" in html and 'id="amended"' in html and 'id="amendments"' in html
    assert re.search(rf"replaces report <b>ESSB-{run_id}</b>", html) and "DUT serial corrected" in html
    j = Journal(reports / "journal.sqlite")
    assert j.run(run_id)["amends"] == f"ESSB-{run_id}"
    j.close()


def test_cli_amendment_needs_a_reason(
    run_id: str, build_run: Callable[..., Journal], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = _cli_journal(tmp_path, build_run)
    assert bench_main(["report", run_id, "--report-dir", str(reports), "--amends", "ESSB-X"]) == 2
    assert "--reason" in capsys.readouterr().err


def test_plan_tables_render_in_the_report_and_unmeasured_values_say_so(
    run_id: str, journal: Journal, tmp_path: Path
) -> None:
    """CSV tables a plan attaches (an RTE table, an alarm matrix) appear as tables; a value the
    instrument could not give (journalled NULL, INDETERMINATE) reads "not measured", not a number."""
    journal.add_attachment(run_id, "rte_table.csv", b"cycle,rte_ac_pct\n1,92.9\n2,93.0\n", kind="text/csv")
    journal.add_measurement(
        run_id,
        step=None,
        name="sign.reactive_power_error",
        value=None,
        unit="%",
        verdict="INDETERMINATE",
        reason="704.VarSet not implemented",
    )
    html = render_report(journal, run_id, tmp_path / "t", pdf=False).html.read_text(encoding="utf-8")
    assert "rte_table.csv" in html and "<th>rte_ac_pct</th>" in html and '<td class="wrap">92.9</td>' in html
    assert "not measured" in html


def test_the_pytest_html_step_table_comes_from_its_template_and_escapes() -> None:
    from bench.report.render import step_table

    html = step_table([{"name": "cell<3>.ocv", "value": "3.3 V", "limit": "≤ 3.65 V & ≥ 2.5 V", "verdict": "PASS"}])
    assert "<td>cell&lt;3&gt;.ocv</td>" in html and "≤ 3.65 V &amp; ≥ 2.5 V" in html
    assert html.startswith("<table><tr><th>measurement</th>") and html.count("<tr>") == 2
