"""Keep freed numpy buffers in the heap for reuse while one analysis runs (glibc only).

The analysis makes many short-lived temporaries of tens of MB. By default glibc serves each from
a fresh mmap and unmaps it on free, so every temporary is page-faulted (and zeroed) anew, which
costs more than the arithmetic. Raising the mmap and trim thresholds for the duration lets freed
blocks be reused; on exit the defaults come back and the free memory is returned to the system.
Elsewhere (not glibc) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
DEFAULT_THRESHOLD = 128 * 1024


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, AttributeError):
        return None


@contextmanager
def reuse_freed_memory() -> Iterator[None]:
    libc = _glibc()
    if libc is None or not libc.mallopt(M_MMAP_THRESHOLD, 1 << 30):
        yield
        return
    libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD)
        libc.malloc_trim(0)
