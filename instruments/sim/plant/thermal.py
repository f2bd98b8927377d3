"""Lumped thermal model: one node per cell, conduction to neighbours, convection to chamber air.

    C_i dT_i/dt = Q_i - hA (T_i - T_air) - sum_j k_ij (T_i - T_j)

Neighbours are the adjacent cells along the series string and within a parallel group (cells of
a module sit side by side). The network is integrated with backward Euler, which is
unconditionally stable, so a long step never makes temperatures oscillate. The implicit matrix
depends only on the step length and the convection coefficient (fan of the chamber on or off), so
its inverse is cached and a step costs one matrix-vector product.
"""

from __future__ import annotations

import numpy as np

_DENSE_LIMIT = 1024  # above this many cells fall back to an explicit stencil with sub-steps


class ThermalNetwork:
    """Per-cell temperatures for a pack of shape (S, P)."""

    def __init__(
        self,
        shape: tuple[int, int],
        heat_capacity_J_per_K: np.ndarray,
        hA_still_W_per_K: float,
        hA_forced_W_per_K: float,
        k_series_W_per_K: float,
        k_parallel_W_per_K: float,
        edge_cooling_factor: float = 1.5,
    ) -> None:
        self.shape = shape
        S, P = shape
        n = S * P
        self.n = n
        self.C = np.broadcast_to(np.asarray(heat_capacity_J_per_K, dtype=float), shape).copy()
        # Cells at the ends of the string face an end plate / open air: more cooling area.
        edge = np.ones(shape)
        edge[[0, -1], :] = edge_cooling_factor
        self.hA_still = float(hA_still_W_per_K) * edge
        self.hA_forced = float(hA_forced_W_per_K) * edge
        self.k_series = float(k_series_W_per_K)
        self.k_parallel = float(k_parallel_W_per_K)
        self._invC = 1.0 / self.C
        self._cache: dict[tuple[float, bool], np.ndarray] = {}
        self._seen: dict[tuple[float, bool], int] = {}
        self._L: np.ndarray | None = None
        # Products of the last step, reused while their inputs repeat (same step length; air steady)
        self._h_invC = (-1.0, self._invC)  # (h, h / C)
        self._air_in = (False, float("nan"), self.hA_still)  # (forced, T_air, hA * T_air)
        g_max = float(self.hA_forced.max()) + 2.0 * (self.k_series + self.k_parallel)
        self._h_stable = 0.4 * float(self.C.min()) / g_max  # explicit Euler is safe below this
        if n <= _DENSE_LIMIT:
            L = np.zeros((n, n))
            idx = np.arange(n).reshape(shape)
            for a, b, k in ((idx[:-1, :], idx[1:, :], self.k_series), (idx[:, :-1], idx[:, 1:], self.k_parallel)):
                a = a.ravel()
                b = b.ravel()
                L[a, b] -= k
                L[b, a] -= k
                L[a, a] += k
                L[b, b] += k
            self._L = L

    def _matrix(self, h: float, forced: bool) -> np.ndarray:
        key = (h, forced)
        m = self._cache.get(key)
        if m is None:
            if len(self._cache) > 16:
                self._cache.clear()
            hA = self.hA_forced if forced else self.hA_still
            A = np.eye(self.n) + h * (self._invC.ravel()[:, None] * (self._L + np.diag(hA.ravel())))
            m = np.linalg.inv(A)
            self._cache[key] = m
        return m

    def step(self, T_degC: np.ndarray, Q_W: np.ndarray, T_air_degC: float, h: float, forced: bool) -> np.ndarray:
        """Temperatures after h seconds with heat Q_W (W per cell) and chamber air T_air."""
        hA = self.hA_forced if forced else self.hA_still
        if self._L is not None:
            key = (h, forced)
            m = self._cache.get(key)
            if m is None and h <= self._h_stable:
                seen = self._seen.get(key, 0) + 1
                if len(self._seen) > 256:
                    self._seen.clear()
                self._seen[key] = seen
                if seen < 3:  # an odd step length (deadline landing, jitter): not worth an inverse
                    return self._explicit(T_degC, Q_W, T_air_degC, h, hA)
            if self._h_invC[0] != h:
                self._h_invC = (h, h * self._invC)
            air = self._air_in
            if air[1] != T_air_degC or air[0] != forced:
                air = self._air_in = (forced, T_air_degC, hA * T_air_degC)
            rhs = T_degC + self._h_invC[1] * (Q_W + air[2])
            if m is None:
                m = self._matrix(h, forced)
            return np.dot(m, rhs.ravel()).reshape(self.shape)  # np.dot: same BLAS product as @, less overhead
        return self._explicit(T_degC, Q_W, T_air_degC, h, hA)

    def _explicit(self, T: np.ndarray, Q: np.ndarray, T_air: float, h: float, hA: np.ndarray) -> np.ndarray:
        """Stencil integration for very large packs, sub-stepped below the stability bound."""
        n_sub = max(1, int(np.ceil(h / self._h_stable)))
        hs = h / n_sub
        T = T.copy()
        for _ in range(n_sub):
            flow = Q - hA * (T - T_air)
            d = np.diff(T, axis=0) * self.k_series
            flow[:-1] += d
            flow[1:] -= d
            d = np.diff(T, axis=1) * self.k_parallel
            flow[:, :-1] += d
            flow[:, 1:] -= d
            T += hs * self._invC * flow
        return T

    def heat_loss_W(self, T_degC: np.ndarray, index: tuple[int, int], T_air_degC: float, forced: bool) -> float:
        """Heat leaving one cell now (to air and neighbours): what a rate-controlled heater must add."""
        s, p = index
        hA = self.hA_forced if forced else self.hA_still
        T = T_degC[s, p]
        loss = hA[s, p] * (T - T_air_degC)
        S, P = self.shape
        for ds, dp, k in (
            (-1, 0, self.k_series),
            (1, 0, self.k_series),
            (0, -1, self.k_parallel),
            (0, 1, self.k_parallel),
        ):
            if 0 <= s + ds < S and 0 <= p + dp < P:
                loss += k * (T - T_degC[s + ds, p + dp])
        return float(loss)
