"""The simulated node's virtual bus delivers to receivers exactly what python-can's VirtualBus does."""

from __future__ import annotations

import itertools

import can
from can.interfaces.virtual import VirtualBus

from instruments.sim.virtual_can import SimVirtualBus

_channels = itertools.count()


def _delivered(sender_cls: type, msg: can.Message, *, preserve: bool) -> can.Message:
    channel = f"virtual-can-test-{next(_channels)}"
    sender = sender_cls(channel=channel, preserve_timestamps=preserve)
    receiver = VirtualBus(channel=channel)
    try:
        sender.send(msg)
        got = receiver.recv(timeout=1.0)
        assert sender.recv(timeout=0.0) is None  # a sender does not hear itself (receive_own_messages False)
        return got
    finally:
        sender.shutdown()
        receiver.shutdown()


FIELDS = (
    "timestamp",
    "arbitration_id",
    "is_extended_id",
    "is_remote_frame",
    "is_error_frame",
    "dlc",
    "data",
    "is_fd",
    "is_rx",
    "bitrate_switch",
    "error_state_indicator",
)


def test_every_field_arrives_as_virtualbus_delivers_it() -> None:
    frames = [
        can.Message(arbitration_id=0x220, data=bytes(range(8)), is_extended_id=False, timestamp=1234.5),
        can.Message(arbitration_id=0x1ABCDE, data=b"\x01\x02", is_extended_id=True, timestamp=7.25),
        can.Message(arbitration_id=0x7FF, is_remote_frame=True, dlc=4, is_extended_id=False, timestamp=3.0),
        can.Message(arbitration_id=0x123, data=bytes(12), is_fd=True, bitrate_switch=True, timestamp=9.0),
    ]
    for msg in frames:
        for preserve in (True, False):
            ours = _delivered(SimVirtualBus, msg, preserve=preserve)
            theirs = _delivered(VirtualBus, msg, preserve=preserve)
            for field in FIELDS:
                a, b = getattr(ours, field), getattr(theirs, field)
                if field == "timestamp" and not preserve:  # both stamp the wall clock at send
                    assert abs(a - b) < 5.0
                    continue
                assert a == b, (field, a, b)
            assert ours.is_rx is True
            assert isinstance(ours.channel, str) and ours.channel.startswith("virtual-can-test-")


def test_a_receiver_owns_its_copy_of_the_data() -> None:
    channel = f"virtual-can-test-{next(_channels)}"
    sender = SimVirtualBus(channel=channel, preserve_timestamps=True)
    a, b = VirtualBus(channel=channel), VirtualBus(channel=channel)
    try:
        msg = can.Message(arbitration_id=0x231, data=bytearray(b"\x10\x20\x30"), is_extended_id=False)
        sender.send(msg)
        msg.data[0] = 0xFF  # the sender changes its frame after sending
        got_a, got_b = a.recv(timeout=1.0), b.recv(timeout=1.0)
        got_a.data[1] = 0xEE  # one receiver changes what it got
        assert bytes(got_b.data) == b"\x10\x20\x30"
        assert bytes(got_a.data) == b"\x10\xee\x30"
        assert got_a is not got_b
    finally:
        for bus in (sender, a, b):
            bus.shutdown()


def test_a_data_frame_sent_without_a_message_arrives_as_virtualbus_delivers_the_message() -> None:
    for arbitration_id, data, stamp in (
        (0x220, bytes(range(8)), 1234.5),
        (0x7FF, b"", 0.0),
        (0x250, b"\x01\x02", 7.25),
    ):
        for preserve in (True, False):
            channel = f"virtual-can-test-{next(_channels)}"
            sender = SimVirtualBus(channel=channel, preserve_timestamps=preserve)
            receiver = VirtualBus(channel=channel)
            try:
                sender.send_data_frame(arbitration_id, data, stamp)
                ours = receiver.recv(timeout=1.0)
                assert sender.recv(timeout=0.0) is None
            finally:
                sender.shutdown()
                receiver.shutdown()
            msg = can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False, timestamp=stamp)
            theirs = _delivered(VirtualBus, msg, preserve=preserve)
            for field in FIELDS:
                a, b = getattr(ours, field), getattr(theirs, field)
                if field == "timestamp" and not preserve:
                    assert abs(a - b) < 5.0
                    continue
                assert a == b, (field, a, b)
