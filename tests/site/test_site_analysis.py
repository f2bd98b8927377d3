"""The site plan's computations and its approved-configuration handling, on made-up data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.signing.errors import LimitSetSignatureError
from bench.signing.keys import Signer, generate_key
from bench.signing.signer import sign_limit_set
from bench.signing.trust import add_trusted_key
from bench.units import Q_
from test_plans.site_acceptance.analysis import rte, step_response, tracking
from test_plans.site_acceptance.approved_config import check_signature, compare, load_approved

ROOT = Path(__file__).resolve().parents[2]


def _ramp(t_cmd, delay, rate_w_s, p0, p1, overshoot=0.0, t_end=30.0, dt=0.1):
    ts, ps = [], []
    for i in range(int(t_end / dt) + 1):
        t = i * dt
        if t < t_cmd + delay:
            p = p0
        else:
            p = p0 + (1 if p1 > p0 else -1) * rate_w_s * (t - t_cmd - delay)
            if (p1 - p0) * (p - p1) >= 0:
                p = p1 + overshoot * (p1 - p0)
        ts.append(t)
        ps.append(p)
    return ts, ps


def test_step_response_delay_rise_settling_and_ramp_of_a_linear_ramp():
    ts, ps = _ramp(1.0, 0.5, 30e3, 0.0, 150e3)
    r = step_response(ts, ps, 1.0, 0.0, 150e3, band_w=3e3, rated_w=150e3)
    assert r.delay_s == pytest.approx(0.5 + 0.5, abs=0.11)  # latency + 10 % of 150 kW at 30 kW/s
    assert r.rise_s == pytest.approx(4.0, abs=0.11)
    assert r.ramp_pct_per_s == pytest.approx(20.0, rel=0.03)
    assert r.settling_s == pytest.approx(0.5 + 4.9, abs=0.11)
    assert r.overshoot_pct == 0.0 and r.reached


def test_step_response_reports_overshoot_and_a_step_that_never_settles():
    ts, ps = _ramp(0.0, 0.2, 60e3, 150e3, -150e3, overshoot=0.04)
    r = step_response(ts, ps, 0.0, 150e3, -150e3, band_w=3e3, rated_w=150e3)
    assert r.overshoot_pct == pytest.approx(4.0, abs=0.01)
    assert r.settling_s == pytest.approx(ts[-1])  # 4 % overshoot never comes back into the 2 % band
    with pytest.raises(ValueError):
        step_response(ts, ps, 0.0, 1.0, 1.0, band_w=1.0, rated_w=1.0)


def test_tracking_counts_unmet_intervals_and_energy_of_active_intervals_only():
    req = [0.0, 50e3, 50e3, -50e3]
    got = [-250.0, 50e3, 30e3, -50e3]  # the third interval ends 40 % short
    req_j = [0.0, 50e3 * 900, 50e3 * 900, -50e3 * 900]
    got_j = [-250.0 * 900, 49e3 * 900, 40e3 * 900, -50e3 * 900]
    t = tracking(req, got, req_j, got_j, 150e3, unmet_tolerance=0.2, active_threshold=0.05)
    assert t.unmet == 1 and t.intervals == 4
    assert t.max_pct == pytest.approx(20e3 / 150e3 * 100)
    assert t.requested_kwh == pytest.approx(37.5) and t.delivered_kwh == pytest.approx(34.75)


def test_rte_with_auxiliaries_adds_them_to_the_charge_side():
    assert rte([90.0, 90.0], [100.0, 100.0]) == pytest.approx(0.9)
    assert rte([90.0, 90.0], [100.0, 100.0], [10.0, 10.0]) == pytest.approx(180.0 / 220.0)
    with pytest.raises(ValueError):
        rte([1.0], [0.0])


def test_approved_configuration_compares_within_tolerance_and_names_differences():
    cfg = load_approved(ROOT / "stations" / "site_configs" / "sim_site_approved.toml")
    assert cfg.firmware_for("bms[2]") == "1.8.0"
    assert compare(cfg.points["702.WMax"], Q_(150000.0, "W"), None)[0]
    same, text = compare(cfg.points["64901.HvacSetpt"], Q_(23.0, "degC"), cfg.tolerance["64901.HvacSetpt"])
    assert not same and "23.0" in text
    assert compare(cfg.points["64901.AlmDly"], None, None) == (False, "device: not implemented")


def test_approved_configuration_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "cfg.toml"
    bad.write_text('[points]\n"WMax" = "150 kW"\n')
    with pytest.raises(ConfigError, match="points.WMax"):
        load_approved(bad)
    bad.write_text('[points]\n"702.WMax" = "150 kilowombats"\n')
    with pytest.raises(ConfigError, match="points.702.WMax"):
        load_approved(bad)


def _signed_copy(tmp_path: Path) -> tuple[Path, Path]:
    private, info = generate_key("Owen Owner", "engineer")
    cfg = tmp_path / "approved.toml"
    cfg.write_bytes((ROOT / "stations" / "site_configs" / "sim_site_approved.toml").read_bytes())
    trust = tmp_path / "trust.toml"
    add_trusted_key(trust, info)
    sign_limit_set(cfg, Signer(private, info))
    return cfg, trust


def test_production_refuses_an_unsigned_or_altered_approved_configuration(tmp_path):
    cfg, trust = _signed_copy(tmp_path)
    assert check_signature(load_approved(cfg), production=True, trust=trust).startswith("signed by Owen Owner")
    cfg.write_text(cfg.read_text().replace('"702.WMax" = "150 kW"', '"702.WMax" = "160 kW"'))
    with pytest.raises(LimitSetSignatureError, match="CHANGED"):
        check_signature(load_approved(cfg), production=True, trust=trust)
    unsigned = tmp_path / "unsigned.toml"
    unsigned.write_bytes(cfg.read_bytes())
    with pytest.raises(LimitSetSignatureError, match="not signed"):
        check_signature(load_approved(unsigned), production=True, trust=trust)
    # development mode records the status and goes on
    assert check_signature(load_approved(unsigned), production=False, trust=trust).startswith("NOT VERIFIED")
