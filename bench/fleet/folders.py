"""Report folders in the fleet store: stored content-addressed, fetched back byte for byte.

A run's folder (`reports/<run_id>/`, and amended ones `reports/<run_id>-amend-N/`) holds
record.json, report.html/pdf, attachments, and once signed manifest.json and signatures/. Each
file is stored once by SHA-256 (chunks of 4 MiB, each checked by the server), and the folder as a
listing of relative paths with hashes and sizes. Signing after the run (a later `bench sign`)
changes the folder: the next sync stores a new listing, so `bench fleet fetch` always gives the
latest, and `bench verify` on it gives the same verdict as on the station's copy.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from bench.errors import BenchError
from bench.signing.manifest import canonical_json

if TYPE_CHECKING:
    from bench.fleet.sync import FleetSync

CHUNK = 4 << 20


class FolderError(BenchError):
    """A folder that cannot be stored, or fetched back intact."""


def folder_index(report_dir: Path) -> dict[str, list[str]]:
    """run id -> its report folders in report_dir (the run's own, then RUN_ID-amend-N), from one listing."""
    out: dict[str, list[str]] = {}
    try:
        entries = sorted(p.name for p in report_dir.iterdir() if p.is_dir())
    except FileNotFoundError:
        return out
    for name in entries:
        base, sep, number = name.rpartition("-amend-")
        run_id = base if sep and number.isdigit() else name
        out.setdefault(run_id, []).append(name)
    for names in out.values():
        names.sort(key=lambda n: n.rpartition("-amend-")[2].zfill(9) if "-amend-" in n else "")
    return out


def scan(folder: Path, previous: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Files (path, sha256, size, mtime_ns) and sub-folders; a file whose size and mtime are those
    recorded at the last sync keeps its recorded hash instead of being read again."""
    files: list[dict[str, Any]] = []
    dirs: list[str] = []
    for root, subdirs, names in os.walk(folder, followlinks=False):
        subdirs.sort()
        base = Path(root)
        for d in subdirs:
            full = base / d
            rel = full.relative_to(folder).as_posix()
            if full.is_symlink():
                raise FolderError(f"{folder}: {rel} is a symbolic link; report folders hold regular files only")
            dirs.append(rel)
        for name in sorted(names):
            full = base / name
            rel = full.relative_to(folder).as_posix()
            if full.is_symlink() or not full.is_file():
                raise FolderError(f"{folder}: {rel} is not a regular file")
            st = full.stat()
            prev = previous.get(rel)
            if prev and prev.get("size") == st.st_size and prev.get("mtime_ns") == st.st_mtime_ns:
                digest = str(prev["sha256"])
            else:
                digest = _hash_file(full)
            files.append({"path": rel, "sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return files, dirs


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def listing_digest(files: list[dict[str, Any]], dirs: list[str]) -> str:
    """Identity of a folder's content (paths, hashes, sizes; not the station's mtimes)."""
    body = {"files": [{"path": f["path"], "sha256": f["sha256"], "size": f["size"]} for f in files], "dirs": dirs}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _store_file(conn: Any, path: Path, expected: str) -> int:
    """Upload the chunks the store does not have, then the blob row; returns bytes sent."""
    sent = 0
    hashes: list[str] = []
    whole = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            whole.update(block)
            size += len(block)
            h = hashlib.sha256(block).hexdigest()
            hashes.append(h)
            with conn.transaction():
                cur = conn.execute(
                    "INSERT INTO fleet.chunks (sha256, content) VALUES (%s, %s) ON CONFLICT DO NOTHING", (h, block)
                )
                sent += len(block) if cur.rowcount else 0
    if whole.hexdigest() != expected:
        raise FolderError(
            f"{path} changed while it was being stored (being rendered or signed?); it is stored at the next sync"
        )
    with conn.transaction():
        conn.execute(
            "INSERT INTO fleet.blobs (sha256, size, chunks) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (expected, size, hashes),
        )
    return sent


def sync_folders(sync: FleetSync, run_ids: list[str]) -> None:
    conn, result = sync.conn, sync.result
    latest: dict[tuple[str, str], tuple[int, str, list[dict[str, Any]]]] = {}
    for run_id, folder, rev, digest, files in conn.execute(
        "SELECT DISTINCT ON (run_id, folder) run_id, folder, _rev, _sha256, files FROM fleet.folders "
        "WHERE _station = %s ORDER BY run_id, folder, _rev DESC",
        (sync.station,),
    ):
        latest[(run_id, folder)] = (rev, digest, files)
    index = folder_index(sync.report_dir)
    for run_id in run_ids:
        for name in index.get(run_id, []):
            sync._check_time()
            prev = latest.get((run_id, name))
            try:
                files, dirs = scan(sync.report_dir / name, {f["path"]: f for f in (prev[2] if prev else [])})
                digest = listing_digest(files, dirs)
                if prev is not None and prev[1] == digest:
                    continue
                hashes = sorted({f["sha256"] for f in files})
                have = {r[0] for r in conn.execute("SELECT sha256 FROM fleet.blobs WHERE sha256 = ANY(%s)", (hashes,))}
                for f in files:
                    if f["sha256"] not in have:
                        result.bytes += _store_file(conn, sync.report_dir / name / f["path"], f["sha256"])
                        have.add(f["sha256"])
                        result.files += 1
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO fleet.folders (run_id, folder, _rev, _station, _sha256, files, dirs) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (
                            run_id,
                            name,
                            0 if prev is None else prev[0] + 1,
                            sync.station,
                            digest,
                            Jsonb(files),
                            Jsonb(dirs),
                        ),
                    )
                result.folders += 1
            except (FolderError, OSError) as exc:
                result.problems.append(f"report folder {name}: {exc}")


# -- fetching ----------------------------------------------------------------------------------
def find_folder(conn: Any, ident: str) -> dict[str, Any]:
    """The latest listing of a folder by its name, or of a run's own folder by run id (or unique prefix)."""
    q = (
        "SELECT DISTINCT ON (run_id, folder) run_id, folder, _rev, _sha256, files, dirs, _station, _synced_at "
        "FROM fleet.folders WHERE {} ORDER BY run_id, folder, _rev DESC"
    )
    rows = conn.execute(q.format("folder = %s"), (ident,)).fetchall()
    if not rows:
        rows = [
            r
            for r in conn.execute(q.format("run_id LIKE %s"), (ident.replace("%", r"\%") + "%",)).fetchall()
            if r[1] == r[0]
        ]
    if not rows:
        raise FolderError(
            f"no report folder for {ident!r} in the fleet store (not synchronised yet, never rendered, "
            "or not visible to this database role)"
        )
    if len(rows) > 1:
        raise FolderError(f"{ident!r} matches {len(rows)} runs: " + ", ".join(r[0] for r in rows[:5]))
    keys = ("run_id", "folder", "rev", "sha256", "files", "dirs", "station", "synced_at")
    return dict(zip(keys, rows[0], strict=True))


def fetch_folder(conn: Any, ident: str, out: Path) -> dict[str, Any]:
    """Write the folder into `out` (absent or empty), every file checked against its SHA-256 and size."""
    entry = find_folder(conn, ident)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FolderError(f"{out} exists and is not an empty folder; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    for d in entry["dirs"]:
        (out / _safe(d)).mkdir(parents=True, exist_ok=True)
    for f in entry["files"]:
        target = out / _safe(f["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        row = conn.execute("SELECT size, chunks FROM fleet.blobs WHERE sha256 = %s", (f["sha256"],)).fetchone()
        if row is None:
            raise FolderError(f"{f['path']}: content {f['sha256'][:16]}… missing from the store")
        h = hashlib.sha256()
        size = 0
        tmp = target.with_name(target.name + ".part")
        with tmp.open("wb") as fh:
            for chunk_hash in row[1]:
                block = conn.execute("SELECT content FROM fleet.chunks WHERE sha256 = %s", (chunk_hash,)).fetchone()
                if block is None:
                    raise FolderError(f"{f['path']}: chunk {chunk_hash[:16]}… missing from the store")
                data = bytes(block[0])
                h.update(data)
                size += len(data)
                fh.write(data)
        if h.hexdigest() != f["sha256"] or size != f["size"]:
            tmp.unlink()
            raise FolderError(f"{f['path']}: stored content does not match its SHA-256/size; not written")
        tmp.replace(target)
        if f.get("mtime_ns"):
            os.utime(target, ns=(int(f["mtime_ns"]), int(f["mtime_ns"])))
    return entry


def _safe(rel: str) -> str:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not rel or "\\" in rel:
        raise FolderError(f"refusing to write {rel!r}: not a plain relative path inside the folder")
    return rel


def describe(entry: dict[str, Any]) -> str:
    n = len(entry["files"])
    total = sum(int(f["size"]) for f in entry["files"])
    return (
        f"run {entry['run_id']} folder {entry['folder']} (revision {entry['rev']}, from station "
        f"{entry['station']}, synchronised {entry['synced_at']:%Y-%m-%d %H:%M:%S %Z}): {n} files, {total} bytes, "
        f"listing sha256 {entry['sha256'][:16]}…"
    )
