"""Child process that lays out one report PDF (run by `bench.report.pdf.render_pdf` with a time budget).

Usage: python -m bench.report.pdf_child JOB_DIR, where JOB_DIR/job.json names the HTML, the
files to embed and the PDF variant. Prints {"pages": N} on success; on failure prints one line
to stderr and exits 1, so the parent can journal the reason.
"""

from __future__ import annotations

import json
import mimetypes
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _attachments(wp: object, job_dir: Path, job: dict) -> list:
    when = datetime.fromisoformat(job["when"]) if job.get("when") else datetime(1970, 1, 1, tzinfo=UTC)
    out = []
    for f in job["files"]:
        out.append(
            wp.Attachment(  # type: ignore[attr-defined]
                string=(job_dir / f["path"]).read_bytes(),
                name=f["name"],
                description=f["description"],
                relationship=f["relationship"],
                created=when.astimezone(UTC),
                modified=when.astimezone(UTC),
            )
        )
    return out


def _finish(document: object, pdf: Any) -> None:
    """Two fixes to what WeasyPrint writes, before the trailer.

    * Each associated file is listed twice in the catalog's /AF: keep one reference each.
    * Tagged structure elements get `/ID (<Python id() of a box>)`, which changes from run to
      run; renumber them in order so the same journal gives the same PDF bytes.
    """
    import pydyf

    catalog = pdf.catalog
    if "AF" in catalog:
        seen: list = []
        for ref in catalog["AF"]:
            if ref not in seen:
                seen.append(ref)
        catalog["AF"][:] = seen
    renumber: dict[str, str] = {}
    for obj in pdf.objects:
        if isinstance(obj, dict) and obj.get("Type") == "/StructElem" and isinstance(obj.get("ID"), pydyf.String):
            renumber.setdefault(obj["ID"].string, f"E{len(renumber) + 1}")

    def walk(value: Any) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(item, pydyf.String) and item.string in renumber:
                value[key] = pydyf.String(renumber[item.string])
            elif isinstance(item, dict | list):
                walk(item)

    for obj in pdf.objects:
        if isinstance(obj, dict | list):
            walk(obj)


def _classic_xref() -> None:
    """Write objects one by one with a classic cross-reference table, no object streams.

    Content, font and file streams stay Flate-compressed (each stream has its own flag); only
    the packing of small objects into object streams is dropped. pyHanko re-reads an object
    stream for every object in it, so validating a signed report of ~1,200 packed objects took
    minutes; with plain objects it takes seconds, and any PDF 1.4 reader can read the file.
    """
    import pydyf

    write = pydyf.PDF.write
    if getattr(write, "bench_classic", False):
        return

    def classic(self: Any, output: Any, version: Any = b"1.7", identifier: Any = False, compress: bool = False) -> Any:
        return write(self, output, version, identifier, False)

    classic.bench_classic = True  # type: ignore[attr-defined]
    pydyf.PDF.write = classic


def _die_with_parent() -> None:
    """On Linux, end this child when the process that started it dies (a killed run leaves no renderer)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = os.environ.get("BENCH_PDF_PARENT")
    if parent and parent.isdigit() and os.getppid() != int(parent):  # it died before prctl took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    _die_with_parent()
    job_dir = Path(argv[0])
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    mimetypes.add_type("application/toml", ".toml")
    mimetypes.add_type("application/json", ".json")
    from bench.report.pdf import PdfUnavailable, _offline_fetcher, _weasyprint

    try:
        wp = _weasyprint()
        _classic_xref()
        html = (job_dir / job["html"]).read_text(encoding="utf-8")
        doc = wp.HTML(string=html, base_url=job["base_url"], url_fetcher=_offline_fetcher).render()
        options = {"pdf_tags": True, "attachments": _attachments(wp, job_dir, job)}
        if job.get("variant"):
            options["pdf_variant"] = job["variant"]
        doc.write_pdf(job_dir / job["out"], finisher=_finish, **options)
    except PdfUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # one line for the journal; the parent keeps HTML and record.json
        print(f"WeasyPrint failed to write the PDF ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    print(json.dumps({"pages": len(doc.pages)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
