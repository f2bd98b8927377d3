"""The batch summary page is rendered from its template: every value escaped, links relative."""

from __future__ import annotations

from pathlib import Path

from bench.batch import ModuleOutcome, summarise, write_summary


def test_batch_page_escapes_module_text_and_links_reports_relative_to_the_page(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    outcomes = [
        ModuleOutcome(
            "MOD<1>",
            status="COMPLETED",
            verdict="PASS",
            grade="A",
            route="reuse",
            rule="soh >= 90 %",
            measurement="capacity.soh",
            value="95 %",
            reason='all "good" & fine',
            wall_s=12.34,
            report=str(reports / "MOD-1" / "report.html"),
        ),
        ModuleOutcome("MOD-2", status="ABORTED", grade="quarantine", reason="<script>alert(1)</script>"),
    ]
    summary = summarise("b1", Path("plan"), Path("duts.csv"), outcomes, 20.0)
    _, page_path = write_summary(summary, reports)
    page = page_path.read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "MOD&lt;1&gt;" in page and "all &#34;good&#34; &amp; fine" in page and "soh &gt;= 90 %" in page
    assert '<a href="MOD-1/report.html">report</a>' in page and page.count("<a href") == 1
    assert "<td>12.3</td>" in page and "<b>Yield 50.0 %</b>" in page
    assert "<tr><td>A</td><td>1</td></tr>" in page and "<tr><td>quarantine</td><td>1</td></tr>" in page
