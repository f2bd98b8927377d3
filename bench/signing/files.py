"""Reading and writing inside a run folder without following links, and bounded JSON parsing.

A run folder is evidence: what `bench sign` hashes, what `bench report` writes and what
`bench verify` reads must be the folder's own regular files. So, below the folder the caller
names (which may itself be reached through a link, e.g. `reports/` on another disk):

  * every path component is opened relative to its parent's descriptor with O_NOFOLLOW, so a
    planted symbolic link (`manifest.json -> /etc/passwd`, `signatures -> /tmp/x`) is refused,
    never followed, for reading and for writing;
  * only regular files are read: a FIFO, a device or a directory where a file is expected is
    refused at once (files are opened O_NONBLOCK, so a FIFO cannot hang the open);
  * small control files (manifest, signatures, sidecars, key and trust files) are read up to a
    stated cap, so `manifest.json -> /dev/zero` or a 10 GB file cannot exhaust memory;
  * JSON is parsed with a nesting limit, so a deeply nested document is a named error, not a
    RecursionError traceback.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from bench.signing.errors import SigningError

T = TypeVar("T")
KiB = 1024
MiB = 1024 * KiB
MANIFEST_MAX = 32 * MiB  # ~200,000 artifact entries
SIGNATURE_MAX = 1 * MiB
SIDECAR_MAX = 4 * MiB
KEY_FILE_MAX = 1 * MiB
TRUST_FILE_MAX = 4 * MiB
LIMIT_SET_MAX = 16 * MiB
JSON_MAX_DEPTH = 64
MAX_FOLDER_DEPTH = 32
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeFileError(SigningError):
    """A path in a run folder is a symbolic link or not a regular file/folder; it is never followed."""


class FileTooLargeError(SigningError):
    """A control file (manifest, signature, sidecar, key, trust file) is larger than its cap."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _parts(rel: str) -> list[str]:
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or any(p in ("..", ".") for p in pure.parts) or "\\" in rel:
        raise SigningError(f"{rel!r}: expected a plain relative path inside the run folder")
    return list(pure.parts)


def _explain(err: OSError, shown: str, expected: str) -> SigningError:
    if err.errno in (errno.ELOOP, errno.EMLINK):
        return UnsafeFileError(f"{shown}: is a symbolic link; refused (nothing inside a run folder is followed)")
    if err.errno == errno.ENOTDIR:
        return UnsafeFileError(f"{shown}: a path component is not a directory (or is a link); expected {expected}")
    if err.errno == errno.EISDIR:
        return UnsafeFileError(f"{shown}: is a directory; expected {expected}")
    if err.errno == errno.ENOENT:
        return SigningError(f"{shown}: not found; expected {expected}")
    return SigningError(f"{shown}: cannot open: {err.strerror}")


