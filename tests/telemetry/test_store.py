"""The columnar store: chunks, segments, digests, summaries, recovery (no simulator involved)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bench.journal import Journal
from bench.telemetry.layout import US, Channel, GroupSpec, chunk_digest
from bench.telemetry.reader import StoreReader
from bench.telemetry.store import StoreWriter, read_wal, recover
from bench.telemetry.summary import channel_levels

LEVELS = (1.0, 10.0, 100.0)


def cells(n: int, group: str = "bms.cells") -> GroupSpec:
    return GroupSpec(
        group,
        "test",
        tuple(Channel(f"{group}.v{i}", f"v{i}", "mV", 1.0, 0.0, "int16", "cell_voltage", i, group) for i in range(n)),
    )


def poll() -> GroupSpec:
    return GroupSpec(
        "poll",
        "test",
        (
            Channel("psu.voltage", "psu.voltage", "V", 1e-4, 0.0, "int64", group="poll"),
            Channel("psu.current", "psu.current", "A", 1e-3, 0.0, "int64", group="poll"),
        ),
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    j.start_run("R")
    yield j
    j.close()


def writer(journal: Journal, tmp_path: Path, **kw) -> StoreWriter:
    return StoreWriter(tmp_path / "R", "R", journal, levels_s=LEVELS, **kw)


def test_no_sample_lost_across_chunk_segment_and_step_boundaries(journal: Journal, tmp_path: Path) -> None:
    w = writer(journal, tmp_path, segment_s=7.0)
    w.add_group(cells(4))
    w.add_group(poll(), quantize=True)
    expected: dict[str, list[tuple[int, float]]] = {}
    rng = np.random.default_rng(3)
    for k in range(2000):  # 10 Hz for 200 s: pages of one cell per frame, a poll row per frame
        t = k * 100_000
        cell = k % 4
        raw = 3300 + int(rng.integers(-5, 6))
        w.append("bms.cells", t, [raw], [cell])
        expected.setdefault(f"bms.cells.v{cell}", []).append((t, float(raw)))
        v, i = 50.0 + k * 1e-3, -20.0 + (k % 7) * 0.5
        w.append("poll", t, np.array([v, i]))
        expected.setdefault("psu.voltage", []).append((t, round(v / 1e-4) * 1e-4))
        expected.setdefault("psu.current", []).append((t, i))
        if k % 13 == 0:
            w.flush()  # chunk boundaries at odd places
        if k in (500, 1200):
            w.set_step(f"plan.py::test_{k}")
    w.close()
    assert w.stats["errors"] == 0
    segments = journal.chunks("R", kind="segment")
    assert {r["step"] for r in segments} == {None, "plan.py::test_500", "plan.py::test_1200"}
    assert len([r for r in segments if r["grp"] == "poll"]) >= 200 / 7 - 2  # cut by time too
    r = StoreReader(journal, "R")
    for name, samples in expected.items():
        t, v = r.raw(name)
        assert np.array_equal(np.round(t * US).astype(np.int64), [s[0] for s in samples]), name
        assert np.allclose(v, [s[1] for s in samples], rtol=0, atol=1e-9), name
    chunks = journal.chunks("R", kind="chunk")
    assert sum(c["rows"] for c in chunks) == 2 * 2000 and sum(c["samples"] for c in chunks) == 3 * 2000


def test_chunk_digests_and_file_hashes_in_the_journal_match_the_files(journal: Journal, tmp_path: Path) -> None:
    w = writer(journal, tmp_path)
    w.add_group(cells(3))
    for k in range(900):
        w.append("bms.cells", k * 50_000, [3000 + k % 11, 3100, 3200 - k % 5])
        if k % 100 == 99:
            w.flush()
    w.close()
    r = StoreReader(journal, "R")
    assert r.verify(deep=True) == []
    seg = journal.chunks("R", kind="segment")[0]
    table = pq.read_table(tmp_path / "R" / seg["file"])
    off = 0
    for c in journal.chunks("R", kind="chunk"):
        assert chunk_digest(table.slice(off, c["rows"])) == c["sha256"]
        off += c["rows"]
    assert off == table.num_rows == 900
    # one changed value in the Parquet file is found by both checks
    data = table.to_pydict()
    data["v0"][450] += 1
    pq.write_table(table.from_pydict(data, schema=table.schema), tmp_path / "R" / seg["file"])
    problems = r.verify(deep=True)
    assert any("SHA-256" in p for p in problems) and any("chunk 4 " in p for p in problems)


def brute(t: np.ndarray, v: np.ndarray, level_us: int) -> dict[int, tuple[float, float, float, int]]:
    out: dict[int, list[float]] = {}
    for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
        out.setdefault(ti // level_us, []).append(vi)
    return {b: (min(x), max(x), sum(x) / len(x), len(x)) for b, x in out.items()}


def test_summaries_equal_brute_force_min_max_mean(journal: Journal, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    w = writer(journal, tmp_path, segment_s=37.0)  # segments cut buckets of every level
    w.add_group(cells(2))
    t = np.cumsum(rng.integers(20_000, 180_000, 6000))  # irregular times over ~10 min
    v = (3300 + np.cumsum(rng.integers(-3, 4, (6000, 2)), axis=0)).astype(int)
    gaps = rng.random(6000) < 0.1  # cell 1 missing now and then
    for k in range(t.size):
        w.append(
            "bms.cells", int(t[k]), [int(v[k, 0])] + ([] if gaps[k] else [int(v[k, 1])]), [0] if gaps[k] else [0, 1]
        )
        if k % 97 == 0:
            w.flush()
    w.close()
    r = StoreReader(journal, "R")
    assert len(r.parts) > 5
    for ci, keep in ((0, np.ones(t.size, bool)), (1, ~gaps)):
        name = f"bms.cells.v{ci}"
        tc, vc = t[keep], v[keep, ci].astype(float)
        for level in LEVELS:
            lus = int(level * US)
            want = brute(tc, vc, lus)
            rows = []
            for p in r.parts:
                tab = p.level(lus)
                sel = tab.column("channel").to_numpy() == ci
                rows.append(tuple(tab.column(k).to_numpy()[sel] for k in ("bucket", "min", "max", "sum", "count")))
            from bench.telemetry.summary import merge

            b, mn, mx, sm, cnt = merge(rows)
            assert b.tolist() == sorted(want)
            got = {int(bb): (a, c, s / n, int(n)) for bb, a, c, s, n in zip(b, mn, mx, sm, cnt, strict=True)}
            for bb, (a, c, m, n) in want.items():
                assert got[bb][0] == a and got[bb][1] == c and got[bb][3] == n
                assert got[bb][2] == pytest.approx(m, rel=1e-12)
        for t0, t1 in ((None, None), (12.345, 301.7), (100.0, 100.5), (0.0, 599.0)):
            sel = np.ones(tc.size, bool)
            if t0 is not None:
                sel &= (tc >= round(t0 * US)) & (tc <= round(t1 * US))
            if not sel.any():
                continue
            tot = r.totals(name, t0, t1)
            assert tot["count"] == sel.sum() and tot["min"] == vc[sel].min() and tot["max"] == vc[sel].max()
            assert tot["mean"] == pytest.approx(vc[sel].mean(), rel=1e-12)
            assert tot["first"] == vc[sel][0] and tot["last"] == vc[sel][-1]


def test_envelope_reads_a_summary_level_and_keeps_every_extreme(journal: Journal, tmp_path: Path) -> None:
    w = writer(journal, tmp_path, segment_s=600.0)
    w.add_group(cells(1))
    n = 36_000  # one hour at 10 Hz
    v = np.full(n, 3300)
    v[12_345] = 3900  # a one-sample spike
    for k in range(n):
        w.append("bms.cells", k * 100_000, [int(v[k])])
        if k % 5000 == 0:
            w.flush()
    w.close()
    env = StoreReader(journal, "R").envelope("bms.cells.v0", buckets=300)
    assert env.level_s == 10.0 and env.t.size <= 300 and env.samples == n
    assert env.hi.max() == 3900 and env.lo.min() == 3300
    short = StoreReader(journal, "R").envelope("bms.cells.v0", buckets=300, t0=1000.0, t1=1100.0)
    assert short.level_s is None and short.samples == 1001  # too short for any level: raw samples


def test_levels_are_built_from_the_finer_level_exactly() -> None:
    t = np.arange(0, 5000) * 250_000
    v = np.sin(np.arange(5000) / 50.0)
    levels = channel_levels(t, v, [US, 10 * US, 100 * US])
    for (b, mn, mx, sm, n), lv in zip(levels, (1, 10, 100), strict=True):
        want = brute(t, v, lv * US)
        assert b.tolist() == sorted(want) and n.sum() == 5000
        assert np.allclose(sm / n, [want[k][2] for k in sorted(want)])
        assert np.allclose(mn, [want[k][0] for k in sorted(want)]) and np.allclose(
            mx, [want[k][1] for k in sorted(want)]
        )


def test_a_live_segment_left_by_a_kill_is_recovered_up_to_its_last_complete_chunk(
    journal: Journal, tmp_path: Path
) -> None:
    w = writer(journal, tmp_path)
    w.add_group(cells(2))
    for k in range(300):
        w.append("bms.cells", k * 100_000, [3300 + k % 3, 3301])
        if k % 50 == 49:
            w.flush()
    g = w.groups["bms.cells"]
    wal = g.segment.wal
    g.segment.file.close()  # the process dies: no end-of-stream, no conversion
    size = wal.stat().st_size
    with open(wal, "r+b") as f:  # and the last chunk was only half written
        f.truncate(size - 100)
    # chunk 5 was cut mid-write and never journalled; chunk 4 was on disk but its record never committed
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("DELETE FROM telemetry_chunks WHERE kind = 'chunk' AND idx >= 4")
    db.commit()
    db.close()
    schema, batches, truncated = read_wal(wal)
    assert truncated and len(batches) == 5
    notes: list[str] = []
    records = recover(tmp_path / "R", journal, "R", on_error=lambda m, d: notes.append(m))
    assert not wal.exists() and any(r["kind"] == "segment" and r["rows"] == 250 for r in records)
    assert any(r["kind"] == "chunk" and r["idx"] == 4 for r in records)  # journalled at recovery
    assert any("cut off" in n for n in notes) and not any("missing" in n for n in notes)
    r = StoreReader(journal, "R")
    t, v = r.raw("bms.cells.v0")
    assert t.size == 250 and np.array_equal(np.round(t * 10), np.arange(250))
    assert r.verify(deep=True) == []


def test_a_journal_of_schema_2_gains_the_chunk_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES "
        "('schema_version', '2'); CREATE TABLE runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL);"
    )
    db.close()
    j = Journal(path)
    j.add_chunk(
        "R", None, "attachments/telemetry/g/00001-run.parquet", 1, 10, 0.0, 1.0, "0" * 64, kind="segment", grp="g"
    )
    assert j.chunks("R", kind="segment")[0]["rows"] == 10
    with j.reader() as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "3"
    with pytest.raises(ValueError, match="unknown telemetry chunk field"):
        j.add_chunks("R", [{"bogus": 1}])
    j.close()
