"""python-can's virtual bus for the simulated BMS node, without a deep copy of every frame.

`VirtualBus.send` deep-copies each frame for every receiver, which was a third of the simulated
node's cost (about 16 us a frame; a simulated safety-chain run sends about 200,000 frames). The
node builds a fresh Message for every frame and never touches it after sending, so each receiver
gets a copy made with the Message constructor instead: the same fields, a data bytearray of its
own, and `timestamp`, `channel` and `is_rx` set exactly as VirtualBus sets them. Receivers are
ordinary VirtualBus instances on the same channel and see what VirtualBus itself would deliver
(tests/sim/test_virtual_can.py compares the two).
"""

from __future__ import annotations

import queue
import time

from can import Message
from can.exceptions import CanOperationError
from can.interfaces.virtual import VirtualBus


class SimVirtualBus(VirtualBus):
    """A VirtualBus whose `send` copies frames with the Message constructor, not `deepcopy`."""

    def send(self, msg: Message, timeout: float | None = None) -> None:
        self._check_if_open()
        timestamp = msg.timestamp if self.preserve_timestamps else time.time()
        self._deliver(timestamp, msg.arbitration_id, msg.data, timeout, msg)

    def send_data_frame(self, arbitration_id: int, data: bytes, timestamp: float) -> None:
        """Send a classic data frame with a standard id, without building a Message to be copied:
        each receiver gets exactly what `send(Message(arbitration_id=..., data=..., is_extended_id=False,
        timestamp=...))` would give it (the simulated node's every frame)."""
        self._check_if_open()
        self._deliver(timestamp if self.preserve_timestamps else time.time(), arbitration_id, data, None, None)

    def _deliver(
        self, timestamp: float, arbitration_id: int, data: bytes | bytearray, timeout: float | None, msg: Message | None
    ) -> None:
        if msg is None:  # a classic data frame: a Message's own defaults
            ext, remote, error, dlc, fd, brs, esi = False, False, False, len(data), False, False, False
        else:
            ext, remote, error, dlc = msg.is_extended_id, msg.is_remote_frame, msg.is_error_frame, msg.dlc
            fd, brs, esi = msg.is_fd, msg.bitrate_switch, msg.error_state_indicator
        all_sent = True
        for bus_queue in self.channel:
            own = bus_queue is self.queue
            if own and not self.receive_own_messages:
                continue
            copy = Message(
                timestamp=timestamp,
                arbitration_id=arbitration_id,
                is_extended_id=ext,
                is_remote_frame=remote,
                is_error_frame=error,
                channel=self.channel_id,
                dlc=dlc,
                data=bytearray(data),
                is_fd=fd,
                is_rx=not own,
                bitrate_switch=brs,
                error_state_indicator=esi,
            )
            try:
                bus_queue.put(copy, block=True, timeout=timeout)
            except queue.Full:
                all_sent = False
        if not all_sent:
            raise CanOperationError("Could not send message to one or more recipients")
