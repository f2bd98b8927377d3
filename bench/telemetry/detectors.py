"""Robust anomaly detectors on captured cell data, raised as events with time and cell.

They see only what was captured (cell voltages and temperatures, pack current, each with its
reception time), never the simulator. Three detectors, each judged against the rest of the pack
with the median and the MAD (median absolute deviation, scaled by 1.4826 to a standard
deviation), so one bad cell cannot hide itself by moving the reference:

* deviation: a cell's value differs from the pack median by more than max(k * MAD, floor) for
  `persist` seconds (a weak cell running ahead on discharge, a soft short draining at rest);
* rate: a cell's dV/dt or dT/dt over a window differs from the pack's median rate by more than
  max(k * MAD, rate floor) for its persist time (a thermal-runaway precursor heating one cell, a
  connection that jumps);
* relaxation: after a pack current step, each cell's voltage change per ampere (its apparent
  resistance and relaxation) at fixed delays differs from the median of its neighbours on each
  side by more than max(relaxation_k * MAD, floor / dI) (a high-resistance cell or joint).

Floors keep quantisation from firing detectors on a quiet pack (CAN carries 1 mV and 1 degC);
persistence keeps a page of cells updated a frame before the others from firing at a current
step. Each (detector, family, cell) fires once, and re-arms after its condition has been clear for
`rearm` seconds. Samples are processed in the order they were captured (one FIFO per source), so
the events are the same whatever the flush timing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.telemetry.config import DetectorSettings

MAD_SIGMA = 1.4826
MIN_CELLS = 4
UNITS = {"cell_voltage": ("V", "mV", 1000.0), "cell_temperature": ("degC", "degC", 1.0)}


@dataclass(frozen=True)
class Anomaly:
    detector: str  # deviation | rate | relaxation
    family: str  # cell_voltage | cell_temperature
    cell: int
    channel: str
    t: float  # run time (s) at which the condition had held for its persist time
    t_onset: float
    value: float  # the cell's value, rate or dV/dI (SI)
    reference: float  # pack median / neighbour median (SI)
    threshold: float  # allowed |value - reference| (SI)
    score: float  # |value - reference| / (1.4826 * MAD), inf when the MAD is 0
    unit: str
    message: str

    def data(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "family": self.family,
            "cell": self.cell,
            "channel": self.channel,
            "t": self.t,
            "t_onset": self.t_onset,
            "value": self.value,
            "reference": self.reference,
            "threshold": self.threshold,
            "score": None if not np.isfinite(self.score) else self.score,
            "unit": self.unit,
        }


class _Latch:
    """Persistence and re-arming of one condition per cell."""

    def __init__(self, persist_s: float, rearm_s: float) -> None:
        self.persist_s = persist_s
        self.rearm_s = rearm_s
        self.onset: dict[int, float] = {}
        self.fired: dict[int, float] = {}  # cell -> time the condition was last seen true after firing

    def sweep(self, t: float, cells: np.ndarray, cond: np.ndarray) -> list[tuple[int, float]]:
        """update() for every cell of `cells` (condition per cell); returns (cell, onset) of those firing.
        Only cells whose condition holds or that carry state are visited (most of a quiet pack is not)."""
        out = []
        hot = set(cells[cond].tolist())
        for i in hot | ((self.onset.keys() | self.fired.keys()) & set(cells.tolist())):
            onset = self.update(t, i, i in hot)
            if onset is not None:
                out.append((i, onset))
        return sorted(out)

    def update(self, t: float, cell: int, cond: bool) -> float | None:
        """Onset time when the cell fires now, else None."""
        if cond:
            if cell in self.fired:
                self.fired[cell] = t
                return None
            onset = self.onset.setdefault(cell, t)
            if t - onset >= self.persist_s - 1e-9:
                del self.onset[cell]
                self.fired[cell] = t
                return onset
            return None
        self.onset.pop(cell, None)
        last = self.fired.get(cell)
        if last is not None and t - last >= self.rearm_s:
            del self.fired[cell]
        return None


def _median(x: np.ndarray) -> float:
    """Median of a small array (np.median costs ~20 us of overhead; a sort of 16 values ~1 us)."""
    s = np.sort(x)
    n = s.size
    return float(s[n // 2]) if n % 2 else 0.5 * float(s[n // 2 - 1] + s[n // 2])


def _robust(x: np.ndarray) -> tuple[float, float]:
    med = _median(x)
    return med, MAD_SIGMA * _median(np.abs(x - med))


class _Family:
    """Latest value, history and derived rate of every cell of one family."""

    def __init__(self, name: str, s: DetectorSettings) -> None:
        self.name = name
        self.unit, self.show_unit, self.show = UNITS[name]
        volt = name == "cell_voltage"
        self.floor = s.voltage_floor_V if volt else s.temperature_floor_K
        self.window = s.voltage_rate_window_s if volt else s.temperature_rate_window_s
        self.rate_floor = s.voltage_rate_floor_V_per_s if volt else s.temperature_rate_floor_K_per_s
        self.keep_s = max(self.window, 3.0) + 1.0
        self.x = np.full(0, np.nan)
        self.tx = np.full(0, -np.inf)
        self.rate = np.full(0, np.nan)
        self.rate_t = np.full(0, -np.inf)
        self.hist: list[deque[tuple[float, float]]] = []
        self.channels: list[str] = []
        # dense updates (every cell of a block at once, e.g. a polled DAQ scan): snapshots of the block,
        # one per `window / 100` at most, instead of a history per cell
        self.snaps: deque[tuple[float, np.ndarray]] = deque()
        self.block: tuple[int, int] | None = None
        self.deviation = _Latch(s.persist_s, s.rearm_s)
        self.rates = _Latch(s.voltage_rate_persist_s if volt else s.temperature_rate_persist_s, s.rearm_s)

    def grow(self, n: int) -> None:
        if n <= self.x.size:
            return
        extra = n - self.x.size
        self.x = np.r_[self.x, np.full(extra, np.nan)]
        self.tx = np.r_[self.tx, np.full(extra, -np.inf)]
        self.rate = np.r_[self.rate, np.full(extra, np.nan)]
        self.rate_t = np.r_[self.rate_t, np.full(extra, -np.inf)]
        self.hist += [deque() for _ in range(extra)]
        self.channels += [f"{self.name}[{i}]" for i in range(len(self.channels), n)]

    def update(self, t: float, idx: Sequence[int], values: Sequence[float], channels: Sequence[str] | None) -> None:
        n = len(idx)
        if n >= 8 and idx[-1] - idx[0] == n - 1 and (self.block is None or self.block == (idx[0], idx[-1] + 1)):
            self._update_block(t, int(idx[0]), int(idx[-1]) + 1, np.asarray(values, dtype=np.float64), channels)
            return
        self.grow(max(idx) + 1)
        w = self.window
        for k, (i, v) in enumerate(zip(idx, values, strict=True)):
            if not np.isfinite(v):
                continue
            self.x[i] = v
            self.tx[i] = t
            if channels is not None:
                self.channels[i] = channels[k]
            h = self.hist[i]
            h.append((t, v))
            while len(h) > 2 and h[1][0] <= t - self.keep_s:
                h.popleft()
            # the oldest sample at least one window back (or the oldest kept)
            j = 0
            while j + 1 < len(h) and h[j + 1][0] <= t - w:
                j += 1
            t0, v0 = h[j]
            if t - t0 >= 0.9 * w:
                self.rate[i] = (v - v0) / (t - t0)
                self.rate_t[i] = t

    def _update_block(self, t: float, lo: int, hi: int, v: np.ndarray, channels: Sequence[str] | None) -> None:
        """A dense update of cells lo..hi-1, vectorised (hundreds of cells at 100 Hz)."""
        if self.block is None:
            self.grow(hi)
            self.block = (lo, hi)
            if channels is not None:
                self.channels[lo:hi] = list(channels)
        ok = np.isfinite(v)
        x = self.x[lo:hi]
        x[ok] = v[ok]
        self.tx[lo:hi][ok] = t
        snaps = self.snaps
        if not snaps or t - snaps[-1][0] >= self.window / 100.0:
            snaps.append((t, x.copy()))
        while len(snaps) > 2 and snaps[1][0] <= t - self.keep_s:
            snaps.popleft()
        j = 0  # the latest snapshot at least one window back
        while j + 1 < len(snaps) and snaps[j + 1][0] <= t - self.window:
            j += 1
        t0, v0 = snaps[j]
        if t - t0 >= 0.9 * self.window:
            good = ok & np.isfinite(v0)
            self.rate[lo:hi][good] = (v[good] - v0[good]) / (t - t0)
            self.rate_t[lo:hi][good] = t

    def value_before(self, i: int, t: float) -> float:
        """The cell's last sample at or before t (NaN if none kept)."""
        if self.block is not None and self.block[0] <= i < self.block[1]:
            best = np.nan
            for ts, row in self.snaps:
                if ts > t:
                    break
                best = row[i - self.block[0]]
            return float(best)
        best = np.nan
        for ts, v in self.hist[i]:
            if ts > t:
                break
            best = v
        return best


