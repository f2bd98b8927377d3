"""Benchmark: 20 station processes x 50 runs each synchronising concurrently into one PostgreSQL 15.

Shows, with figures: the journals equal the fleet (row counts and every row's digest rebuilt from
the stored values, record.json hashes); a second sync adds nothing; a sync killed mid-way (SIGKILL,
a closed laptop) resumes and ends equal; an UPDATE by a station role fails; the fleet yield of each
batch equals the station's batch summary; a signed real run fetched back verifies like its local
copy. Throughput: runs/s and rows/s of the concurrent first sync.

The server is a throwaway Debian postgresql-15 in a temporary folder, durable (fsync on) unless
--fast. Journals are built quickly through the Journal API (bench/fleet/synthetic.py: intake-like
runs with limits, grades, telemetry, record.json; report.html for every 10th run), plus a few real
runs of the smoke plan. Usage:
    .venv/bin/python benchmarks/fleet_sync.py [--stations 20] [--runs 50] [--samples 1200] [--smoke 2]
                                              [--real-batch 0] [--fast] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet.localserver import LocalPostgres, ServerUnavailable  # noqa: E402

PASSWORD = "bench-" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]


def build_station(args: tuple[Path, int, int, int, int]) -> dict[str, int]:
    """One station's journal and report folders (runs in a worker process)."""
    from bench.fleet.synthetic import StationSpec, build_journal
    from bench.journal import Journal
    from bench.report.record import build_record
    from bench.report.render import render_report
    from bench.signing.manifest import canonical_json

    folder, index, runs, samples, html_every = args
    spec = StationSpec(f"line-{index:02d}", index, 0.3 if index == 2 else 0.0, 0.004 if index == 1 else 0.0)
    ids = build_journal(folder, spec, runs, samples=samples, batch_size=10, seed=index)
    j = Journal(folder / "journal.sqlite")
    try:
        for n, run_id in enumerate(ids):
            if "DEAD" in run_id:
                continue
            if html_every and n % html_every == 0:
                render_report(j, run_id, folder / run_id, pdf=False)
            else:
                (folder / run_id).mkdir(exist_ok=True)
                (folder / run_id / "record.json").write_bytes(canonical_json(build_record(j, run_id)))
    finally:
        j.close()
    return {"runs": len(ids)}


