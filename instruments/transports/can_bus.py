"""Open a python-can bus from the resource string written in a station file.

Why a resource string: the station file names the instrument's address in one place, so the same
driver runs against a lab adapter or the in-process simulator by changing one line:

    virtual:<channel>             python-can's in-process virtual bus (the simulator)
    socketcan:can0 | vcan0        Linux SocketCAN (bitrate is set with `ip link`, not here)
    pcan:PCAN_USBBUS1             PEAK PCAN-Basic
    kvaser:0                      Kvaser CANlib channel number
    slcan:/dev/ttyACM0@500000     serial-line CAN (LAWICEL) over pyserial; `@baud` is the tty baud
    udp_multicast:239.74.163.2    python-can UDP multicast (virtual bus across processes)

`bitrate` (a number of bit/s, or a quantity string such as "500 kbit/s") is passed to adapters
that set it. Every standard-ID frame sent on these buses must have `is_extended_id=False`
(python-can defaults to True). Failures name the resource, so a typo in a station file reads as
one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import can

from instruments.errors import InstrumentError

INTERFACES = ("virtual", "socketcan", "pcan", "kvaser", "slcan", "udp_multicast")
DEFAULT_BITRATE = 500_000


@dataclass(frozen=True)
class CanResource:
    """A parsed resource string: python-can interface, channel and keyword arguments."""

    interface: str
    channel: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.interface}:{self.channel}"


def _bitrate(value: Any, resource: str, name: str) -> int:
    if value is None:
        return DEFAULT_BITRATE
    if isinstance(value, int | float):
        return int(value)
    from bench.units import Q_

    text = str(value).strip()
    try:
        return int(text) if text.isdigit() else int(round(Q_(text).to("bit/s").magnitude))
    except Exception as exc:
        raise InstrumentError(name, f"bitrate {value!r} for {resource!r} is not a number of bit/s") from exc


def parse_resource(resource: str, *, bitrate: Any = None, name: str = "can") -> CanResource:
    """Split "interface:channel[@baud]" into python-can arguments; raise naming the resource if unknown."""
    text = (resource or "").strip()
    interface, sep, channel = text.partition(":")
    interface = interface.strip().lower()
    if not sep or not channel.strip():
        raise InstrumentError(
            name, f"CAN resource {resource!r} must look like 'interface:channel' (interfaces: {', '.join(INTERFACES)})"
        )
    if interface not in INTERFACES:
        raise InstrumentError(
            name,
            f"unknown CAN interface {interface!r} in resource {resource!r}; expected one of {', '.join(INTERFACES)}",
        )
    channel = channel.strip()
    kwargs: dict[str, Any] = {}
    rate = _bitrate(bitrate, resource, name)
    if interface == "virtual":
        kwargs["receive_own_messages"] = False
    elif interface in ("pcan", "kvaser"):
        kwargs["bitrate"] = rate
    elif interface == "slcan":
        tty, at, baud = channel.partition("@")
        if at:
            if not baud.isdigit():
                raise InstrumentError(name, f"serial baud {baud!r} in CAN resource {resource!r} is not a number")
            kwargs["tty_baudrate"] = int(baud)
        channel = tty
        kwargs["bitrate"] = rate
    if interface == "kvaser" and channel.isdigit():
        channel = str(int(channel))
    return CanResource(interface, channel, kwargs)


def open_bus(resource: str, *, bitrate: Any = None, name: str = "can", **extra: Any) -> can.BusABC:
    """A python-can Bus for `resource`; InstrumentError naming it if the adapter is missing or fails."""
    res = parse_resource(resource, bitrate=bitrate, name=name)
    channel: Any = int(res.channel) if res.interface == "kvaser" else res.channel
    try:
        return can.Bus(interface=res.interface, channel=channel, **res.kwargs, **extra)
    except Exception as exc:  # adapters raise anything from OSError to NameError when a library is missing
        raise InstrumentError(
            name,
            f"cannot open CAN bus {resource!r} (python-can interface "
            f"{res.interface!r}, channel {res.channel!r}): {type(exc).__name__}: {exc}",
        ) from exc
