"""Modbus transport: resource parsing, float word order, chunking, and every way a device can
answer badly (exception codes, silence, garbage, short frames), over real TCP on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from modbus_fixtures import ScriptedServer, exception_reply, free_port, mbap, scripted  # noqa: F401

from instruments.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout
from instruments.sim.modbus_server import ModbusSimServer, RegisterMap
from instruments.transports.modbus import (
    ModbusClient,
    ModbusExceptionError,
    float_to_registers,
    parse_resource,
    registers_to_float,
)


def test_parse_resource() -> None:
    assert parse_resource("10.0.0.5") == {"kind": "tcp", "host": "10.0.0.5", "port": 502}
    assert parse_resource("tcp://10.0.0.5:1502") == {"kind": "tcp", "host": "10.0.0.5", "port": 1502}
    rtu = parse_resource("rtu:/dev/ttyUSB0?baud=9600&parity=E")
    assert rtu == {"kind": "rtu", "port": "/dev/ttyUSB0", "baudrate": 9600, "parity": "E", "stopbits": 1, "bytesize": 8}
    assert parse_resource("/dev/ttyS1")["kind"] == "rtu"
    for bad in ("", "host:notaport", "rtu:/dev/ttyUSB0?speed=9600", "rtu:/dev/x?parity=Q"):
        with pytest.raises(ValueError):
            parse_resource(bad)


def test_float_word_order() -> None:
    assert float_to_registers(25.0, "big") == [0x41C8, 0x0000]
    assert float_to_registers(25.0, "little") == [0x0000, 0x41C8]
    for order in ("big", "little"):
        assert registers_to_float(float_to_registers(-12.5, order), order) == -12.5


def _counter_server(n: int = 300) -> tuple[ModbusSimServer, RegisterMap]:
    m = RegisterMap()
    m.read(0, n, lambda: list(range(1000, 1000 + n)))
    stored = {"v": 0}
    m.read(500, 1, lambda: [stored["v"]])
    m.write(500, 1, lambda r: stored.update(v=r[0]) if r[0] <= 100 else (_ for _ in ()).throw(ValueError("big")))
    return ModbusSimServer(m.device(1)).start(), m


def test_long_reads_are_chunked() -> None:
    server, _ = _counter_server()
    try:
        c = ModbusClient(server.resource, name="dev", timeout_s=1)
        before = server.requests
        regs = c.read_holding(0, 300)
        assert regs == list(range(1000, 1300))
        assert server.requests - before == 3  # 125 + 125 + 50
        c.close()
    finally:
        server.stop()


def test_exception_codes_name_register_and_code() -> None:
    server, m = _counter_server()
    try:
        c = ModbusClient(server.resource, name="dev", timeout_s=1)
        with pytest.raises(ModbusExceptionError) as e2:
            c.read_holding(400, 2)
        assert e2.value.code == 2 and "register 400" in str(e2.value) and "illegal data address" in str(e2.value)
        with pytest.raises(ModbusExceptionError) as e3:
            c.write_register(500, 1000)
        assert e3.value.code == 3 and "register 500" in str(e3.value) and "dev" in str(e3.value)
        with pytest.raises(ModbusExceptionError) as ero:
            c.write_register(10, 1)  # read-only register
        assert ero.value.code == 2
        c.write_register(500, 42)
        assert c.read_holding(500, 1) == [42]
        m.faults.append({"code": -200, "message": "Execution error"})  # plant-style instrument fault
        with pytest.raises(ModbusExceptionError) as e4:
            c.write_register(500, 1)
        assert e4.value.code == 4
        c.close()
    finally:
        server.stop()


@pytest.mark.parametrize("code,meaning", [(1, "illegal function"), (4, "device failure"), (6, "busy")])
def test_scripted_exception_codes(scripted, code: int, meaning: str) -> None:  # noqa: F811
    srv = scripted(exception_reply(code))
    c = ModbusClient(srv.resource, name="dev", timeout_s=1)
    with pytest.raises(ModbusExceptionError) as exc:
        c.read_input(7, 3)
    assert exc.value.code == code and meaning in str(exc.value) and "register 7" in str(exc.value)
    c.close()


def test_silent_device_times_out_within_timeout(scripted) -> None:  # noqa: F811
    srv = scripted(lambda tid, unit, pdu: None)
    c = ModbusClient(srv.resource, name="dev", timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(InstrumentTimeout) as exc:
        c.read_holding(100, 2)
    assert time.monotonic() - t0 < 5.0  # bounded by the timeout, with room for a loaded machine
    assert "register 100" in str(exc.value) and "0.3 s" in str(exc.value)
    c.close()


def test_garbage_reply(scripted) -> None:  # noqa: F811
    srv = scripted(lambda tid, unit, pdu: b"\xde\xad\xbe\xef garbage!")
    c = ModbusClient(srv.resource, name="dev", timeout_s=0.3)
    with pytest.raises(InstrumentReplyError) as exc:
        c.read_holding(100, 2)
    assert "garbled" in str(exc.value) and "de ad be ef" in str(exc.value)
    c.close()


def test_short_reply(scripted) -> None:  # noqa: F811
    srv = scripted(lambda tid, unit, pdu: mbap(tid, unit, bytes([3, 2, 0x12, 0x34])))
    c = ModbusClient(srv.resource, name="dev", timeout_s=0.3)
    with pytest.raises(InstrumentReplyError) as exc:
        c.read_holding(100, 4)
    assert "short reply: 1 of 4" in str(exc.value)
    c.close()


def test_muted_server_then_recovers() -> None:
    server, _ = _counter_server(10)
    try:
        c = ModbusClient(server.resource, name="dev", timeout_s=0.3)
        server.mute()
        with pytest.raises(InstrumentTimeout):
            c.read_holding(0, 1)
        server.mute(False)
        time.sleep(0.05)
        regs = []
        for _ in range(3):  # a late reply to the timed-out request may be discarded first
            try:
                regs = c.read_holding(0, 2)
                break
            except InstrumentError:
                continue
        assert regs == [1000, 1001]
        c.close()
    finally:
        server.stop()


def test_connection_refused_names_resource() -> None:
    port = free_port()
    with pytest.raises(InstrumentError) as exc:
        ModbusClient(f"127.0.0.1:{port}", name="dev", timeout_s=0.3)
    assert f"127.0.0.1:{port}" in str(exc.value)


def test_rtu_framing_over_socket_url() -> None:
    from pymodbus.framer import FramerType

    m = RegisterMap()
    m.read(0, 4, lambda: [1, 2, 3, 4])
    server = ModbusSimServer(m.device(1), framer=FramerType.RTU).start()
    try:
        c = ModbusClient(f"rtu:socket://127.0.0.1:{server.port}", name="dev", timeout_s=1)
        assert c.kind == "rtu"
        assert c.read_holding(0, 4) == [1, 2, 3, 4]
        c.close()
    finally:
        server.stop()
