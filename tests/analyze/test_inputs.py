"""The analysis lists the files it read (size, time, rows) and, on request, their SHA-256."""

from __future__ import annotations

import hashlib
import json

from bench.analyze import analyze_bms_log
from bench.analyze.synthetic import write_daily
from bench.cli import main


def test_inputs_are_listed_and_hashed_on_request(small_log, tmp_path):
    """An auditor can tell later whether the evidence is the same files: sizes always, SHA-256 with --hash-inputs."""
    paths = write_daily(small_log.frame, tmp_path / "logs")
    plain = analyze_bms_log([tmp_path / "logs"])
    assert [f["path"] for f in plain.input_files["files"]] == [str(p) for p in paths]
    assert all(f["sha256"] is None for f in plain.input_files["files"]) and plain.input_files["set_sha256"] is None
    assert plain.input_files["total_bytes"] == sum(p.stat().st_size for p in paths)
    hashed = analyze_bms_log([tmp_path / "logs"], hash_inputs=True)
    assert [f["sha256"] for f in hashed.input_files["files"]] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in paths
    ]
    assert [f["rows"] for f in hashed.input_files["files"]] == [1440] * 5
    first = hashed.input_files["set_sha256"]
    paths[2].write_text(paths[2].read_text().replace(",", ",", 1) + "\n")  # one more (empty) line
    assert analyze_bms_log([tmp_path / "logs"], hash_inputs=True).input_files["set_sha256"] != first
    out = tmp_path / "out"
    assert main(["analyze", "bms-log", str(tmp_path / "logs"), "--out", str(out), "--quiet", "--hash-inputs"]) == 0
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert len(data["input_files"]["files"]) == 5 and len(data["input_files"]["set_sha256"]) == 64
    assert data["input_files"]["set_sha256"] in (out / "report.html").read_text(encoding="utf-8")
