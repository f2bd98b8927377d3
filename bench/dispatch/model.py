"""The dispatch LP: variables, constraints and objective as sparse arrays (docs/dispatch.md has the maths).

Why vectorised: a year at 15 min has 35,040 steps and ~140,000 variables; the constraint matrix is
built from numpy index arrays in one COO -> CSC conversion (tens of milliseconds), so building
stays a small fraction of the solver's time. Every variable and row belongs to a named family
(`Layout`), which is how an infeasible or unbounded result is explained in the user's terms.

Units inside the model: kW for power, kWh for energy, hours for Δt, currency for cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from bench.dispatch.battery import Battery
from bench.dispatch.load import LoadSeries
from bench.dispatch.tariff import TariffSteps

INF = np.inf
# grid import = load − PV + Σ sign · column: an expression, not a column (see build_model)
IMPORT_TERMS = (("charge", 1.0), ("discharge", -1.0), ("export", 1.0), ("curtail", 1.0))

# family name -> what it means to a user (used in error messages)
COLUMN_FAMILIES = {
    "charge": "charge power (0 .. rated charge power)",
    "discharge": "discharge power (0 .. rated discharge power)",
    "soc": "state-of-charge window (soc_min .. soc_max, end = start)",
    "export": "grid export (<= [export] limit)",
    "curtail": "PV curtailment (0 .. PV)",
    "peak": "monthly demand peak (demand charges)",
    "throughput": "throughput limit (cumulative throughput <= cap at the end)",
}
ROW_FAMILIES = {
    "soc_balance": "state-of-charge balance e[t] = e[t-1] + ηc·c·Δt − d·Δt/ηd",
    "grid_import": "grid import (>= 0, <= [grid] import_limit) = load − PV + curtailed + charge − discharge + export",
    "demand": "demand peak >= import in each interval of its window",
    "throughput": "cumulative throughput u[t] = u[t-1] + (charge + discharge)·Δt/2",
}


@dataclass
class Layout:
    """Where each family of columns and rows starts, so a solution or an IIS can be read by name."""

    cols: dict[str, tuple[int, int]] = field(default_factory=dict)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    peak_keys: list[tuple[int, int]] = field(default_factory=list)  # (demand charge k, month m) per peak column
    demand_rows: np.ndarray | None = None  # interval of each demand row

    def col_family(self, j: int) -> tuple[str, int]:
        for name, (a, b) in self.cols.items():
            if a <= j < b:
                return name, j - a
        raise IndexError(j)

    def row_family(self, i: int) -> tuple[str, int]:
        for name, (a, b) in self.rows.items():
            if a <= i < b:
                return name, i - a
        raise IndexError(i)

    def col(self, name: str) -> slice:
        a, b = self.cols[name]
        return slice(a, b)

    def row(self, name: str) -> slice:
        a, b = self.rows[name]
        return slice(a, b)


@dataclass
class LpModel:
    """min cost·x subject to row_lower <= A x <= row_upper, col_lower <= x <= col_upper (A in CSC)."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    a: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    layout: Layout
    step_h: float
    months: np.ndarray
    month_labels: list[str]
    net_kw: np.ndarray | None = None  # load − PV: grid import = net_kw + Σ sign · x[IMPORT_TERMS]
    offset: float = 0.0  # constant cost not in the variables: Σ price · (load − PV) · Δt

    def grid_import(self, x: np.ndarray) -> np.ndarray:
        """Grid import per interval [kW] of a solution: load − PV + charge − discharge + export + curtailed."""
        lay = self.layout
        g = np.array(self.net_kw, float, copy=True)
        for name, sign in IMPORT_TERMS:
            if name in lay.cols:
                g += sign * x[lay.col(name)]
        return g

    @property
    def size(self) -> dict[str, int]:
        return {"rows": int(self.a.shape[0]), "columns": int(self.a.shape[1]), "nonzeros": int(self.a.nnz)}


