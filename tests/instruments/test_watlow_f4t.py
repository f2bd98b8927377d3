"""Watlow F4T / F4 driver against the simulated controller over Modbus TCP, in virtual time."""

from __future__ import annotations

import pytest
from modbus_fixtures import SimBench, bench, role  # noqa: F401

from bench.units import Q_
from instruments.errors import InstrumentError, InstrumentRangeError
from instruments.sim.modbus_f4t import serve
from instruments.transports.modbus import ModbusExceptionError
from instruments.watlow_f4t import WatlowF4, WatlowF4T


def _open(b: SimBench, personality: str = "f4t") -> tuple[WatlowF4T, object]:
    server = b.serve(serve, role("chamber", "instruments.watlow_f4t:WatlowF4T", personality=personality))
    drv = WatlowF4T(server.resource, name="chamber", timeout=Q_(1, "s"), personality=personality)
    return drv, server


def test_f4t_reads_and_range(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    assert d.identity().startswith("Watlow,F4T,loop 1,127.0.0.1:")
    assert d.temperature().to("degC").magnitude == pytest.approx(25.0, abs=0.01)
    lo, hi = d.range()
    assert (lo.magnitude, hi.magnitude) == (-40.0, 150.0)
    assert not d.running() and d.loop_mode() == "off"
    d.close()


def test_f4t_setpoint_checked_before_writing_and_device_refusals(bench: SimBench) -> None:  # noqa: F811
    d, server = _open(bench)
    d.set_setpoint(Q_(60, "degC"))
    assert d.setpoint().magnitude == pytest.approx(60.0)
    assert bench.plant.chamber.setpoint_degC == pytest.approx(60.0)
    writes = len(server.regmap.writes)
    with pytest.raises(InstrumentRangeError, match="outside the controller range"):
        d.set_setpoint(Q_(200, "degC"))
    with pytest.raises(InstrumentRangeError):
        d.set_setpoint(Q_(3, "V"))
    assert len(server.regmap.writes) == writes  # nothing was sent
    with pytest.raises(ModbusExceptionError) as e3:  # bypass the driver's check: the device says 3
        d.bus.write_float(2782, 500.0)
    assert e3.value.code == 3 and "register 2782" in str(e3.value)
    with pytest.raises(ModbusExceptionError) as e2:  # PV is read-only
        d.bus.write_float(2820, 1.0)
    assert e2.value.code == 2 and "register 2820" in str(e2.value)
    with pytest.raises(ModbusExceptionError) as eu:  # unmapped
        d.bus.read_holding(3000, 2)
    assert eu.value.code == 2
    d.close()


def test_f4t_ramp_moves_pv_at_rate_in_virtual_time(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    d.set_ramp_rate(Q_(2, "delta_degC/min"))
    assert d.ramp_rate().magnitude == pytest.approx(2.0)
    d.set_running(True)
    assert bench.plant.chamber.running and d.loop_mode() == "auto"
    d.set_setpoint(Q_(45, "degC"))
    bench.advance(300)
    assert d.working_setpoint().magnitude == pytest.approx(35.0, abs=0.05)  # 25 + 2 °C/min * 5 min
    pv = d.temperature().magnitude
    assert 30.0 < pv < 35.0  # follows the ramp, lagging it
    assert pv == pytest.approx(bench.plant.chamber.air_temperature_degC, abs=1e-4)
    bench.advance(900)
    assert d.temperature().magnitude == pytest.approx(45.0, abs=0.5)
    d.set_ramp_rate(None)
    assert d.ramp_rate() is None
    with pytest.raises(InstrumentRangeError):
        d.set_ramp_rate(Q_(500, "delta_degC/min"))
    d.set_running(False)
    assert not bench.plant.chamber.running and d.loop_mode() == "off"
    d.close()


def test_f4t_safe_state_sets_ambient_and_confirms(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    d.set_setpoint(Q_(70, "degC"))
    assert "ambient 25" in d.safe_state()
    assert bench.plant.chamber.setpoint_degC == pytest.approx(25.0)
    assert d.safe_state_order == 30
    d.close()


def test_f4t_injected_instrument_fault(bench: SimBench) -> None:  # noqa: F811
    d, _ = _open(bench)
    bench.plant.inject({"type": "instrument_error", "name": "chamber", "code": -200})
    with pytest.raises(InstrumentError, match="exception 4"):
        d.set_setpoint(Q_(30, "degC"))
    d.set_setpoint(Q_(30, "degC"))  # the fault was consumed
    d.close()


def test_classic_f4_integer_tenths(bench: SimBench) -> None:  # noqa: F811
    server = bench.serve(serve, role("chamber", "instruments.watlow_f4t:WatlowF4"))
    d = WatlowF4(server.resource, name="chamber", timeout=Q_(1, "s"))
    assert d.identity().startswith("Watlow,Series F4")
    d.set_setpoint(Q_(45.5, "degC"))
    assert bench.plant.chamber.setpoint_degC == pytest.approx(45.5)
    assert d.bus.read_holding(300, 1) == [455]
    d.set_setpoint(Q_(-12.3, "degC"))
    assert d.setpoint().magnitude == pytest.approx(-12.3)
    d.set_running(True)
    assert bench.plant.chamber.running and d.running()
    bench.advance(120)
    assert d.temperature().magnitude == pytest.approx(round(bench.plant.chamber.air_temperature_degC, 1), abs=0.051)
    d.set_ramp_rate(None)
    with pytest.raises(InstrumentError, match="no set point ramp"):
        d.set_ramp_rate(Q_(2, "delta_degC/min"))
    with pytest.raises(ModbusExceptionError) as e3:
        d.bus.write_register(300, 5000)  # 500.0 °C
    assert e3.value.code == 3 and "register 300" in str(e3.value)
    assert "ambient" in d.safe_state()
    d.close()
