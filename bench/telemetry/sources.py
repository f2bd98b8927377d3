"""Capture sources: the BMS broadcast on CAN (every frame, at bus rate) and polled channels.

CAN. The driver hands every good frame of a known message to `CanSource.on_frame` on its receive
thread, with the decoded signals and the frame's reception time. Each message becomes a group
(one column per signal, the DBC raw integer stored, factor and offset in the metadata). A
multiplexed message (cell voltage and temperature pages) becomes one group whose columns are the
values its pages carry; the source waits for one full round of pages before fixing the columns,
so only cells the BMS flags valid get a column, and keeps a sample only when its flag says valid.
foxBMS names tell the detectors what a signal is: `CellVoltage_NNN` (mV), `CellTemperature_NNN`
(degC) and the pack `Current`.

Polled. `PollSource` reads each configured channel (a driver method returning a quantity) on the
clock at the capture rate: virtual time in simulation (deterministic), wall time on hardware.
A failed read stores a gap and is journalled once per channel (then counted).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.telemetry.config import PolledChannel
from bench.telemetry.detectors import Detectors
from bench.telemetry.layout import US, Channel, GroupSpec, raw_dtype, safe
from bench.telemetry.store import StoreWriter
from bench.units import Q_

FAMILY_SIGNAL = re.compile(r"^(CellVoltage|CellTemperature)_(\d{3})$")
FAMILY_NAMES = {"CellVoltage": "cell_voltage", "CellTemperature": "cell_temperature"}
PACK_CURRENT_SIGNAL = "Current"
DBC_UNITS = {"%": "percent", "kOhm": "kohm", "Ohm": "ohm", "degC": "degC", "": ""}
WARMUP_FRAMES = 64  # a multiplexed message fixes its columns after one page round, or this many frames
Event = Callable[[str, str, dict[str, Any]], None]


def _unit(text: str) -> str:
    """The DBC unit as pint understands it ("" when it does not)."""
    text = (text or "").strip()
    if text in DBC_UNITS:
        return DBC_UNITS[text]
    try:
        Q_(1.0, text)
        return text
    except Exception:  # noqa: BLE001 - pint raises several types
        return ""


def si_factor(family: str, unit: str) -> float:
    """Multiplier from a channel's unit to what the detectors use (V, A; temperatures stay degC/K)."""
    if family == "cell_temperature" or not unit:
        return 1.0
    try:
        return float(Q_(1.0, unit).to("V" if family == "cell_voltage" else "A").magnitude)
    except Exception:  # noqa: BLE001 - a unit of the wrong kind: leave the values as they are
        return 1.0


class _Message:
    """How one CAN message maps onto its group's columns."""

    def __init__(self, role: str, message: Any, valid_signals: list[str] | None) -> None:
        self.frame_id = message.frame_id
        mux = {s.name for s in message.signals if s.is_multiplexer}
        flags = {s.name for s in message.signals if s.name.endswith("_invalidFlag")}
        names = [s.name for s in message.signals if s.name not in mux and s.name not in flags]
        if valid_signals is not None:
            keep = set(valid_signals)
            names = [n for n in names if n in keep]
        by_name = {s.name: s for s in message.signals}
        names.sort(key=lambda n: (FAMILY_SIGNAL.match(n) is None, n))
        self.group = f"{role}.{safe(message.name, 48)}"
        self.columns: list[tuple[str, int, float, float, str | None]] = []  # signal, col, scale, offset, flag
        channels = []
        for col, name in enumerate(names):
            sig = by_name[name]
            m = FAMILY_SIGNAL.match(name)
            family = FAMILY_NAMES[m.group(1)] if m else ("pack_current" if name == PACK_CURRENT_SIGNAL else "")
            if sig.is_float:
                dtype = "float64"
            else:
                lo = -(2 ** (sig.length - 1)) if sig.is_signed else 0
                hi = 2 ** (sig.length - 1) - 1 if sig.is_signed else 2**sig.length - 1
                dtype = raw_dtype(lo, hi)
            scale, offset = float(sig.scale), float(sig.offset)
            channels.append(
                Channel(
                    f"{role}.{name}",
                    name,
                    _unit(sig.unit),
                    scale,
                    offset,
                    dtype,
                    family,
                    int(m.group(2)) if m else None,
                    self.group,
                )
            )
            flag = f"{name}_invalidFlag"
            self.columns.append((name, col, scale, offset, flag if flag in flags else None))
        self.spec = GroupSpec(self.group, f"CAN {role} 0x{message.frame_id:03X} {message.name}", tuple(channels))
        # (family, column, cell index, channel, factor to V / degC / A) of the columns the detectors read
        self.family_cols = [
            (c.family, i, c.index, c.name, si_factor(c.family, c.unit)) for i, c in enumerate(channels) if c.family
        ]
        self.mux = next((s.name for s in message.signals if s.is_multiplexer), None)
        self._layouts: dict[Any, tuple[list[int], list[str], list[str | None], np.ndarray, np.ndarray]] = {}

    def _layout(self, values: dict[str, Any]) -> tuple[list[int], list[str], list[str | None], np.ndarray, np.ndarray]:
        """Columns present in a frame like this one (per page for a multiplexed message), cached."""
        key = values.get(self.mux) if self.mux else None
        lay = self._layouts.get(key)
        if lay is None:
            cols = [c for c in self.columns if c[0] in values]
            lay = (
                [c[1] for c in cols],
                [c[0] for c in cols],
                [c[4] for c in cols],
                np.array([c[2] for c in cols]),
                np.array([c[3] for c in cols]),
            )
            self._layouts[key] = lay
        return lay

    def row(self, values: dict[str, Any]) -> tuple[list[int], list[float]]:
        cols, names, flags, scale, offset = self._layout(values)
        try:
            raw = [values[n] for n in names]
        except KeyError:  # a frame unlike the first of its page: take it signal by signal
            self._layouts.pop(values.get(self.mux) if self.mux else None, None)
            cols, names, flags, scale, offset = self._layout(values)
            raw = [values[n] for n in names]
        out = np.rint((np.array(raw, dtype=np.float64) - offset) / scale).tolist()
        if any(flags):  # foxBMS: a value counts only when its flag says 1 = valid
            keep = [i for i, f in enumerate(flags) if f is None or values.get(f, 1) == 1]
            if len(keep) < len(cols):
                return [cols[i] for i in keep], [out[i] for i in keep]
        return cols, out


class CanSource:
    """Every frame of the chosen messages of one CAN role into the store (and the detectors)."""

    def __init__(
        self,
        role: str,
        driver: Any,
        store: StoreWriter,
        detectors: Detectors | None,
        now: Callable[[], float],
        messages: tuple[int, ...] | None,
        event: Event,
    ) -> None:
        self.role = role
        self.driver = driver
        self.store = store
        self.detectors = detectors
        self.now = now
        self.event = event
        db = driver.db
        cyclic = [m for m in db.messages if m.cycle_time]
        self.wanted = (
            {m.frame_id: m for m in cyclic}
            if messages is None
            else {m.frame_id: m for m in db.messages if m.frame_id in set(messages)}
        )
        missing = sorted(set(messages or ()) - set(self.wanted))
        if missing:
            raise ValueError(f"CAN id(s) {', '.join(f'0x{m:03X}' for m in missing)} not in the DBC of role {role!r}")
        self.maps: dict[int, _Message] = {}
        self.warmup: dict[int, list[tuple[float, dict[str, Any]]]] = {}
        self.frames = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.driver.subscribe_frames(self.on_frame, now=self.now)

    def stop(self) -> None:
        flush = getattr(self.driver, "flush_received", None)
        if callable(flush):
            flush()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            for fid in list(self.warmup):
                self._fix_columns(fid)

    def on_frame(self, frame_id: int, values: dict[str, Any], t: float) -> None:
        """Receive thread: one frame into its group (never raises)."""
        try:
            m = self.maps.get(frame_id)
            if m is None:
                if frame_id not in self.wanted:
                    return
                with self._lock:
                    m = self.maps.get(frame_id)
                    if m is None:
                        self._warm(frame_id, values, t)
                        return
            self._store(m, values, t)
        except Exception as exc:  # noqa: BLE001 - a capture problem must never disturb the BMS link
            self.errors += 1
            if self.errors == 1:
                self.event(
                    "telemetry",
                    f"CAN capture of {self.role}: frame 0x{frame_id:03X} not stored: {type(exc).__name__}: {exc}",
                    {"role": self.role, "frame_id": frame_id},
                )

    def _warm(self, frame_id: int, values: dict[str, Any], t: float) -> None:
        """Hold frames of a message until its columns are known (one page round for a multiplexed one),
        then fix the columns and store everything held, this frame included."""
        message = self.wanted[frame_id]
        frames = self.warmup.setdefault(frame_id, [])
        mux = next((s.name for s in message.signals if s.is_multiplexer), None)
        if mux is not None and values.get(mux) not in [f[1].get(mux) for f in frames] and len(frames) < WARMUP_FRAMES:
            frames.append((t, dict(values)))
            return
        frames.append((t, dict(values)))
        self._fix_columns(frame_id)

    def _fix_columns(self, frame_id: int) -> None:
        frames = self.warmup.pop(frame_id, [])
        message = self.wanted[frame_id]
        seen: set[str] = set()
        for _, vals in frames:
            for name, v in vals.items():
                flag = vals.get(f"{name}_invalidFlag")
                if v is not None and (flag is None or flag == 1):
                    seen.add(name)
        m = _Message(self.role, message, sorted(seen))
        self.store.add_group(m.spec)
        self.maps[frame_id] = m
        for t, vals in frames:
            self._store(m, vals, t)

    def _store(self, m: _Message, values: dict[str, Any], t: float) -> None:
        cols, raws = m.row(values)
        if not cols:
            return
        self.store.append(m.group, round(t * US), raws, cols)
        self.frames += 1
        if self.detectors is not None and m.family_cols:
            present = dict(zip(cols, raws, strict=True))
            groups: dict[str, tuple[list[int], list[float], list[str]]] = {}
            for family, col, index, name, factor in m.family_cols:
                if col not in present:
                    continue
                ch = m.spec.channels[col]
                si = (present[col] * ch.scale + ch.offset) * factor
                if family == "pack_current":
                    self.detectors.push("pack_current", t, None, si, name)
                    continue
                g = groups.setdefault(family, ([], [], []))
                g[0].append(index)
                g[1].append(si)
                g[2].append(name)
            for family, (idx, vals, names) in groups.items():
                self.detectors.push(family, t, idx, vals, names)


class PollSource:
    """Polled channels read on the clock at the capture rate, one row per tick into group "poll"."""

    GROUP = "poll"

    def __init__(
        self,
        channels: tuple[PolledChannel, ...],
        instruments: dict[str, Any],
        clock: Any,
        store: StoreWriter,
        detectors: Detectors | None,
        rate_hz: float,
        event: Event,
    ) -> None:
        self.channels = channels
        self.clock = clock
        self.store = store
        self.detectors = detectors
        self.rate_hz = rate_hz
        self.event = event
        self.readers = [getattr(instruments[c.role], c.read) for c in channels]
        self.failures = [0] * len(channels)
        self.ticks = 0
        self.handle: Any = None
        specs: list[Channel] = []
        self.slices: list[slice] = []
        for c in channels:
            start = len(specs)
            for name, index in zip(c.names(), c.indices(), strict=True):
                specs.append(Channel(name, name, c.unit, c.resolution, 0.0, "int64", c.family, index, self.GROUP))
            self.slices.append(slice(start, len(specs)))
        self.spec = GroupSpec(self.GROUP, f"polled at {rate_hz:g} Hz", tuple(specs))
        store.add_group(self.spec, quantize=True)
        self._width = len(specs)
        self._factor = np.array([si_factor(c.family, c.unit) for c in specs])
        self._fam = {
            f: np.array([i for i, c in enumerate(specs) if c.family == f], dtype=int)
            for f in ("cell_voltage", "cell_temperature")
        }
        self._fam_index = {f: [specs[i].index for i in cols] for f, cols in self._fam.items()}
        self._fam_names = {f: [specs[i].name for i in cols] for f, cols in self._fam.items()}
        self._curr = [i for i, c in enumerate(specs) if c.family == "pack_current"]
        self._names = [c.name for c in specs]

    def start(self) -> None:
        self.handle = self.clock.every(Q_(1.0 / self.rate_hz, "s"), self.tick, name="telemetry-poll")

    def stop(self) -> None:
        if self.handle is not None:
            self.clock.cancel(self.handle)
            self.handle = None

    def tick(self, t: float | None = None) -> None:
        t = self.clock.now_s() if t is None else t
        values = np.full(self._width, np.nan)
        for i, (ch, read, sl) in enumerate(zip(self.channels, self.readers, self.slices, strict=True)):
            try:
                q = read()
                if ch.count is None:
                    values[sl] = float(q.to(ch.unit).magnitude) if hasattr(q, "to") else float(q)
                else:
                    if not hasattr(q, "to"):  # a list of quantities
                        q = [x.to(ch.unit).magnitude if hasattr(x, "to") else x for x in q]
                        block = np.asarray(q, dtype=np.float64)
                    else:
                        block = np.asarray(q.to(ch.unit).magnitude, dtype=np.float64)
                    if block.shape != (ch.count,):
                        raise ValueError(f"expected {ch.count} values, got shape {block.shape}")
                    values[sl] = block
            except Exception as exc:  # noqa: BLE001 - one failing channel leaves a gap, not a stop
                self.failures[i] += 1
                if self.failures[i] == 1:
                    self.event(
                        "telemetry",
                        f"polled channel {ch.name}: {ch.role}.{ch.read}() failed: "
                        f"{type(exc).__name__}: {exc} (gaps stored; further failures counted)",
                        {"channel": ch.name},
                    )
        values[~np.isfinite(values)] = np.nan
        self.ticks += 1
        self.store.append(self.GROUP, round(t * US), values)
        if self.detectors is not None:
            for family, cols in self._fam.items():
                if cols.size:
                    self.detectors.push(
                        family, t, self._fam_index[family], values[cols] * self._factor[cols], self._fam_names[family]
                    )
            for i in self._curr:
                if np.isfinite(values[i]):
                    self.detectors.push("pack_current", t, None, values[i] * self._factor[i], self._names[i])