def build_model(
    load: LoadSeries,
    steps: TariffSteps,
    battery: Battery,
    *,
    import_limit_kw: float | None = None,
    export_limit_kw: float | None = None,
    throughput_cap_kwh: float | None = None,
) -> LpModel:
    """Assemble the LP for one horizon (the whole load series)."""
    T = load.n
    dt = load.step_h
    months, labels = load.months()
    e_max = battery.energy_kwh * battery.soc_max
    e_min = battery.energy_kwh * battery.soc_min
    e0 = battery.energy_kwh * battery.soc_initial
    pc, pd = battery.charge_kw, battery.discharge_kw
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    net = load.net_kw
    pv = load.pv_kw
    has_export = steps.export_price is not None
    has_curtail = pv is not None and bool((pv > 0).any())

    layout = Layout()
    n = 0
    for name, present in (
        ("charge", True),
        ("discharge", True),
        ("soc", True),
        ("export", has_export),
        ("curtail", has_curtail),
    ):
        if present:
            layout.cols[name] = (n, n + T)
            n += T
    # one peak variable per (demand charge, month) that has at least one interval in its window
    K = steps.demand_windows.shape[0]
    M = len(labels)
    peak_keys = []
    for k in range(K):
        present = np.zeros(M, bool)
        present[months[steps.demand_windows[k]]] = True
        peak_keys += [(k, m) for m in np.flatnonzero(present)]
    layout.peak_keys = peak_keys
    layout.cols["peak"] = (n, n + len(peak_keys))
    n += len(peak_keys)

    cost = np.zeros(n)
    lo = np.zeros(n)
    hi = np.full(n, INF)
    c_, d_, e_ = (layout.col(x) for x in ("charge", "discharge", "soc"))
    kappa = battery.throughput_cost
    cost[c_] = kappa * dt / 2
    cost[d_] = kappa * dt / 2
    # the import g = net + c − d + q + u is substituted: its price moves onto those columns plus a constant
    import_cost = steps.price * dt
    for name, sign in IMPORT_TERMS:
        if name in layout.cols:
            cost[layout.col(name)] += sign * import_cost
    offset = float(import_cost @ net)
    hi[c_] = pc
    hi[d_] = pd
    lo[e_], hi[e_] = e_min, e_max
    lo[e_.stop - 1] = hi[e_.stop - 1] = e0  # the schedule ends where it starts
    if has_export:
        x_ = layout.col("export")
        cost[x_] -= steps.export_price * dt
        # the most a site can export is its PV surplus plus a full discharge: without this bound an export
        # price above the import price would make importing-to-export unbounded
        hi[x_] = np.maximum(-net, 0.0) + pd
        if export_limit_kw is not None:
            hi[x_] = np.minimum(hi[x_], export_limit_kw)
    if has_curtail:
        hi[layout.col("curtail")] = pv
    p_ = layout.col("peak")
    if peak_keys:
        cost[p_] = steps.demand_charge[[k for k, _ in peak_keys]]

    t = np.arange(T)
    rows_i: list[np.ndarray] = []
    cols_j: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
        rows_i.append(r)
        cols_j.append(c)
        vals.append(np.broadcast_to(np.asarray(v, float), r.shape))

    # SoC balance: e[t] - e[t-1] - ηc Δt c[t] + Δt/ηd d[t] = 0 (e[-1] = e0 moves to the right-hand side)
    r0 = 0
    add(r0 + t, e_.start + t, 1.0)
    add(r0 + t[1:], e_.start + t[:-1], -1.0)
    add(r0 + t, c_.start + t, -eta_c * dt)
    add(r0 + t, d_.start + t, dt / eta_d)
    layout.rows["soc_balance"] = (r0, r0 + T)
    rl = [np.zeros(T)]
    ru = [np.zeros(T)]
    rl[0][0] = ru[0][0] = e0
    # grid import: 0 <= g[t] = net[t] + c[t] − d[t] + q[t] + u[t] <= import limit, one row per interval (the
    # site balance with the import substituted)
    terms = [(layout.cols[name][0], sign) for name, sign in IMPORT_TERMS if name in layout.cols]
    r1 = T
    for start, sign in terms:
        add(r1 + t, start + t, sign)
    layout.rows["grid_import"] = (r1, r1 + T)
    rl.append(-net.astype(float))
    ru.append(np.full(T, INF) if import_limit_kw is None else import_limit_kw - net)
    # demand: g[t] − peak[k, m(t)] <= 0 for every t in window k, i.e. c − d + q + u − peak <= −net
    r2 = 2 * T
    peak_index = {key: p_.start + i for i, key in enumerate(peak_keys)}
    lookup = np.full((K, M), -1, np.int64)
    for (k, m), j in peak_index.items():
        lookup[k, m] = j
    kk, tt = np.nonzero(steps.demand_windows)
    nd = kk.size
    rr = r2 + np.arange(nd)
    for start, sign in terms:
        add(rr, start + tt, sign)
    add(rr, lookup[kk, months[tt]], -1.0)
    layout.rows["demand"] = (r2, r2 + nd)
    layout.demand_rows = tt
    rl.append(np.full(nd, -INF))
    ru.append(-net[tt].astype(float))
    nrows = r2 + nd
    if throughput_cap_kwh is not None:
        # cumulative throughput u[t] = u[t-1] + (c[t] + d[t])·Δt/2 with u[T-1] <= cap: a chain of sparse rows
        # instead of one row over all 2T power columns, which fills every basis factor (10x slower simplex)
        u0 = n
        n += T
        layout.cols["throughput"] = (u0, u0 + T)
        cost = np.concatenate([cost, np.zeros(T)])
        lo = np.concatenate([lo, np.zeros(T)])
        hi = np.concatenate([hi, np.full(T, INF)])
        hi[u0 + T - 1] = throughput_cap_kwh
        rr = nrows + t
        add(rr, u0 + t, 1.0)
        add(rr[1:], u0 + t[:-1], -1.0)
        add(rr, c_.start + t, -dt / 2)
        add(rr, d_.start + t, -dt / 2)
        layout.rows["throughput"] = (nrows, nrows + T)
        rl.append(np.zeros(T))
        ru.append(np.zeros(T))
        nrows += T
    a = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_j))), shape=(nrows, n)
    ).tocsc()
    return LpModel(
        cost=cost,
        col_lower=lo,
        col_upper=hi,
        a=a,
        row_lower=np.concatenate(rl),
        row_upper=np.concatenate(ru),
        layout=layout,
        step_h=dt,
        months=months,
        month_labels=labels,
        net_kw=np.asarray(net, float),
        offset=offset,
    )