def open_root(root: Path) -> int:
    """Descriptor of the run folder itself (the caller's path may go through links; nothing below may)."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise _explain(err, str(root), "a run folder") from None
    return fd


@contextmanager
def dir_fd(root: Path, rel: str = "", *, create: bool = False) -> Iterator[int]:
    """Descriptor of `root/rel`, each component opened without following links (created if asked)."""
    fd = open_root(root)
    try:
        for part in _parts(rel) if rel else []:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as err:
                    raise _explain(err, str(root / rel), "a folder") from None
            try:
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                raise _explain(err, str(root / rel), "a folder") from None
            os.close(fd)
            fd = sub
        yield fd
    finally:
        os.close(fd)


def _open_regular(parent: int, name: str, shown: str, expected: str) -> int:
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
    except OSError as err:
        raise _explain(err, shown, expected) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafeFileError(f"{shown}: is {_kind(st.st_mode)}; expected {expected} (a regular file)")
    os.set_blocking(fd, True)
    return fd


def _read_fd(fd: int, limit: int | None, shown: str, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if limit is not None and size > limit:
            raise FileTooLargeError(f"{shown}: larger than {limit:,} bytes, the most a {what} may be; refused")
        chunks.append(chunk)


def read_in(root: Path, rel: str, *, limit: int | None, what: str) -> bytes:
    """Bytes of the regular file `root/rel`, opened without following any link below `root`."""
    parts = _parts(rel)
    shown = str(Path(root) / rel)
    with dir_fd(Path(root), "/".join(parts[:-1])) as parent:
        fd = _open_regular(parent, parts[-1], shown, what)
        try:
            return _read_fd(fd, limit, shown, what)
        finally:
            os.close(fd)


def read_file(path: Path, *, limit: int, what: str) -> bytes:
    """A standalone control file (trust file, key file, sidecar): regular files only, size capped.

    The path itself may be a link (an auditor's `trust.toml -> ...` is their business), but a FIFO,
    a device or a directory is refused at once and nothing larger than `limit` is read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ENOENT:
            raise FileNotFoundError(err.errno, err.strerror, str(path)) from None
        raise _explain(err, str(path), what) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{path}: is {_kind(st.st_mode)}; expected {what} (a regular file)")
        os.set_blocking(fd, True)
        return _read_fd(fd, limit, str(path), what)
    finally:
        os.close(fd)


def list_dir(root: Path, rel: str) -> list[tuple[str, str]]:
    """(name, kind) of the entries of `root/rel` (kind: file, dir, link, other); [] if it is absent."""
    if not os.path.lexists(Path(root) / rel):
        return []
    out = []
    with dir_fd(Path(root), rel) as fd, os.scandir(fd) as it:
        for entry in it:
            if entry.is_symlink():
                kind = "link"
            elif entry.is_dir(follow_symlinks=False):
                kind = "dir"
            elif entry.is_file(follow_symlinks=False):
                kind = "file"
            else:
                kind = "other"
            out.append((entry.name, kind))
    return sorted(out)


def walk_files(root: Path, skip: set[str]) -> Iterator[tuple[str, int, int]]:
    """(relative POSIX path, parent dir fd, name) of every regular file below `root`, sorted.

    Links and special files raise UnsafeFileError naming them; `skip` holds top-level names
    (manifest.json, signatures) that are not artifacts.
    """
    root = Path(root)

    def walk(fd: int, prefix: str, depth: int) -> Iterator[tuple[str, int, int]]:
        if depth > MAX_FOLDER_DEPTH:
            raise SigningError(f"{root / prefix}: folders nested deeper than {MAX_FOLDER_DEPTH}; refused")
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if not prefix and entry.name in skip:
                continue
            if entry.is_symlink():
                raise UnsafeFileError(f"{root}: {rel} is a symbolic link; expected regular files only")
            if entry.is_dir(follow_symlinks=False):
                try:
                    sub = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    raise _explain(err, str(root / rel), "a folder") from None
                try:
                    yield from walk(sub, rel + "/", depth + 1)
                finally:
                    os.close(sub)
            elif entry.is_file(follow_symlinks=False):
                yield rel, fd, entry.name  # type: ignore[misc]
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
                raise UnsafeFileError(f"{root}: {rel} is {_kind(mode)}; expected regular files only")

    with dir_fd(root) as top:
        yield from walk(top, "", 0)


def hash_at(parent: int, name: str, shown: str) -> tuple[str, int]:
    """SHA-256 hex and size of a regular file opened relative to `parent` without following links."""
    fd = _open_regular(parent, name, shown, "an artifact file")
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest(), size


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


def write_new_in(root: Path, rel: str, data: bytes, *, mode: int = 0o644) -> Path:
    """Create `root/rel` (never replacing anything: append-only files such as signatures)."""
    parts = _parts(rel)
    shown = Path(root) / rel
    with dir_fd(Path(root), "/".join(parts[:-1]), create=True) as parent:
        try:
            fd = os.open(
                parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent
            )
        except FileExistsError:
            raise SigningError(f"{shown}: already exists; refusing to overwrite it") from None
        except OSError as err:
            raise _explain(err, str(shown), "a new file") from None
        try:
            _write_fd(fd, data)
        finally:
            os.close(fd)
    return shown


@contextmanager
def _replacing(root: Path, rel: str, mode: int) -> Iterator[tuple[int, str, int]]:
    """(parent dir fd, temporary name, its open fd): renamed over `rel` on success, removed otherwise.

    `rel` may not be a link or special file; the temporary file is created fresh (O_EXCL, no link
    followed) in the checked folder, and the rename replaces a directory entry, never a link's target.
    """
    parts = _parts(rel)
    shown = Path(root) / rel
    name = parts[-1]
    with dir_fd(Path(root), "/".join(parts[:-1]), create=True) as parent:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{shown}: is {_kind(st.st_mode)}; refusing to write through or over it")
        tmp = f".{name}.{os.getpid()}.part"
        try:
            os.unlink(tmp, dir_fd=parent)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
        except OSError as err:
            raise _explain(err, str(shown), "a file it can write") from None
        try:
            try:
                yield parent, tmp, fd
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=parent)
            except OSError:
                pass
            raise


def replace_in(root: Path, rel: str, data: bytes, *, mode: int = 0o644) -> Path:
    """Write `root/rel` atomically (temporary file, then rename); a link or special file there is refused.

    Nothing outside the folder can be written through a planted link.
    """
    with _replacing(Path(root), rel, mode) as (_parent, _tmp, fd):
        _write_fd(fd, data)
    return Path(root) / rel


def replace_with(root: Path, rel: str, writer: Callable[[Path], T]) -> T:
    """Like `replace_in` for a large file written by a library that wants a path (telemetry CSV).

    The library writes to the fresh temporary file inside the checked folder; it is then renamed
    over `rel`.
    """
    parts = _parts(rel)
    with _replacing(Path(root), rel, 0o644) as (_parent, tmp, _fd):
        result = writer(Path(root, *parts[:-1], tmp))
    return result


def remove_in(root: Path, rel: str) -> None:
    """Remove the regular file `root/rel` if present; a link or special file there is refused, as for
    writing (something planted in a run folder is reported, not silently tidied away)."""
    parts = _parts(rel)
    if not os.path.lexists(Path(root, *parts[:-1])):
        return  # no folder, so nothing to remove (a link in its place is still refused by dir_fd)
    with dir_fd(Path(root), "/".join(parts[:-1])) as parent:
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{Path(root) / rel}: is {_kind(st.st_mode)}; refusing to remove or replace it")
        os.unlink(parts[-1], dir_fd=parent)


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def load_json(raw: bytes, *, where: str, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON, refusing nesting deeper than `max_depth` with an error naming `where`."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise SigningError(f"{where}: JSON nested too deeply (limit {max_depth} levels); refused") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SigningError(f"{where}: not valid UTF-8 JSON: {exc}") from None
    if not _depth_ok(data, max_depth):
        raise SigningError(f"{where}: JSON nested too deeply (limit {max_depth} levels); refused")
    return data
