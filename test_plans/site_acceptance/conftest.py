"""Plan-local fixtures of the site acceptance: the site as declared, and its approved configuration.

The instruments (`site`, `meter`, `stimulus`) are the bench's capability fixtures. Steps share
nothing in memory: the bench's `earlier` reads this run's earlier results back from the journal
(so a resumed run, or a step rerun after an interruption, sees what was measured), and every step
establishes its own starting state (site_ops.prepare / go_to_soc).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pint
import pytest

from bench.units import parse_quantity
from test_plans.site_acceptance.approved_config import ApprovedConfig, check_signature, load_approved
from test_plans.site_acceptance.site_ops import SiteSpec


@pytest.fixture(scope="session")
def spec(bench_session: Any) -> SiteSpec:
    """The site as declared in the station's [dut] table; every value checked, key named on error."""
    dut = bench_session.dut_info
    src = str(bench_session.station.path)

    def q(key: str, dim: str) -> pint.Quantity:
        if key not in dut:
            pytest.fail(f"{src}: [dut] {key} missing (the site's declared data)", pytrace=False)
        return parse_quantity(dut[key], source=src, key=f"dut.{key}", dimension=dim)

    blocks = dut.get("blocks")
    if not isinstance(blocks, int) or blocks < 1:
        pytest.fail(f"{src}: [dut] blocks must be a whole number >= 1, got {blocks!r}", pytrace=False)
    return SiteSpec(
        str(dut.get("serial", "")),
        q("rated_power", "power"),
        q("rated_apparent_power", "power"),
        q("rated_energy", "energy"),
        int(blocks),
    )


@pytest.fixture(scope="session")
def approved(bench_session: Any) -> ApprovedConfig:
    """The approved site configuration named by [dut] site_configuration, with its signature checked.

    Production: an unsigned or altered file stops the plan here (nothing is compared against it)."""
    station = bench_session.station
    name = bench_session.dut_info.get("site_configuration")
    if not name:
        pytest.fail(
            f"{station.path}: [dut] site_configuration (the approved, signed configuration file) missing", pytrace=False
        )
    path = Path(name) if Path(name).is_absolute() else station.path.parent / name
    cfg = load_approved(path)
    trust = station.safety.get("trust_file")
    trust_path = (station.path.parent / trust) if trust else None
    status = check_signature(cfg, production=station.production, trust=trust_path)
    bench_session.event(
        "configuration",
        f"approved configuration {path.name} (sha256 {cfg.sha256[:16]}...): {status}",
        {"file": str(path), "sha256": cfg.sha256, "signature": status, "meta": cfg.meta},
    )
    if not status.startswith("signed"):
        bench_session.event(
            "deviation",
            f"approved configuration not verified ({status}); accepted only because "
            f"station {station.name!r} is in development mode",
            {"file": str(path)},
        )
    return cfg
