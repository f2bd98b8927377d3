"""The DC node: pack behind the contactor, supply and load on the bus; solved every step.

Every element is described by its current *injected into the bus* as a piecewise-linear,
non-increasing function of bus voltage: a tuple (breakpoints, segments) where segment k holds
(J, G) with I(V) = J - G*V between breakpoints k-1 and k. A jump at a breakpoint is a vertical
segment: an ideal voltage source with a current window (supply in CV between its negative and
positive current limits, a load in CV up to its current limit). Kirchhoff's current law,
sum I(V) = 0, then has exactly one solution, found by walking the intervals: a CC-CV charge,
current-limit hand-over and sink mode all fall out of the same solve without special cases.
Non-linear characteristics (constant power) are linearised and iterated by the caller.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

Element = tuple[tuple[float, ...], tuple[tuple[float, float], ...]]


class BusDevice(Protocol):
    """What the solver needs from the supply and the load."""

    nonlinear: bool  # True when element() depends on the voltage guess (power limits, CP)

    def element(self, v_guess: float) -> Element | None: ...


V_MAX_DOMAIN = 1.0e5


def solve_node(elements: list[Element]) -> float:
    """Bus voltage where the sum of injected currents is zero (elements must be non-increasing)."""
    bps: list[float] = []  # plain loops: for a breakpoint or two, cheaper than a set comprehension
    for br, _ in elements:
        for b in br:
            if 0.0 < b < V_MAX_DOMAIN and b not in bps:
                bps.append(b)
    bps.sort()
    bps.append(V_MAX_DOMAIN)
    lo = 0.0
    for hi in bps:
        mid = 0.5 * (lo + hi)
        J = 0.0
        G = 0.0
        for br, segs in elements:
            j, g = segs[bisect_right(br, mid)] if br else segs[0]
            J += j
            G += g
        if J - G * lo <= 0.0:
            return lo  # the crossing sits on the breakpoint: a vertical segment holds it
        if J - G * hi <= 0.0:
            return J / G
        lo = hi
    return V_MAX_DOMAIN


def element_currents(elements: list[Element], V: float) -> list[float]:
    """Current of each element at the solved voltage; vertical segments take the balance."""
    out: list[float] = [0.0] * len(elements)
    vertical: list[tuple[int, float, float]] = []
    total = 0.0
    for n, (br, segs) in enumerate(elements):
        if br and V in br:
            k = br.index(V)
            j_hi, g_hi = segs[k]
            j_lo, g_lo = segs[k + 1]
            vertical.append((n, j_lo - g_lo * V, j_hi - g_hi * V))
            continue
        j, g = segs[bisect_right(br, V)] if br else segs[0]
        i = j - g * V
        out[n] = i
        total += i
    residual = -total
    for n, i_min, i_max in vertical:
        i = min(max(residual, i_min), i_max)
        out[n] = i
        residual -= i
    return out


class Bus:
    """Node state: voltage and the three branch currents, plus the contactor path to the pack."""

    def __init__(self, cfg: dict) -> None:
        self.bleeder_ohm = float(cfg.get("bleeder_ohm", 1.0e6))  # keeps an unpowered bus at 0 V
        self.precharge_ohm = float(cfg.get("precharge_ohm", 10.0))
        self.voltage_V = 0.0
        self.pack_current_A = 0.0  # + = out of the pack (discharge)
        self.supply_current_A = 0.0  # + = supply sourcing into the bus
        self.load_current_A = 0.0  # + = load sinking
        self.pack_connected = False
        self._g_bleed = 1.0 / self.bleeder_ohm
        self._bleed_el: Element = ((), ((0.0, self._g_bleed),))

    def solve(
        self, pack_E_V: float, pack_R_ohm: float, path: int, supply: BusDevice, load: BusDevice, iterations: int = 6
    ) -> float:
        """Solve the node for this step. path: 0 open, 1 via precharge resistor, 2 contactor closed.

        `supply` and `load` provide `element(v_guess)` returning an Element or None (off) and
        `nonlinear` (True when their characteristic depends on the guess, e.g. power limits).
        """
        pack_el: Element | None = None
        if path:
            R = pack_R_ohm + (self.precharge_ohm if path == 1 else 0.0)
            pack_el = ((), ((pack_E_V / R, 1.0 / R),))
        bleed_el = self._bleed_el
        v = self.voltage_V if self.voltage_V > 0.0 else (pack_E_V if path else 0.0)
        for _ in range(iterations):
            els: list[Element] = [bleed_el]
            if pack_el is not None:
                els.append(pack_el)
            s_el = supply.element(v)
            l_el = load.element(v)
            if s_el is not None:
                els.append(s_el)
            if l_el is not None:
                els.append(l_el)
            v_new = solve_node(els)
            if not (supply.nonlinear or load.nonlinear) or abs(v_new - v) <= 1e-7 * (1.0 + v):
                v = v_new
                break
            v = v_new
        currents = element_currents(els, v)
        k = 1
        self.pack_current_A = 0.0
        if pack_el is not None:
            self.pack_current_A = currents[k]
            k += 1
        self.supply_current_A = 0.0
        if s_el is not None:
            self.supply_current_A = currents[k]
            k += 1
        self.load_current_A = -currents[k] if l_el is not None else 0.0
        self.voltage_V = v
        self.pack_connected = path == 2
        return v
