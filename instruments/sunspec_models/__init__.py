"""SunSpec model definitions shipped with the bench (vendor models, SunSpec JSON format).

`add_model_definitions(dirs)` puts this directory and any given ones in front of pysunspec2's
definition path, once each, so clients and simulators decode vendor models (64xxx) from the
same files. pysunspec2's default '.' (the working directory) is dropped from the path: a stray
json/ folder in whatever directory the bench runs from must not shadow a model.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sunspec2.device as ss_device

VENDOR_MODELS_DIR = Path(__file__).resolve().parent
_lock = threading.Lock()


def add_model_definitions(dirs: list[str | Path] | None = None) -> list[str]:
    wanted = [str(Path(d).resolve()) for d in [VENDOR_MODELS_DIR, *(dirs or [])]]
    with _lock:
        path = list(ss_device.get_model_defs_path())
        missing = [d for d in wanted if d not in path]
        for d in missing:
            if not Path(d).is_dir():
                raise ValueError(f"SunSpec model definition directory {d!r} does not exist")
        if missing or "." in path:
            ss_device.set_model_defs_path(missing + [p for p in path if p != "."])
    return wanted
