"""Real runs of the smoke plan on the simulated station with a [fleet] station: offline at the first run
end (the run passes, the failure is journalled), caught up at the next; a run signed afterwards and
fetched back from the fleet store verifies exactly as its local copy."""

from __future__ import annotations

from pathlib import Path

from fleet_helpers import ROOT, FleetDB, bench, bench_process

from bench.fleet.compare import compare
from bench.fleet.localserver import free_port
from bench.journal import Journal
from bench.signing import demo_signer, sign_run_dir
from bench.signing.trust import add_trusted_key


def station_file(path: Path, url: str) -> Path:
    path.write_text(
        f'[station]\ninclude = "{ROOT / "stations" / "sim.toml"}"\n\n'
        f'[fleet]\nurl = "{url}"\nstation_id = "smoke-ci"\nconnect_timeout = "3 s"\n',
        encoding="utf-8",
    )
    return path


def smoke(station: Path, reports: Path, dut: str) -> str:
    proc = bench_process(
        "run",
        "test_plans/smoke",
        "--station",
        str(station),
        "--limits",
        "limits/smoke_lfp.toml",
        "--dut",
        dut,
        "--report-dir",
        str(reports),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def verify_text(folder: Path, trust: Path) -> tuple[int, str]:
    proc = bench("verify", str(folder), "--trust", str(trust))
    return proc.returncode, proc.stdout.replace(str(folder), "<RUN_DIR>")


def test_offline_run_end_then_catch_up_then_fetched_copy_verifies_like_the_local_one(
    fleet: FleetDB, tmp_path: Path
) -> None:
    role = fleet.station_role("smoke-ci")
    reports = tmp_path / "reports"
    offline = station_file(tmp_path / "offline.toml", f"postgresql://{role}@127.0.0.1:{free_port()}/{fleet.name}")
    online = station_file(tmp_path / "online.toml", fleet.url(role))

    out = smoke(offline, reports, "SN-OFF")
    assert "fleet sync failed" in out
    journal = Journal(reports / "journal.sqlite")
    first = journal.runs(5)[0]
    assert first["status"] == "COMPLETED" and first["verdict"] == "PASS"  # the run stands
    assert [e["kind"] for e in journal.events(first["run_id"])][-1] == "fleet_sync"
    journal.close()

    out = smoke(online, reports, "SN-ON")
    assert "fleet sync to smoke-ci:" in out and "incomplete" not in out
    with fleet.connect() as conn:
        assert {r[0] for r in conn.execute("SELECT dut_serial FROM fleet.v_runs")} == {"SN-OFF", "SN-ON"}
        check = compare(conn, reports / "journal.sqlite")
    assert check.equal, "\n".join(check.lines())

    # the engineer signs the first run after the fact; the next sync stores the signed folder
    keys = tmp_path / "keys"
    signer = demo_signer(keys)
    trust = keys / "trust.toml"
    add_trusted_key(trust, signer.info)
    run_dir = reports / first["run_id"]
    sign_run_dir(run_dir, signer, meaning="performed the tests (demo)")
    proc = bench("sync", "--station", str(online), "--report-dir", str(reports), "--verify")
    assert proc.returncode == 0 and "EQUAL" in proc.stdout, proc.stdout + proc.stderr
    assert "report folders: 1 stored" in proc.stdout

    fetched = tmp_path / "fetched" / first["run_id"]
    proc = bench("fleet", "fetch", first["run_id"][:22], "--db", fleet.url(), "--out", str(fetched))
    assert proc.returncode == 0, proc.stderr
    local_files = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    assert sorted(p.relative_to(fetched) for p in fetched.rglob("*")) == local_files
    for rel in local_files:
        if (run_dir / rel).is_file():
            assert (fetched / rel).read_bytes() == (run_dir / rel).read_bytes(), rel
    local = verify_text(run_dir, trust)
    remote = verify_text(fetched, trust)
    assert local[0] == 0 and "RESULT: PASS" in local[1]
    assert remote == local

    # the unsigned second run: the same FAIL verdict from both copies
    second = next(p for p in reports.iterdir() if p.is_dir() and p.name != first["run_id"])
    copy = tmp_path / "fetched" / second.name
    assert bench("fleet", "fetch", second.name, "--db", fleet.url(), "--out", str(copy)).returncode == 0
    local, remote = verify_text(second, trust), verify_text(copy, trust)
    assert local[0] == 1 and "has not been signed" in local[1] and remote == local
    # and a fetch never writes into a folder that holds something
    proc = bench("fleet", "fetch", second.name, "--db", fleet.url(), "--out", str(copy))
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr
