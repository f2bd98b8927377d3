"""pysunspec2 on the bench's Modbus transport: one held connection per SunSpec endpoint.

Why not pysunspec2's own TCP client: its errors are its own (a bare time-out for a device that
refuses function 06, pysunspec2 issue #104), it opens and closes connections around scans, and
it cannot retry or report what it did. Here pysunspec2 keeps doing what it is good at (model
discovery, the SunSpec model definitions, scale factors, repeating groups, "not implemented"
markers) through a subclass of its `SunSpecModbusClientDevice` whose `read`/`write` go through
`instruments.transports.modbus.ModbusClient`, so every failure is a named bench error, and:

* one connection is opened at start and held for the whole run (many site controllers accept
  one Modbus client; a controller that closes the connection at once says so plainly, naming
  the likely cause instead of reporting a time-out);
* a request with no reply (a dropped packet on a site network) is retried a bounded number of
  times, and every retry is reported through the journal hook;
* a single-register write uses function 06 unless the device refuses it (Modbus exception 1),
  then function 16 from then on (reported); `write_function = 16` forces it from the start;
* every write is read back and compared (SunSpec "MOD-3 point write verification").

Vendor models (64xxx) are decoded from their SunSpec JSON definitions: the directories named in
`model_defs` (and `instruments/sunspec_models`) are added to pysunspec2's definition path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sunspec2.modbus.client as ss_client

from instruments.errors import InstrumentError, InstrumentTimeout
from instruments.sunspec_models import add_model_definitions
from instruments.transports.modbus import ModbusClient, ModbusExceptionError

EventHook = Callable[[str, str, dict[str, Any]], None]


class ControllerBusyError(InstrumentError):
    """The device accepted the TCP connection and closed it at once: another client holds it."""


class WriteVerificationError(InstrumentError):
    """A register write was accepted but reads back different (SunSpec MOD-3)."""


def regs_to_bytes(regs: list[int]) -> bytes:
    return b"".join(int(r & 0xFFFF).to_bytes(2, "big") for r in regs)


def bytes_to_regs(data: bytes) -> list[int]:
    if len(data) % 2:
        raise ValueError(f"odd number of bytes ({len(data)}) for Modbus registers")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


class _BenchDevice(ss_client.SunSpecModbusClientDevice):
    """pysunspec2's Modbus device with its I/O delegated to the bench link."""

    def __init__(self, link: SunSpecLink) -> None:
        super().__init__()
        self.link = link

    def read(self, addr: int, count: int, op: Any = None) -> bytes:
        return regs_to_bytes(self.link.read(int(addr), int(count)))

    def write(self, addr: int, data: bytes) -> None:
        self.link.write(int(addr), bytes_to_regs(bytes(data)))


