"""Plan-local fixtures of the site acceptance.

`site`, `meter` and `stimulus` return the station role whose driver has that capability,
whatever the role is called. They stand in for the bench's fixture registry keyed by each
capability's `fixture` name (CONTRACTS.md): remove them once that registry is on main.

Steps share nothing in memory: `earlier` reads this run's earlier results back from the
journal (so a resumed run, or a step rerun after an interruption, sees what was measured), and
every step establishes its own starting state (site_ops.prepare / go_to_soc).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pint
import pytest

from bench.units import Q_, parse_quantity
from instruments.capabilities import PowerMeter, SiteController, Stimulus
from test_plans.site_acceptance.approved_config import ApprovedConfig, check_signature, load_approved
from test_plans.site_acceptance.site_ops import SiteSpec


def _by_capability(bench_session: Any, cls: type, what: str) -> Any:
    found = [inst for inst in bench_session.instruments.values() if isinstance(inst, cls)]
    if not found:
        have = ", ".join(f"{n} ({type(i).__name__})" for n, i in bench_session.instruments.items()) or "none"
        pytest.fail(f"this step needs a {what} ({cls.__name__}); station {bench_session.station.name!r} has: {have}",
                    pytrace=False)
    inst = found[0]
    hook = getattr(inst, "attach_journal", None)
    if callable(hook) and not getattr(inst, "_journal_attached", False):
        hook(bench_session.event)  # retries, FC06 fall-back and re-connections go to the journal
        inst._journal_attached = True
    return inst


@pytest.fixture
def site(bench_session: Any) -> SiteController:
    return _by_capability(bench_session, SiteController, "site controller")


@pytest.fixture
def meter(bench_session: Any) -> PowerMeter:
    return _by_capability(bench_session, PowerMeter, "site meter")


@pytest.fixture
def stimulus(bench_session: Any) -> Stimulus:
    return _by_capability(bench_session, Stimulus, "stimulus (HIL or operator) backend")


@pytest.fixture
def attach(bench_session: Any) -> Any:
    """Journal an attachment (plots, tables) for this run; it lands in the report folder."""

    def _attach(name: str, content: bytes, kind: str) -> None:
        bench_session.journal.add_attachment(bench_session.run_id, name, content, kind=kind,
                                             step=bench_session.recorder.step.nodeid)

    return _attach


@pytest.fixture
def earlier(bench_session: Any) -> Any:
    """`earlier(name)` -> this run's recorded values of a measurement, oldest first, with their notes."""

    def _earlier(name: str) -> list[tuple[pint.Quantity, str]]:
        rows = bench_session.journal.measurements(bench_session.run_id)
        return [(Q_(r["value"], r["unit"] or ""), r.get("note") or "") for r in rows if r["name"] == name]

    return _earlier


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
    return SiteSpec(str(dut.get("serial", "")), q("rated_power", "power"), q("rated_apparent_power", "power"),
                    q("rated_energy", "energy"), int(blocks))


@pytest.fixture(scope="session")
def approved(bench_session: Any) -> ApprovedConfig:
    """The approved site configuration named by [dut] site_configuration, with its signature checked.

    Production: an unsigned or altered file stops the plan here (nothing is compared against it)."""
    station = bench_session.station
    name = bench_session.dut_info.get("site_configuration")
    if not name:
        pytest.fail(f"{station.path}: [dut] site_configuration (the approved, signed configuration file) missing",
                    pytrace=False)
    path = Path(name) if Path(name).is_absolute() else station.path.parent / name
    cfg = load_approved(path)
    trust = station.safety.get("trust_file")
    trust_path = (station.path.parent / trust) if trust else None
    status = check_signature(cfg, production=station.production, trust=trust_path)
    bench_session.event("configuration", f"approved configuration {path.name} (sha256 {cfg.sha256[:16]}...): {status}",
                        {"file": str(path), "sha256": cfg.sha256, "signature": status, "meta": cfg.meta})
    if not status.startswith("signed"):
        bench_session.event("deviation", f"approved configuration not verified ({status}); accepted only because "
                                         f"station {station.name!r} is in development mode", {"file": str(path)})
    return cfg
