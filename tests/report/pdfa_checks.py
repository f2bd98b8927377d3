"""PDF/A-3 structure checks with an independent library (pikepdf), shared by the report and signing tests.

veraPDF is not obtainable from the registries this project reaches, so these check the parts of
ISO 19005-3:2012 the bench controls: the XMP identification, an output intent with an ICC
profile, every font embedded, no encryption, associated files with their relationship, and the
tagging (structure tree, language, title).
"""

from __future__ import annotations

from pathlib import Path

import pikepdf

FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


def _fonts(pdf: pikepdf.Pdf):
    """Every font dictionary reachable from the pages (descendant fonts of Type0 included)."""
    seen: set[tuple[int, int]] = set()
    stack = []
    for page in pdf.pages:
        res = page.obj.get("/Resources")
        if res is not None and "/Font" in res:
            stack.extend(res.Font.values())
        for annot in page.obj.get("/Annots", []):
            ap = annot.get("/AP")
            if ap is not None and "/N" in ap and "/Resources" in ap.N and "/Font" in ap.N.Resources:
                stack.extend(ap.N.Resources.Font.values())
    while stack:
        font = stack.pop()
        key = font.objgen
        if key in seen and key != (0, 0):
            continue
        seen.add(key)
        yield font
        for d in font.get("/DescendantFonts", []):
            stack.append(d)


def pdfa_problems(path: Path) -> list[str]:
    """Every way the file falls short of PDF/A-3b as far as pikepdf can see; [] when none."""
    problems: list[str] = []
    pdf = pikepdf.open(path)
    if pdf.is_encrypted:
        problems.append("encrypted")
    meta = pdf.open_metadata()
    if meta.get("pdfaid:part") != "3":
        problems.append(f"XMP pdfaid:part is {meta.get('pdfaid:part')!r}, expected '3'")
    if meta.get("pdfaid:conformance") not in ("B", "U", "A"):
        problems.append(f"XMP pdfaid:conformance is {meta.get('pdfaid:conformance')!r}")
    if not meta.get("dc:title"):
        problems.append("no dc:title in XMP")
    root = pdf.Root
    if pdf.pdf_version > "1.7" or str(root.get("/Version", "/1.7")) > "/1.7":
        problems.append(f"declares PDF {root.get('/Version', pdf.pdf_version)}; PDF/A-3 is based on PDF 1.7")
    intents = root.get("/OutputIntents", [])
    icc = [i for i in intents if i.get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in i]
    if not icc:
        problems.append("no PDF/A output intent with an ICC profile")
    else:
        profile = icc[0].DestOutputProfile
        data = profile.read_bytes()
        if data[36:40] != b"acsp" or int(profile.get("/N", 0)) != 3:
            problems.append("output intent profile is not an RGB ICC profile")
    for font in _fonts(pdf):
        if font.get("/Subtype") in ("/Type0", "/Type3"):
            continue  # Type0: its descendant is checked; Type3: glyphs are content streams
        desc = font.get("/FontDescriptor")
        if desc is None or not any(k in desc for k in FONT_FILES):
            problems.append(f"font {font.get('/BaseFont')} is not embedded")
    af = {f.objgen for f in root.get("/AF", [])}
    names = pdf.attachments
    for name in names:
        spec = names[name].obj
        if "/AFRelationship" not in spec:
            problems.append(f"embedded file {name}: no AFRelationship")
        if spec.objgen not in af:
            problems.append(f"embedded file {name}: not listed in the catalog's /AF")
    if "/StructTreeRoot" not in root or not root.get("/MarkInfo", {}).get("/Marked"):
        problems.append("not a tagged PDF (no StructTreeRoot / MarkInfo Marked)")
    if not str(root.get("/Lang", "")):
        problems.append("no document language (/Lang)")
    return problems


def embedded(path: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, AFRelationship) of every embedded file."""
    pdf = pikepdf.open(path)
    out = {}
    for name in pdf.attachments:
        spec = pdf.attachments[name]
        out[name] = (spec.get_file().read_bytes(), str(spec.obj.get("/AFRelationship", "")))
    return out
