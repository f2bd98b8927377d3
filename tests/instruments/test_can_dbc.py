"""The project DBC: derived from foxBMS with identical layouts, nodes and senders, reproducible."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cantools
import pytest

from bench.clock import SimClock
from bench.units import Q_
from instruments.sim.can_foxbms import SimFoxBmsCan
from instruments.sim.plant import Plant, get_preset

DBC_DIR = Path(__file__).resolve().parents[2] / "instruments" / "dbc"
PROJECT_DBC = DBC_DIR / "ess_bench_bms.dbc"
FOXBMS_DBC = Path(__file__).resolve().parents[3] / "shared" / "data" / "foxbms" / "foxbms.dbc"
IDS = (0x210, 0x220, 0x230, 0x231, 0x232, 0x233, 0x235, 0x240, 0x250, 0x260)
needs_foxbms = pytest.mark.skipif(not FOXBMS_DBC.exists(), reason=f"unmodified foxBMS DBC not found at {FOXBMS_DBC}")


def _layout(msg: cantools.database.can.Message) -> list[tuple]:
    return sorted(
        (
            s.name,
            s.start,
            s.length,
            s.byte_order,
            s.is_signed,
            s.scale,
            s.offset,
            s.minimum,
            s.maximum,
            s.unit,
            s.is_multiplexer,
            tuple(s.multiplexer_ids or ()),
            tuple(sorted((int(k), str(v)) for k, v in (s.choices or {}).items())),
        )
        for s in msg.signals
    )


def test_project_dbc_nodes_senders_and_attribution() -> None:
    db = cantools.database.load_file(str(PROJECT_DBC), strict=True)
    assert sorted(n.name for n in db.nodes) == ["BMS", "TESTER"]
    assert sorted(m.frame_id for m in db.messages) == sorted(IDS)
    for m in db.messages:
        assert m.senders == (["TESTER"] if m.frame_id == 0x210 else ["BMS"])
        assert not m.is_extended_frame
    assert "parts of foxBMS" in PROJECT_DBC.read_text(encoding="utf-8")
    assert "BSD 3-Clause" in (DBC_DIR / "FOXBMS-LICENSE.txt").read_text(encoding="utf-8")


@needs_foxbms
def test_layouts_and_cycle_times_equal_foxbms() -> None:
    ours = cantools.database.load_file(str(PROJECT_DBC))
    fox = cantools.database.load_file(str(FOXBMS_DBC))
    for fid in IDS:
        a, b = ours.get_message_by_frame_id(fid), fox.get_message_by_frame_id(fid)
        assert (a.name, a.length, a.cycle_time) == (b.name, b.length, b.cycle_time), hex(fid)
        assert _layout(a) == _layout(b), hex(fid)


@needs_foxbms
def test_derive_reproduces_the_committed_file(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("derive_dbc", DBC_DIR / "derive.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "derived.dbc"
    assert mod.main([str(FOXBMS_DBC), "-o", str(out)]) == 0
    assert out.read_bytes() == PROJECT_DBC.read_bytes()


def test_simulator_values_stay_in_signal_ranges() -> None:
    """The node encodes with strict=False for speed; prove its clipping with strict=True here."""
    clock = SimClock(max_step=Q_(0.5, "s"))
    plant = Plant.from_config(get_preset("lfp_16s5p"), seed=5)
    clock.add_listener(lambda t, dt: plant.step(dt))
    node = SimFoxBmsCan(plant, clock, strict=True).start()
    try:
        with clock.lock:
            plant.bms.set_thresholds(ov_alarm_V=3.0)  # an ERROR state with alarms set encodes too
        clock.sleep(Q_(12, "s"))
        assert node.stats["sent"] > 100 and node.stats["send_errors"] == 0
    finally:
        node.stop()
