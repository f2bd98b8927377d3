"""The report draws captured channels from the summaries, shows anomaly flags, and converts a live
segment a killed run left before hashing anything."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bench.journal import ABORTED, Journal
from bench.report.render import render_report
from bench.telemetry.layout import Channel, GroupSpec
from bench.telemetry.store import StoreWriter

HOUR_AT_10HZ = 36_000


def build(tmp_path: Path, *, close: bool = True) -> tuple[Journal, str]:
    j = Journal(tmp_path / "journal.sqlite")
    run_id = "RUN-CAPTURE"
    j.start_run(run_id, plan="p", station="s", station_json={"name": "s", "roles": {}}, dut_serial="D", limits_json=[])
    j.add_event(
        run_id,
        "telemetry",
        "high-rate capture started",
        data={
            "can_roles": ["bms_can"],
            "csv": False,
            "rate_hz": 10.0,
            "flush_s": 0.5,
            "channels": [],
            "utc_anchor": "x",
        },
    )
    w = StoreWriter(tmp_path / run_id, run_id, j, segment_s=900.0)
    spec = GroupSpec(
        "bms_can.f_CellVoltages",
        "CAN",
        tuple(
            Channel(
                f"bms_can.CellVoltage_{i:03d}",
                f"CellVoltage_{i:03d}",
                "mV",
                1.0,
                0.0,
                "int16",
                "cell_voltage",
                i,
                "bms_can.f_CellVoltages",
            )
            for i in range(4)
        ),
    )
    w.add_group(spec)
    rng = np.random.default_rng(4)
    for k in range(HOUR_AT_10HZ):
        v = 3300 + rng.integers(-2, 3, 4)
        if k == 20_000:
            v[2] = 2500  # one low sample on cell 2
        w.append("bms_can.f_CellVoltages", k * 100_000, v.tolist())
        if k % 5000 == 0:
            w.flush()
    if close:
        w.close()
        j.end_run(run_id, "COMPLETED", "PASS")
    else:  # killed: the live segment stays behind, never converted
        w.flush()
        # A kill also stops the compactor thread; in this process it keeps running, so let it finish
        # the segments closed before the "kill" first, or it would convert one at the same time as the
        # report's recovery (a race no killed process has) and the samples would be counted twice.
        w.wait_compacted()
        w.groups["bms_can.f_CellVoltages"].segment.file.close()
    j.add_event(
        run_id,
        "anomaly",
        "cell 2 voltage deviates",
        data={
            "detector": "deviation",
            "family": "cell_voltage",
            "cell": 2,
            "channel": "bms_can.CellVoltage_002",
            "t_onset": 1995.0,
        },
        t=2000.0,
    )
    return j, run_id


def test_captured_plots_come_from_summaries_and_keep_the_extremes(tmp_path: Path) -> None:
    j, run_id = build(tmp_path)
    result = render_report(j, run_id, tmp_path / run_id, pdf=False)
    html = result.html.read_text()
    fig = re.search(r"<figcaption>bms_can cell voltages \(4 cells\).*?</figcaption>(<svg.*?</svg>)", html, re.S)
    assert fig is not None and "flagged: cell 2" in html
    assert "deviation cell 2" in fig.group(1)  # the flag is marked on the plot
    points = sum(len(p.split()) for p in re.findall(r'points="([^"]*)"', fig.group(1)))
    assert points < 8000  # O(plot width), not O(samples): 144,000 samples behind it
    record = json.loads((result.out_dir / "record.json").read_text())
    ch = next(c for c in record["telemetry"]["channels"] if c["name"] == "bms_can.CellVoltage_002")
    assert ch["min"] == 2500.0 and ch["samples"] == HOUR_AT_10HZ
    assert record["telemetry"]["anomalies"][0]["cell"] == 2 and record["telemetry"]["integrity"] == []
    assert "(4 cells) [mV]: range and mean across cells, 1 s summaries; flagged: cell 2" in html
    # the low sample survives into the band drawn from the 1 s summaries
    ys = [
        float(xy.split(",")[1]) for p in re.findall(r'<polygon[^>]*points="([^"]*)"', fig.group(1)) for xy in p.split()
    ]
    assert max(ys) > 200  # far below the 3.3 V band: the 2.5 V sample is drawn


def test_a_killed_runs_live_segment_is_converted_before_the_report_hashes_files(tmp_path: Path) -> None:
    j, run_id = build(tmp_path, close=False)
    assert (tmp_path / run_id / "telemetry-wal").exists()
    j.mark_aborted(run_id, "killed")
    assert j.run(run_id)["status"] == ABORTED
    result = render_report(j, run_id, tmp_path / run_id, pdf=False)
    record = json.loads((result.out_dir / "record.json").read_text())
    assert not (tmp_path / run_id / "telemetry-wal").exists()
    tm = record["telemetry"]
    assert any("interrupted run" in n for n in tm["notes"]) and tm["integrity"] == []
    assert sum(c["samples"] for c in tm["channels"]) == 4 * HOUR_AT_10HZ


def test_a_changed_parquet_file_is_reported(tmp_path: Path) -> None:
    j, run_id = build(tmp_path)
    seg = j.chunks(run_id, kind="segment")[0]
    path = tmp_path / run_id / seg["file"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    result = render_report(j, run_id, tmp_path / "out", pdf=False)
    record = json.loads((result.out_dir / "record.json").read_text())
    assert any(seg["file"] in p and "SHA-256" in p for p in record["telemetry"]["integrity"])
    assert "Integrity problems" in result.html.read_text()
    assert record["telemetry"]["channels"][0]["samples"] < HOUR_AT_10HZ  # the changed file is not read