def bench_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def sync_all(server: LocalPostgres, db: str, stations: list[tuple[str, str, Path]]) -> tuple[float, list[dict]]:
    """Every station's `bench sync` as its own process, all at once; (wall s, their JSON results)."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "sync",
                "--to",
                server.url(role, db),
                "--journal",
                str(path),
                "--station-id",
                sid,
                "--json",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sid, role, path in stations
    ]
    results = []
    for p, (sid, _, _) in zip(procs, stations, strict=True):
        out, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise SystemExit(f"sync of {sid} failed ({p.returncode}): {err or out}")
        results.append(json.loads(out))
    return time.perf_counter() - t0, results


def rows_of(r: dict) -> int:
    return sum(r["rows"].values()) + sum(r["revisions"].values()) + r["run_states"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=20)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--samples", type=int, default=1200, help="telemetry samples per run")
    ap.add_argument("--smoke", type=int, default=2, help="real smoke-plan runs added to station line-00")
    ap.add_argument("--real-batch", type=int, default=0, help="also a real module-intake batch of N modules (slow)")
    ap.add_argument("--fast", action="store_true", help="fsync off (figures then flatter the server)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (journals, reports)")
    args, _ = ap.parse_known_args()
    import psycopg

    from bench.fleet import queries
    from bench.fleet.admin import add_station
    from bench.fleet.compare import compare
    from bench.fleet.migrate import migrate

    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    server = LocalPostgres(durable=not args.fast, max_connections=args.stations + 30, database="fleet")
    try:
        server.start()
    except ServerUnavailable as exc:
        print(f"fleet_sync: skipped: {exc}")
        return 0
    figures: list[tuple[str, str]] = []
    try:
        pgpass = work / "pgpass"
        pgpass.write_text(
            f"127.0.0.1:{server.port}:*:fleet_super:{server.password}\n127.0.0.1:{server.port}:*:*:{PASSWORD}\n",
            encoding="utf-8",
        )
        pgpass.chmod(0o600)
        os.environ["PGPASSFILE"] = str(pgpass)
        os.environ["FLEET_BENCH_PW"] = PASSWORD
        admin = psycopg.connect(server.url(), autocommit=True)
        with psycopg.connect(server.url()) as conn:
            migrate(conn)
        names = [f"line-{i:02d}" for i in range(args.stations)] + ["line-cut"]
        for sid in names:
            with psycopg.connect(server.url()) as conn:
                add_station(conn, sid, "st_" + sid.replace("-", "_"), create_login=True, password_env="FLEET_BENCH_PW")
        print(
            f"server: PostgreSQL 15 at 127.0.0.1:{server.port} ({'fsync off' if args.fast else 'durable'}), "
            f"{args.stations} station roles"
        )

        t0 = time.perf_counter()
        jobs = [(work / f"line-{i:02d}", i, args.runs, args.samples, 10) for i in range(args.stations)]
        jobs.append((work / "line-cut", 99, args.runs, args.samples, 10))
        for folder, *_ in jobs:
            folder.mkdir()
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(build_station, jobs))
        build_s = time.perf_counter() - t0
        figures.append(
            ("journals built (Journal API, 2 workers)", f"{len(jobs)} x {args.runs} runs in {build_s:.1f} s")
        )
        keys = work / "keys"
        signed = None
        for k in range(args.smoke):
            proc = bench_cli(
                "run",
                "test_plans/smoke",
                "--station",
                "stations/sim.toml",
                "--limits",
                "limits/smoke_lfp.toml",
                "--dut",
                f"SN{k + 1}",
                "--report-dir",
                str(work / "line-00"),
            )
            if proc.returncode != 0:
                raise SystemExit(f"smoke run failed:\n{proc.stdout[-2000:]}")
        if args.smoke:
            from bench.journal import Journal
            from bench.signing import demo_signer, sign_run_dir
            from bench.signing.trust import add_trusted_key

            j = Journal(work / "line-00" / "journal.sqlite")
            signed = next(r["run_id"] for r in j.runs(5) if r["plan"] == "smoke")
            j.close()
            signer = demo_signer(keys)
            add_trusted_key(keys / "trust.toml", signer.info)
            sign_run_dir(work / "line-00" / signed, signer, meaning="performed the tests (demo)")
            figures.append(("real smoke runs added to line-00", f"{args.smoke} (one signed)"))

        stations = [(sid, "st_" + sid.replace("-", "_"), work / sid / "journal.sqlite") for sid in names[:-1]]
        wall, results = sync_all(server, "fleet", stations)
        runs = sum(r["new_runs"] for r in results)
        rows = sum(rows_of(r) for r in results)
        mb = sum(r["bytes"] for r in results) / 1e6
        inner = [r["elapsed_s"] for r in results]
        window = max(r["started"] + r["elapsed_s"] for r in results) - min(r["started"] for r in results)
        figures += [
            (
                "first sync, all stations at once",
                f"{runs} runs, {rows:,} rows, {mb:.1f} MB of report files from {len(stations)} processes",
            ),
            (
                "  throughput (sync window)",
                f"{runs / window:.1f} runs/s, {rows / window:,.0f} rows/s, {mb / window:.1f} MB/s over {window:.1f} s",
            ),
            (
                "  throughput (incl. process start)",
                f"{runs / wall:.1f} runs/s, {rows / wall:,.0f} rows/s over {wall:.1f} s wall",
            ),
            ("  per-station sync time", f"median {statistics.median(inner):.1f} s, max {max(inner):.1f} s"),
        ]

        t0 = time.perf_counter()
        equal = tables = 0
        totals: dict[str, list[int]] = {}
        for _, _, path in stations:
            check = compare(admin, path)
            equal += check.equal
            for t in check.tables:
                tables += 1
                acc = totals.setdefault(t.table, [0, 0])
                acc[0] += t.local
                acc[1] += t.fleet
        figures.append(
            (
                "journals equal to the fleet (every row rebuilt and digested)",
                f"{equal}/{len(stations)} stations, {time.perf_counter() - t0:.1f} s to check",
            )
        )
        figures += [
            (f"  {t}", f"journal {a:,} = fleet {b:,}" if a == b else f"journal {a:,} != fleet {b:,}")
            for t, (a, b) in totals.items()
        ]
        same = total = 0
        for sid, _, path in stations:
            listed = {
                r[0]: r[1]
                for r in admin.execute(
                    "SELECT DISTINCT ON (run_id, folder) folder, f->>'sha256' FROM fleet.folders, "
                    "jsonb_array_elements(files) f WHERE _station = %s AND f->>'path' = 'record.json' "
                    "ORDER BY run_id, folder, _rev DESC",
                    (sid,),
                )
            }
            for folder, digest in listed.items():
                total += 1
                same += hashlib.sha256((path.parent / folder / "record.json").read_bytes()).hexdigest() == digest
        figures.append(("record.json SHA-256 fleet = local", f"{same}/{total}"))

        wall2, again = sync_all(server, "fleet", stations)
        figures.append(
            (
                "second sync (nothing new)",
                f"{sum(rows_of(r) for r in again)} rows, {sum(r['files'] for r in again)} files, {wall2:.1f} s wall",
            )
        )

        cut = ("line-cut", "st_line_cut", work / "line-cut" / "journal.sqlite")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "sync",
                "--to",
                server.url(cut[1], "fleet"),
                "--journal",
                str(cut[2]),
                "--station-id",
                cut[0],
                "--batch-rows",
                "500",
                "--json",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            marks = admin.execute("SELECT count(*) FROM fleet.sync_marks WHERE _station = 'line-cut'").fetchone()[0]
            if marks >= 6:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.5)  # the server notices the dead client and rolls its open batch back
        before = sum(
            admin.execute(f"SELECT count(*) FROM fleet.{t} WHERE _station = 'line-cut'").fetchone()[0]
            for t in ("steps", "measurements", "events", "series", "attachments")
        )
        _, resumed = sync_all(server, "fleet", [cut])
        check = compare(admin, cut[2])
        local_rows = sum(t.local for t in check.tables if t.table not in ("runs", "folders"))
        figures.append(
            (
                "sync killed (SIGKILL) mid-way, then resumed",
                f"{before:,} rows in before the kill + {sum(resumed[0]['rows'].values()):,} sent on resume = "
                f"{local_rows:,} in the journal; {'EQUAL' if check.equal else 'DIFFERENT'}",
            )
        )
        alone = rows_of(resumed[0]) / resumed[0]["elapsed_s"]
        figures.append(
            (
                "  the resume alone (one process, nothing else syncing)",
                f"{rows_of(resumed[0]):,} rows in {resumed[0]['elapsed_s']:.1f} s = {alone:,.0f} rows/s",
            )
        )

        with psycopg.connect(server.url("st_line_00", "fleet")) as conn:
            try:
                conn.execute("UPDATE fleet.measurements SET value = 0")
                update = "ALLOWED (wrong!)"
            except psycopg.errors.InsufficientPrivilege as exc:
                update = f"refused: {exc.diag.message_primary}"
        figures.append(("UPDATE by a station role", update))

        from bench.batch import ModuleOutcome, _outcome_from_journal, summarise
        from bench.journal import Journal

        path = work / "line-01" / "journal.sqlite"
        j = Journal(path)
        by_batch: dict[str, set[str]] = {}
        for r in j.runs(100_000):
            if r["batch_id"]:
                by_batch.setdefault(r["batch_id"], set()).add(r["dut_serial"])
        j.close()
        cols, rows_y = queries.yield_by(admin, by="batch", station="line-01")
        fleet_y = {r[0]: dict(zip(cols, r, strict=True)) for r in rows_y}
        agree = 0
        for b, serials in by_batch.items():
            outs = []
            for s in sorted(serials):
                o = ModuleOutcome(serial=s)
                _outcome_from_journal(path, b, s, o)
                outs.append(o)
            want = summarise(b, Path(""), Path(""), outs, 0.0)
            got = fleet_y.get(b, {})
            agree += (got.get("modules"), got.get("reusable"), got.get("yield_percent")) == (
                want["modules"],
                want["reusable"],
                want["yield_percent"],
            )
        figures.append(("fleet yield = station batch summary (line-01)", f"{agree}/{len(by_batch)} batches"))

        if args.real_batch:
            figures.append(real_batch(server, args.real_batch, work, admin))

        if signed:
            out = work / "fetched" / signed
            proc = bench_cli("fleet", "fetch", signed, "--db", server.url(), "--out", str(out))
            local = bench_cli("verify", str(work / "line-00" / signed), "--trust", str(keys / "trust.toml"))
            remote = bench_cli("verify", str(out), "--trust", str(keys / "trust.toml"))
            same_v = local.stdout.replace(str(work / "line-00" / signed), "D") == remote.stdout.replace(str(out), "D")
            figures.append(
                (
                    "signed run fetched from the fleet, bench verify",
                    f"local exit {local.returncode}, fetched exit {remote.returncode}, "
                    f"{'same report' if same_v else 'DIFFERENT report'}: {remote.stdout.strip().splitlines()[-1]}",
                )
            )
        size = admin.execute("SELECT pg_size_pretty(pg_database_size('fleet'))").fetchone()[0]
        figures.append(("fleet database size", size))
        admin.close()
    finally:
        server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\nfleet_sync benchmark")
    width = max(len(k) for k, _ in figures)
    for k, v in figures:
        print(f"  {k:<{width}}  {v}")
    return 0


def real_batch(server: LocalPostgres, modules: int, work: Path, admin: object) -> tuple[str, str]:
    """A real module-intake batch (`bench run --dut-list`), synchronised; its fleet yield vs its summary file."""
    import psycopg

    from bench.fleet import queries
    from bench.fleet.admin import add_station

    profiles = ["healthy", "low_capacity", "high_resistance", "soft_short", "failed_protection", "swollen"]
    folder = work / "intake"
    folder.mkdir()
    (folder / "modules.csv").write_text(
        "serial,sim_profile,sim_seed\n"
        + "".join(f"RB-{i:02d},{profiles[i % len(profiles)]},{200 + i}\n" for i in range(modules)),
        encoding="utf-8",
    )
    proc = bench_cli(
        "run",
        "test_plans/module_intake",
        "--dut-list",
        str(folder / "modules.csv"),
        "--report-dir",
        str(folder / "reports"),
        "--jobs",
        "2",
        "--batch-id",
        "REAL-BATCH",
        timeout=3600,
    )
    summary = json.loads((folder / "reports" / "batch-REAL-BATCH.json").read_text(encoding="utf-8"))
    with psycopg.connect(server.url()) as conn:
        add_station(conn, "intake-real", "st_intake_real", create_login=True, password_env="FLEET_BENCH_PW")
    sync_all(server, "fleet", [("intake-real", "st_intake_real", folder / "reports" / "journal.sqlite")])
    cols, rows = queries.yield_by(admin, by="batch", batch="REAL-BATCH")
    got = dict(zip(cols, rows[0], strict=True)) if rows else {}
    same = (got.get("modules"), got.get("reusable"), got.get("yield_percent")) == (
        summary["modules"],
        summary["reusable"],
        summary["yield_percent"],
    )
    return (
        f"real intake batch of {modules} (exit {proc.returncode})",
        f"summary {summary['counts']} yield {summary['yield_percent']} %; fleet "
        f"{got.get('yield_percent')} % -> {'EQUAL' if same else 'DIFFERENT'}",
    )


if __name__ == "__main__":
    sys.exit(main())
