"""Which files an analysis read, so an auditor can tell later whether the evidence is the same.

Every input is listed with its size, modification time and row count. With `hash_files` each
file's SHA-256 is added, plus one digest over the sorted (name, SHA-256) pairs for the whole
set. Hashing reads every byte again (about 2.5 s per GB here), so it is asked for, not default.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from bench.analyze.loading import FileInfo
from bench.analyze.progress import SILENT, Progress


def describe(files: list[FileInfo], *, hash_files: bool = False, progress: Progress = SILENT) -> dict[str, object]:
    """{"files": [{path, bytes, modified, rows, empty, sha256}], "total_bytes", "set_sha256"}."""
    rows = []
    if hash_files:
        # the signing layer's chunked hash, imported only when asked for
        from bench.signing.manifest import sha256_file

        progress.phase(f"hashing {len(files)} input file(s) (SHA-256)")
    for k, f in enumerate(files):
        st = f.path.stat()
        digest = sha256_file(f.path)[0] if hash_files else None
        rows.append(
            {
                "path": str(f.path),
                "bytes": st.st_size,
                "modified": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds"),
                "rows": f.rows,
                "empty": f.empty,
                "sha256": digest,
            }
        )
        if hash_files:
            progress.update(f"{k + 1:,} of {len(files):,} files hashed")
    set_digest = None
    if hash_files:
        h = hashlib.sha256()
        for r in sorted(rows, key=lambda r: r["path"]):
            h.update(f"{r['path']}\t{r['sha256']}\n".encode())
        set_digest = h.hexdigest()
    return {"files": rows, "total_bytes": sum(r["bytes"] for r in rows), "set_sha256": set_digest}