class SunSpecLink:
    """One SunSpec device over one held Modbus TCP connection; `device` is the pysunspec2 view."""

    def __init__(
        self,
        resource: str,
        *,
        name: str,
        timeout_s: float = 1.0,
        device_id: int = 1,
        retries: int = 2,
        write_function: int | str = "auto",
        model_defs: list[str | Path] | None = None,
        source_address: str | None = None,
        event: EventHook | None = None,
    ) -> None:
        if str(write_function) not in ("auto", "6", "16"):
            raise InstrumentError(name, f"write_function must be 'auto', 6 or 16, got {write_function!r}")
        if not 0 <= int(retries) <= 10:
            raise InstrumentError(name, f"retries must be 0..10, got {retries!r}")
        self.name = name
        self.resource = resource
        self.retries = int(retries)
        self.write_fc = str(write_function)
        self.timeout_s = float(timeout_s)
        self.device_id = int(device_id)
        self.source_address = source_address
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "writes": 0}
        self.pending_events: list[tuple[str, str, dict[str, Any]]] = []
        self.event_hook = event
        self._lock = threading.RLock()
        add_model_definitions(list(model_defs or []))
        self.bus = self._open()
        self.device = _BenchDevice(self)

    # -- events ----------------------------------------------------------------------------------
    def event(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        """Report through the journal hook, or keep until one is attached."""
        item = (kind, f"{self.name}: {message}", dict(data or {}))
        if self.event_hook is None:
            self.pending_events.append(item)
        else:
            self.event_hook(*item)

    def attach_journal(self, hook: EventHook) -> None:
        self.event_hook = hook
        pending, self.pending_events = self.pending_events, []
        for item in pending:
            hook(*item)

    # -- connection ------------------------------------------------------------------------------
    def _open(self) -> ModbusClient:
        bus = ModbusClient(
            self.resource,
            name=self.name,
            timeout_s=self.timeout_s,
            device_id=self.device_id,
            word_order="big",
            source_address=self.source_address,
        )
        try:
            bus.read_holding(40000, 2)  # first request: a device that hangs up at once says so here
        except ModbusExceptionError:
            pass  # answered: the base address is found by the scan
        except InstrumentError as exc:
            bus.close()
            if "connection" in str(exc).lower() or "closed" in str(exc).lower():
                raise ControllerBusyError(
                    self.name,
                    f"the device at {self.resource} accepted the connection and closed it at once: "
                    "it accepts one Modbus client at a time and another client (an EMS, SCADA or a second "
                    "laptop) holds the connection, or its allow-list does not include this address; disconnect "
                    "the other client or connect through the site's Modbus proxy",
                ) from exc
            raise
        return bus

    def close(self) -> None:
        with self._lock:
            self.bus.close()

    def reopen(self) -> None:
        """Drop and re-open the held connection (after a probe from another address)."""
        with self._lock:
            self.bus.close()
            self.bus = self._open()
            self.event("link", f"connection to {self.resource} re-opened")

    # -- I/O -------------------------------------------------------------------------------------
    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        last: InstrumentTimeout | None = None
        for attempt in range(self.retries + 1):
            self.stats["requests"] += 1
            try:
                return fn()
            except InstrumentTimeout as exc:
                self.stats["timeouts"] += 1
                last = exc
                if attempt < self.retries:
                    self.stats["retries"] += 1
                    self.event(
                        "comms_retry",
                        f"no reply to {what} (attempt {attempt + 1} of {self.retries + 1}); retrying",
                        {"request": what, "attempt": attempt + 1, "retries": self.retries},
                    )
        assert last is not None
        raise InstrumentTimeout(
            self.name, f"no reply to {what} after {self.retries + 1} attempts", command=last.command
        ) from last

    def read(self, addr: int, count: int) -> list[int]:
        with self._lock:
            return self._retrying(f"read {addr} count {count}", lambda: self.bus.read_holding(addr, count))

    def write(self, addr: int, regs: list[int], *, verify: bool = True) -> None:
        """Write registers (FC06 for one unless refused, else FC16), then read back and compare."""
        with self._lock:
            self.stats["writes"] += 1
            if len(regs) == 1 and self.write_fc in ("auto", "6"):
                try:
                    self._retrying(f"write {addr} = {regs[0]}", lambda: self.bus.write_register(addr, regs[0]))
                except ModbusExceptionError as exc:
                    if exc.code != 1 or self.write_fc != "auto":
                        raise
                    self.write_fc = "16"
                    self.event(
                        "comms",
                        "device refuses function 06 (write single register, exception 1); "
                        "using function 16 for every write from now on",
                        {"register": addr, "fallback": 16},
                    )
                    self._retrying(f"write {addr} = {regs}", lambda: self.bus.write_registers(addr, regs))
            else:
                self._retrying(f"write {addr} = {regs}", lambda: self.bus.write_registers(addr, regs))
            if verify:
                back = self.read(addr, len(regs))
                if back != list(regs):
                    raise WriteVerificationError(
                        self.name,
                        "point write verification failed (SunSpec MOD-3): the device accepted the "
                        "write but reads back a different value",
                        command=f"write {addr} = {regs}",
                        reply=str(back),
                    )

    # -- pysunspec2 --------------------------------------------------------------------------------
    def scan(self) -> float:
        """Discover the models (pysunspec2 scan over our link); returns the wall time it took."""
        t0 = time.perf_counter()
        try:
            self.device.scan(connect=False, full_model_read=False)
        except ss_client.SunSpecModbusClientError as exc:
            raise InstrumentError(self.name, f"SunSpec scan failed: {exc}".strip(), command="scan") from None
        return time.perf_counter() - t0

    def model_counts(self) -> dict[int, int]:
        return {k: len(v) for k, v in self.device.models.items() if isinstance(k, int)}

    def model(self, model_id: int, instance: int = 1) -> Any:
        models = self.device.models.get(model_id) or []
        if not 1 <= instance <= len(models):
            raise InstrumentError(
                self.name, f"SunSpec model {model_id}[{instance}] not present; models: {sorted(self.model_counts())}"
            )
        return models[instance - 1]

    def read_model(self, model_id: int, instance: int = 1) -> Any:
        m = self.model(model_id, instance)
        if m.model_def is None:
            raise InstrumentError(
                self.name, f"SunSpec model {model_id} has no definition; add its JSON file to a model_defs directory"
            )
        m.read()
        return m
