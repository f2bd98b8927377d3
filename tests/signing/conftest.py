"""Fixtures for the signing tests: a fake run directory, in-memory signers, trust files.

Times are fixed (T0 and offsets) so verdicts never depend on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.signing.keys import Signer, generate_key
from bench.signing.trust import add_trusted_key, revoke_key

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


RECORD = '{"measurements":[{"name":"ocv_cell_01","unit":"V","value":3.6512}],"run_id":"RUN-0001"}'
LIMITS = 'id = "cell-lfp"\nversion = "1.2"\n\n[limits.ocv]\nmax = "3.65 V"\nmin = "2.50 V"\n'


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """reports/RUN-0001 with one small fake file of each artifact type."""
    d = tmp_path / "reports" / "RUN-0001"
    (d / "attachments").mkdir(parents=True)
    (d / "limits").mkdir()
    (d / "record.json").write_text(RECORD, encoding="utf-8")
    (d / "report.html").write_text("<html><body>Test Report RUN-0001</body></html>", encoding="utf-8")
    (d / "report.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n")
    (d / "attachments" / "cells.csv").write_text("t_s,v_cell_01\n0,3.6512\n1,3.6510\n", encoding="utf-8")
    (d / "attachments" / "events.csv").write_text("t_s,event\n0,start\n", encoding="utf-8")
    (d / "limits" / "cell-lfp.toml").write_text(LIMITS, encoding="utf-8")
    return d


@pytest.fixture
def limit_file(tmp_path: Path) -> Path:
    path = tmp_path / "limits" / "cell-lfp.toml"
    path.parent.mkdir(parents=True)
    path.write_text(LIMITS, encoding="utf-8")
    return path


@pytest.fixture
def make_signer():
    """Factory: an in-memory Signer with validity starting at `valid_from` (default T0)."""

    def _make(
        name: str = "Erin Engineer",
        role: str = "engineer",
        *,
        valid_from: datetime = T0,
        valid_days: int = 365,
        demo: bool = False,
    ) -> Signer:
        private, info = generate_key(name, role, valid_days=valid_days, now=valid_from, demo=demo)
        return Signer(private, info)

    return _make


@pytest.fixture
def engineer(make_signer) -> Signer:
    return make_signer("Erin Engineer", "engineer")


@pytest.fixture
def witness(make_signer) -> Signer:
    return make_signer("Walt Witness", "witness")


@pytest.fixture
def make_trust(tmp_path: Path):
    """Factory: a trust file listing `signers`, with optional (signer, revoked_at) revocations."""
    counter = {"n": 0}

    def _make(*signers: Signer, revoked: tuple[tuple[Signer, datetime], ...] = ()) -> Path:
        counter["n"] += 1
        path = tmp_path / f"trust-{counter['n']}.toml"
        for s in signers:
            add_trusted_key(path, s.info)
        for s, at in revoked:
            revoke_key(path, s.info.fingerprint, at, reason="test")
        if not path.exists():
            path.write_text('schema_version = "ess-bench-trust/1"\n', encoding="utf-8")
        return path

    return _make
