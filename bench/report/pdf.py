"""report.pdf from the same HTML, with WeasyPrint, offline, as an archival PDF/A-3b with its evidence.

The PDF is what auditors file for a decade, so it is written as PDF/A-3b (ISO 19005-3:2012),
tagged (document language and title from the HTML), with the machine-readable evidence
embedded as associated files: the canonical record.json, the limit sets' exact bytes and the
battery passport (see `bench.report.archive`). A reader holding only the PDF has the data behind
every number.

Layout runs in a child process with a time budget: WeasyPrint can take unbounded time on
pathological input (a 50,000-character identifier), and a thread cannot be stopped. The child
is killed when the budget is spent and the caller gets a PdfUnavailable it journals; the HTML
and record.json are already complete by then.

WeasyPrint needs system libraries (Pango, HarfBuzz); where they are missing the import fails,
which is also a PdfUnavailable, never a lost run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

PDF_VARIANT = "pdf/a-3b"
DEFAULT_PDF_TIMEOUT_S = 300.0
RELATIONSHIPS = ("Source", "Data", "Alternative", "Supplement", "Unspecified")


class PdfUnavailable(RuntimeError):
    """The PDF could not be produced (WeasyPrint missing, failing or out of time); the message says why."""


@dataclass(frozen=True)
class EmbeddedFile:
    """A file embedded in the PDF as a PDF/A-3 associated file (catalog /AF, with AFRelationship)."""

    name: str
    data: bytes
    description: str
    relationship: str = "Data"
    mime: str = "application/octet-stream"

    def __post_init__(self) -> None:
        if self.relationship not in RELATIONSHIPS:
            raise ValueError(
                f"embedded file {self.name}: relationship {self.relationship!r}; "
                f"expected one of {', '.join(RELATIONSHIPS)}"
            )


def _weasyprint() -> Any:
    try:
        import weasyprint
    except Exception as exc:  # OSError when Pango/HarfBuzz are missing, ImportError when not installed
        raise PdfUnavailable(f"WeasyPrint unavailable ({type(exc).__name__}: {exc})") from exc
    return weasyprint


def _offline_fetcher(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Local files and data: URLs only; a report must render identically without a network."""
    if not (url.startswith("file:") or url.startswith("data:")):
        raise ValueError(f"network fetch refused while rendering the report: {url}")
    return _weasyprint().default_url_fetcher(url, *args, **kwargs)


def html_document(html: str, base_dir: Path) -> Any:
    """The laid-out WeasyPrint document (pages, boxes); used for the PDF and by tests."""
    wp = _weasyprint()
    try:
        return wp.HTML(string=html, base_url=str(base_dir.resolve()) + "/", url_fetcher=_offline_fetcher).render()
    except Exception as exc:
        raise PdfUnavailable(f"WeasyPrint failed to lay out the report ({type(exc).__name__}: {exc})") from exc


def render_pdf(
    html: str,
    base_dir: Path,
    *,
    embedded: Sequence[EmbeddedFile] = (),
    when: datetime | None = None,
    timeout_s: float = DEFAULT_PDF_TIMEOUT_S,
    variant: str | None = PDF_VARIANT,
) -> tuple[bytes, int]:
    """The PDF bytes and page count, laid out in a child process given at most `timeout_s` seconds.

    `when` dates the embedded files (the run's end, so the same journal gives the same PDF).
    """
    _weasyprint()  # fail fast (and in this process) when WeasyPrint cannot be imported
    if timeout_s <= 0:
        raise PdfUnavailable(f"no time budget for the PDF (timeout {timeout_s:g} s)")
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        job_dir = Path(tmp)
        (job_dir / "report.html").write_text(html, encoding="utf-8")
        files = []
        for i, f in enumerate(sorted(embedded, key=lambda e: e.name)):  # a name tree is sorted
            (job_dir / f"file-{i}").write_bytes(f.data)
            files.append(
                {
                    "path": f"file-{i}",
                    "name": f.name,
                    "description": f.description,
                    "relationship": f.relationship,
                    "mime": f.mime,
                }
            )
        job = {
            "html": "report.html",
            "base_url": str(Path(base_dir).resolve()) + "/",
            "out": "report.pdf",
            "variant": variant,
            "files": files,
            "when": when.isoformat() if when else None,
        }
        (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        cmd = [sys.executable, "-m", "bench.report.pdf_child", str(job_dir)]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "BENCH_PDF_PARENT": str(os.getpid())}
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise PdfUnavailable(
                f"PDF layout did not finish within {timeout_s:g} s and was stopped "
                "(very long identifiers or tables?); report.html and record.json are complete"
            ) from None
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
            raise PdfUnavailable(lines[-1] if lines else f"PDF renderer exited with code {proc.returncode}")
        try:
            pages = int(json.loads(proc.stdout.strip().splitlines()[-1])["pages"])
        except (ValueError, KeyError, IndexError) as exc:
            raise PdfUnavailable(f"PDF renderer gave no page count ({exc})") from None
        return (job_dir / "report.pdf").read_bytes(), pages


def write_pdf(html: str, path: Path, **options: Any) -> int:
    """Write the PDF next to the HTML (no link followed); returns the page count. See `render_pdf`."""
    from bench.signing.files import replace_in

    data, pages = render_pdf(html, path.parent, **options)
    replace_in(path.parent, path.name, data)
    return pages