@dataclass
class _Pending:
    t_eval: float
    delay: float
    t_step: float
    d_current: float
    before: np.ndarray


class Detectors:
    """Feed samples with `push` (any thread); `process()` (one thread) runs the detectors in order."""

    def __init__(self, settings: DetectorSettings, on_anomaly: Callable[[Anomaly], None]) -> None:
        self.s = settings
        self.on_anomaly = on_anomaly
        self.feed: deque[tuple[str, float, Any, Any, Any]] = deque()
        self.families = {name: _Family(name, settings) for name in UNITS}
        self.current: deque[tuple[float, float]] = deque()
        self.current_channel = "pack_current"
        self.last_step_t = -np.inf
        self.step_level: float | None = None
        self.pending: list[_Pending] = []
        self.relax_latch = _Latch(0.0, settings.rearm_s)
        self.anomalies: list[Anomaly] = []
        self.evaluations = 0
        self.samples = 0
        self._lock = threading.Lock()

    def push(self, family: str, t: float, idx: Any, values: Any, channels: Any = None) -> None:
        """Cell samples of `family` at time t (run seconds): indices and SI values; or the pack current
        (family "pack_current", idx ignored, values = one float)."""
        self.feed.append((family, t, idx, values, channels))

    def process(self) -> list[Anomaly]:
        """Run every detector over what was pushed since the last call; returns the new anomalies."""
        new: list[Anomaly] = []
        with self._lock:
            while self.feed:
                family, t, idx, values, channels = self.feed.popleft()
                if family == "pack_current":
                    self._current(t, float(values), channels)
                elif family in self.families:
                    fam = self.families[family]
                    fam.update(t, idx, values, channels)
                    self.samples += len(idx)
                    new += self._evaluate(fam, t)
            self.anomalies += new
        for a in new:
            self.on_anomaly(a)
        return new

    # -- deviation and rate --------------------------------------------------------------
    def _evaluate(self, fam: _Family, t: float) -> list[Anomaly]:
        s = self.s
        out: list[Anomaly] = []
        fresh = np.flatnonzero(fam.tx >= t - s.max_age_s)
        if fresh.size < MIN_CELLS:
            return out
        self.evaluations += 1
        out += self._judge("deviation", fam, fam.deviation, t, fresh, fam.x[fresh], fam.floor)
        rfresh = np.flatnonzero(fam.rate_t >= t - s.max_age_s)
        if rfresh.size >= MIN_CELLS:
            out += self._judge("rate", fam, fam.rates, t, rfresh, fam.rate[rfresh], fam.rate_floor)
        if fam.name == "cell_voltage" and self.pending:
            out += self._relaxation(fam, t, fresh)
        return out

    def _judge(
        self, kind: str, fam: _Family, latch: _Latch, t: float, cells: np.ndarray, x: np.ndarray, floor: float
    ) -> list[Anomaly]:
        """Cells of `x` farther than max(k * MAD, floor) from the median, through their latch."""
        med, mad = _robust(x)
        thr = max(self.s.k * mad, floor)
        dev = np.abs(x - med)
        pos = {c: j for j, c in enumerate(cells.tolist())}
        return [
            self._anomaly(kind, fam, i, t, onset, float(x[pos[i]]), med, thr, float(dev[pos[i]]), mad)
            for i, onset in latch.sweep(t, cells, dev > thr)
        ]

    def _anomaly(
        self,
        kind: str,
        fam: _Family,
        i: int,
        t: float,
        onset: float,
        value: float,
        ref: float,
        thr: float,
        d: float,
        mad: float,
    ) -> Anomaly:
        score = d / mad if mad > 0 else float("inf")
        spread = f"{score:.3g} x MAD" if mad > 0 else "the other cells agree exactly"
        k = fam.show
        if kind == "deviation":
            unit = fam.unit
            text = (
                f"cell {i} {fam.name.split('_')[1]} {value * k:.4g} {fam.show_unit} deviates "
                f"{(value - ref) * k:+.4g} {fam.show_unit} from the pack median {ref * k:.4g} {fam.show_unit} "
                f"(limit ±{thr * k:.3g} {fam.show_unit}; {spread}) since t = {onset:.1f} s"
            )
        else:
            per = "min" if fam.name == "cell_temperature" else "s"
            f = 60.0 if per == "min" else 1.0
            unit = f"{fam.unit}/s"
            text = (
                f"cell {i} {fam.name.split('_')[1]} rate {value * k * f:+.4g} {fam.show_unit}/{per} differs from "
                f"the pack median {ref * k * f:+.4g} {fam.show_unit}/{per} by more than {thr * k * f:.3g} "
                f"{fam.show_unit}/{per} ({spread}) since t = {onset:.1f} s"
            )
        return Anomaly(kind, fam.name, i, fam.channels[i], t, onset, value, ref, thr, score, unit, text)

    # -- relaxation after a current step -------------------------------------------------
    def _current(self, t: float, current: float, channel: str | None) -> None:
        s = self.s
        if channel:
            self.current_channel = channel
        h = self.current
        h.append((t, current))
        while len(h) > 2 and h[1][0] <= t - 1.0:
            h.popleft()
        if self.step_level is not None and abs(current - self.step_level) >= 0.5 * s.current_step_A:
            self.pending.clear()  # the current moved again before the relaxation could be judged
            self.step_level = None
        t0, i0 = h[0]
        if t - t0 < 0.5 or abs(current - i0) < s.current_step_A or t - self.last_step_t < 2.0:
            return
        fam = self.families["cell_voltage"]
        if fam.x.size < MIN_CELLS:
            return
        self.last_step_t = t
        self.step_level = current
        # each cell's voltage before the step began (the current sample before it, one page round of margin)
        t_before = max(t0, t - 1.0)
        before = np.array([fam.value_before(i, t_before) for i in range(fam.x.size)])
        self.pending = [_Pending(t + d, d, t, current - i0, before) for d in s.relaxation_delays_s]

    def _relaxation(self, fam: _Family, t: float, fresh: np.ndarray) -> list[Anomaly]:
        s = self.s
        out: list[Anomaly] = []
        keep = []
        for p in self.pending:
            cells = fresh[fam.tx[fresh] >= p.t_eval]
            if cells.size < fresh.size or cells.size < MIN_CELLS:
                keep.append(p)  # not every cell has reported since the delay elapsed
                continue
            ok = cells[np.isfinite(p.before[cells])]
            if ok.size < MIN_CELLS:
                continue
            r = (fam.x[ok] - p.before[ok]) / p.d_current  # apparent resistance + relaxation, ohm
            _, mad = _robust(r)
            scale = max(mad, s.relaxation_floor_V / abs(p.d_current))
            m = s.neighbours
            for pos, i in enumerate(ok.tolist()):
                lo, hi = max(0, pos - m), min(ok.size, pos + m + 1)
                nb = np.r_[r[lo:pos], r[pos + 1 : hi]]
                if nb.size < 2:
                    continue
                ref = _median(nb)
                score = abs(r[pos] - ref) / scale
                if score > s.relaxation_k and self.relax_latch.update(t, i, True) is not None:
                    out.append(
                        Anomaly(
                            "relaxation",
                            fam.name,
                            i,
                            fam.channels[i],
                            t,
                            p.t_step,
                            float(r[pos]),
                            ref,
                            s.relaxation_k * scale,
                            score,
                            "ohm",
                            f"cell {i} voltage change {r[pos] * 1000:.3g} mV/A {p.delay:g} s after a "
                            f"{p.d_current:+.4g} A current step at t = {p.t_step:.1f} s differs from its neighbours' "
                            f"{ref * 1000:.3g} mV/A ({score:.3g} x the pack's spread, limit {s.relaxation_k:g})",
                        )
                    )
        self.pending = keep
        for i in list(self.relax_latch.fired):  # re-arm cells whose condition has not been seen for `rearm`
            self.relax_latch.update(t, i, False)
        return out
