"""report.pdf from the same HTML, with WeasyPrint, offline.

WeasyPrint needs system libraries (Pango, HarfBuzz); where they are missing the import fails.
That must never cost the run its HTML and JSON, so the caller gets a PdfUnavailable it can
journal and print, and the report folder is still complete apart from the PDF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class PdfUnavailable(RuntimeError):
    """The PDF could not be produced (WeasyPrint missing or failing); the message says why."""


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
        return wp.HTML(
            string=html, base_url=str(base_dir.resolve()) + "/", url_fetcher=_offline_fetcher
        ).render()
    except Exception as exc:
        raise PdfUnavailable(
            f"WeasyPrint failed to lay out the report ({type(exc).__name__}: {exc})"
        ) from exc


def write_pdf(html: str, path: Path) -> int:
    """Write the PDF next to the HTML; returns the page count."""
    doc = html_document(html, path.parent)
    tmp = path.with_suffix(".pdf.part")
    try:
        doc.write_pdf(tmp)
        tmp.replace(path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise PdfUnavailable(f"WeasyPrint failed to write the PDF ({type(exc).__name__}: {exc})") from exc
    return len(doc.pages)
