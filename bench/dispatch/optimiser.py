"""From inputs to an optimal schedule: build once, solve, handle the throughput cap, re-solve for sweeps.

Why the throughput cap is priced rather than written as one row: a single row over all 2T power
columns couples every interval of the year and makes each simplex iteration ~10x dearer (measured
36 s against 2.5 s of CPU for a year at 15 min). The cap is therefore met exactly by its Lagrange
multiplier λ (currency per kWh of throughput): solve with throughput cost κ + λ, and search λ on
the piecewise-linear dual function by intersecting the lines of the solutions on either side of
the cap. At the breakpoint λ* both solutions are optimal for the priced problem, so the convex
combination that meets the cap with equality is optimal for the capped LP (complementary
slackness). Each step only changes costs, so HiGHS re-solves from the previous basis. The explicit
row form (`cap_mode="row"`) is kept for cross-checking on small problems.

A cold solve of a long 15-min problem starts from the same problem at hourly resolution: its cap
price is the first λ tried and its schedule, repeated over the quarter hours, is turned into a
starting basis by HiGHS's crossover (~10,000 instead of ~110,000 simplex iterations for a year).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from bench.dispatch.battery import Battery
from bench.dispatch.errors import DispatchSolveError
from bench.dispatch.load import LoadSeries
from bench.dispatch.model import IMPORT_TERMS, LpModel, build_model
from bench.dispatch.schedule import Schedule, schedule_from_solution
from bench.dispatch.solve import DispatchSolver
from bench.dispatch.tariff import Tariff, TariffSteps

MAX_CAP_ITERATIONS = 60
COARSEN = 4  # intervals merged per step of the coarse problem a cold solve starts from (15 min -> 1 h)
MIN_COARSE_INTERVALS = 24 * 28  # below four weeks of coarse intervals a cold solve is cheap enough
# Coarser than hourly blurs the time-of-use periods and PV: a second level (1 h -> 4 h) cut the CPU time of
# the benchmark's case without PV from 3.4 to 2.8 s but raised the one with PV and export from 4.3 to 9.4 s.
MAX_COARSE_STEP_S = 3600.0
# A coarser level may still give the hourly problem its first cap price (its λ only, no starting point): the
# hourly λ search then takes 3 solves instead of 8 (measured, year at 15 min: 4-hourly search 0.15 s of CPU,
# hourly stage 0.65 s instead of 0.87 s, with and without PV).
MAX_GUESS_STEP_S = 4 * 3600.0
# relative steps away from a guessed cap price until the cap is bracketed (then x 4 per step, or down to 0)
GUESS_STEPS = (1e-3, 1e-2, 0.1, 0.5)


@dataclass
class CapResult:
    x: np.ndarray
    objective: float  # without the λ term
    price: float  # λ* (0 when the cap does not bind)
    solves: int


class Optimiser:
    """One LP for one load and tariff; the battery's size, the cap and the price spread can be changed."""

    def __init__(
        self,
        load: LoadSeries,
        tariff: Tariff | None,
        battery: Battery,
        *,
        steps: TariffSteps | None = None,
        cap_mode: str = "price",
        method: str = "simplex",
        time_limit_s: float | None = None,
    ):
        t0 = time.perf_counter()
        if steps is None:
            if tariff is None:
                raise ValueError("give a tariff or its per-interval steps")
            steps = tariff.steps(load)
        self.load, self.tariff, self.battery, self.steps = load, tariff, battery, steps
        self.cap_mode = cap_mode
        self.import_limit = tariff.import_limit_kw if tariff else None
        self.export_limit = tariff.export_limit_kw if tariff else None
        self.cap = battery.throughput_limit_kwh(load.hours)
        t1 = time.perf_counter()
        self.model: LpModel = build_model(
            load,
            steps,
            battery,
            import_limit_kw=self.import_limit,
            export_limit_kw=self.export_limit,
            throughput_cap_kwh=self.cap if cap_mode == "row" else None,
        )
        t2 = time.perf_counter()
        self.solver = DispatchSolver(self.model, method=method, time_limit_s=time_limit_s, local_us=load.local_us)
        t3 = time.perf_counter()
        self.timings = {"tariff_steps_s": t1 - t0, "build_s": t2 - t1, "pass_model_s": t3 - t2}
        lay = self.model.layout
        self._cd = np.r_[np.arange(*lay.cols["charge"]), np.arange(*lay.cols["discharge"])]
        self._base_cost = self.model.cost.copy()
        self._cold = True
        self._last_price = 0.0
        self.hourly_start = True  # start the first (cold) solve from the hourly problem's schedule and cap price
        self.hourly_solves = 0
        self.started_from_hourly = False

    # -- changes (each keeps the solver's basis, so the next solve is warm) --
    def set_battery(self, battery: Battery) -> None:
        """Energy, power, SoC window and throughput cap of another battery on the same site."""
        lay, dt = self.model.layout, self.load.step_h
        e = np.arange(*lay.cols["soc"])
        lo = np.full(e.size, battery.energy_kwh * battery.soc_min)
        hi = np.full(e.size, battery.energy_kwh * battery.soc_max)
        lo[-1] = hi[-1] = battery.energy_kwh * battery.soc_initial
        self.solver.set_col_bounds(e, lo, hi)
        e0 = battery.energy_kwh * battery.soc_initial
        self.solver.set_row_bounds(np.array([lay.rows["soc_balance"][0]]), np.array([e0]), np.array([e0]))
        c = np.arange(*lay.cols["charge"])
        d = np.arange(*lay.cols["discharge"])
        self.solver.set_col_bounds(c, np.zeros(c.size), np.full(c.size, battery.charge_kw))
        self.solver.set_col_bounds(d, np.zeros(d.size), np.full(d.size, battery.discharge_kw))
        if "export" in lay.cols:
            x = np.arange(*lay.cols["export"])
            ub = np.maximum(-self.load.net_kw, 0.0) + battery.discharge_kw
            if self.export_limit is not None:
                ub = np.minimum(ub, self.export_limit)
            self.solver.set_col_bounds(x, np.zeros(x.size), ub)
        if battery.throughput_cost != self.battery.throughput_cost:
            kappa = np.full(self._cd.size, battery.throughput_cost * dt / 2)
            self._base_cost[self._cd] = kappa
            self.solver.set_costs(self._cd, kappa)
        if (battery.charge_efficiency, battery.discharge_efficiency) != (
            self.battery.charge_efficiency,
            self.battery.discharge_efficiency,
        ):
            raise ValueError("efficiencies are matrix coefficients: build a new Optimiser to change them")
        self.battery = battery
        self.cap = battery.throughput_limit_kwh(self.load.hours)
        if self.cap_mode == "row" and "throughput" in lay.cols:
            j = lay.cols["throughput"][1] - 1
            self.solver.set_col_bounds(
                np.array([j]), np.array([0.0]), np.array([np.inf if self.cap is None else self.cap])
            )

    def set_prices(self, price: np.ndarray) -> None:
        """Import price per interval (currency per kWh), e.g. a stretched peak/off-peak spread."""
        lay = self.model.layout
        delta = (np.asarray(price, float) - self.steps.price) * self.load.step_h  # the import is substituted:
        for name, sign in IMPORT_TERMS:  # its price sits on the columns it is made of, plus a constant
            if name in lay.cols:
                j = np.arange(*lay.cols[name])
                self._base_cost[j] += sign * delta
                self.solver.set_costs(j, self._base_cost[j])
        self.solver.set_offset(self.model.offset + float(delta @ self.load.net_kw))
        self.steps = TariffSteps(
            price=np.asarray(price, float),
            export_price=self.steps.export_price,
            period=self.steps.period,
            demand_windows=self.steps.demand_windows,
            demand_charge=self.steps.demand_charge,
        )

    # -- solving --
    def _objective(self, x: np.ndarray) -> float:
        """The objective without the λ term (the import's constant part included)."""
        return float(self._base_cost @ x) + self.model.offset

    def _throughput(self, x: np.ndarray) -> float:
        return float(x[self._cd].sum() * self.load.step_h / 2)

    def _solve_priced(self, lam: float) -> tuple[np.ndarray, float, float]:
        cost = self._base_cost[self._cd] + lam * self.load.step_h / 2
        self.solver.set_costs(self._cd, cost)
        raw = self.solver.solve()
        x = raw.x
        return x, self._objective(x), self._throughput(x)

    def _hourly_start(self) -> float | None:
        """Solve the same problem with COARSEN intervals merged (hourly for 15-min data), cap price included,
        and start the full problem from it: its λ as the first price, and its schedule, repeated over the
        merged intervals, as the point HiGHS's crossover turns into a starting basis.

        Why: a cold dual simplex on a year at 15 min needs ~110,000 iterations; from the hourly schedule
        it needs ~10,000 (measured 1.4 s against 3.8 s of CPU), and the hourly search for λ costs less
        than one full-size solve. Only a starting point: every result below is solved on the full problem.
        Returns the hourly λ, or None when the problem is short or already 4-hourly (then the start is cold).
        Between an hourly and a 4-hourly step (the hourly problem itself) the coarse problem's λ is returned as
        a guess without a starting point (see MAX_GUESS_STEP_S).
        """
        k = COARSEN
        n = self.load.n // k
        if n < MIN_COARSE_INTERVALS or self.load.step_s * k > MAX_GUESS_STEP_S:
            return None
        start_basis = self.load.step_s * k <= MAX_COARSE_STEP_S
        ld, st = self.load, self.steps

        def mean(a: np.ndarray) -> np.ndarray:
            return a[: n * k].reshape(n, k).mean(axis=1)

        proxy = LoadSeries(
            ld.source,
            ld.t_us[: n * k : k],
            ld.local_us[: n * k : k],
            ld.step_s * k,
            mean(ld.load_kw),
            None if ld.pv_kw is None else mean(ld.pv_kw),
            ld.timezone,
            ld.quality,
        )
        steps = TariffSteps(
            price=mean(st.price),
            export_price=None if st.export_price is None else mean(st.export_price),
            period=st.period[: n * k : k],
            demand_windows=st.demand_windows[:, : n * k].reshape(-1, n, k).any(axis=2),
            demand_charge=st.demand_charge,
        )
        coarse = Optimiser(proxy, self.tariff, self.battery, steps=steps, method=self.solver.method)
        coarse.cap = None if self.cap is None else self.cap * proxy.hours / self.load.hours
        res = coarse._solve_capped()
        self.hourly_solves = res.solves + coarse.hourly_solves
        if not start_basis:
            return res.price
        lay, cl = self.model.layout, coarse.model.layout
        T, dt, b = ld.n, ld.step_h, self.battery
        x = np.zeros(self.model.a.shape[1])
        c = np.zeros(T)
        d = np.zeros(T)
        c[: n * k] = np.repeat(res.x[cl.col("charge")], k)
        d[: n * k] = np.repeat(res.x[cl.col("discharge")], k)
        e = b.energy_kwh * b.soc_initial + np.cumsum(b.charge_efficiency * c * dt - d * dt / b.discharge_efficiency)
        e = np.clip(e, b.energy_kwh * b.soc_min, b.energy_kwh * b.soc_max)
        g = ld.net_kw + c - d
        x[lay.col("charge")], x[lay.col("discharge")], x[lay.col("soc")] = c, d, e
        if "export" in lay.cols:
            x[lay.col("export")] = np.minimum(np.maximum(-g, 0.0), self.model.col_upper[lay.col("export")])
        imp = np.maximum(self.model.grid_import(x), 0.0)
        p0 = lay.cols["peak"][0]
        for j, (kk, m) in enumerate(lay.peak_keys):
            w = st.demand_windows[kk] & (self.model.months == m)
            x[p0 + j] = max(float(imp[w].max()), 0.0)
        self.solver.set_costs(self._cd, self._base_cost[self._cd] + res.price * dt / 2)
        self.started_from_hourly = self.solver.start_from(x)
        return res.price

    def _solve_capped(self) -> CapResult:
        cap = self.cap
        if cap is not None and cap <= 0:
            xz, fz, tpz = self._solve_priced(1e6)
            if tpz > 1e-9:
                raise DispatchSolveError(
                    "a zero throughput limit cannot be met", status="infeasible", families=["throughput limit"]
                )
            return CapResult(xz, fz, 1e6, 1)
        guess = None
        if self.hourly_start and self._cold and self.cap_mode == "price":
            guess = self._hourly_start()
        elif not self._cold and self._last_price > 0:
            guess = self._last_price  # a sweep's neighbouring point: its cap price is the best first guess
        self._cold = False
        if cap is None or self.cap_mode == "row":
            x0, f0, tp0 = self._solve_priced(0.0)
            return CapResult(x0, f0, 0.0, 1)
        lam = guess if guess else 0.0
        x, f, tp = self._solve_priced(lam)
        solves = 1
        a = b = None  # (λ, x, f, throughput): a above the cap, b within it
        if tp <= cap * (1 + 1e-12) + 1e-9:
            if lam == 0.0:
                return CapResult(x, f, 0.0, solves)  # the cap does not bind
            b = (lam, x, f, tp)
        else:
            a = (lam, x, f, tp)
        # From a guess (the hourly problem's λ*, or a sweep neighbour's) the breakpoint is usually at or next to
        # it: a narrow step crosses just that breakpoint, so the solution on the other side is the adjacent
        # vertex and the intersection below is λ* at once. Measured on the year at 15 min: a step of 1.25 x
        # landed on a farther vertex and cost two more re-solves (2,400 iterations each) to come back.
        widen = iter(GUESS_STEPS) if guess else iter(())
        while a is None:  # the guess was above λ*: come down until the throughput exceeds the cap (or λ = 0)
            assert b is not None
            lam = b[0] * (1 - next(widen, 1.0))
            x, f, tp = self._solve_priced(lam)
            solves += 1
            if tp > cap:
                a = (lam, x, f, tp)
            elif lam == 0.0:
                return CapResult(x, f, 0.0, solves)
            else:
                b = (lam, x, f, tp)
        lam = a[0] * (1 + next(widen, 3.0)) if a[0] > 0 else max(float(np.abs(self.steps.price).max()), 0.01) / 10
        while b is None:  # a price high enough to bring the throughput under the cap
            x, f, tp = self._solve_priced(lam)
            solves += 1
            if tp <= cap:
                b = (lam, x, f, tp)
                break
            a = (lam, x, f, tp)
            lam *= 1 + next(widen, 3.0)
            if lam > 1e6:
                raise DispatchSolveError(
                    f"no throughput price brings throughput under the cap ({cap:.6g} kWh)",
                    status="infeasible",
                    families=["throughput limit"],
                )
        tol = 1e-9 * max(1.0, abs(a[2]))
        for _ in range(MAX_CAP_ITERATIONS):
            if abs(b[3] - cap) <= 1e-9 * max(cap, 1.0):
                return CapResult(b[1], b[2], b[0], solves)
            # the lines f + λ (tp - cap) of both sides meet at λx; if the priced optimum there lies on them,
            # λx is the breakpoint and both solutions are optimal for it
            lam_x = (b[2] - a[2]) / (a[3] - b[3])
            x, f, tp = self._solve_priced(lam_x)
            solves += 1
            dual = f + lam_x * (tp - cap)
            line = a[2] + lam_x * (a[3] - cap)
            if dual >= line - tol:
                theta = (cap - b[3]) / (a[3] - b[3])
                xc = theta * a[1] + (1 - theta) * b[1]
                return CapResult(xc, self._objective(xc), lam_x, solves)
            if tp > cap:
                a = (lam_x, x, f, tp)
            else:
                b = (lam_x, x, f, tp)
        raise DispatchSolveError(
            f"the throughput price did not converge in {MAX_CAP_ITERATIONS} solves",
            status="not converged",
            families=["throughput limit"],
        )

    def run(self) -> Schedule:
        t0 = time.perf_counter()
        c0 = time.process_time()
        res = self._solve_capped()
        self._last_price = res.price
        t1 = time.perf_counter()
        cap = self.cap
        sched = schedule_from_solution(
            self.model,
            res.x,
            load=self.load,
            steps=self.steps,
            battery=self.battery,
            objective=res.objective,
            cap=cap,
            throughput_price=res.price,
        )
        t2 = time.perf_counter()
        sched.timings = {
            **self.timings,
            "solve_s": t1 - t0,
            "solve_cpu_s": time.process_time() - c0,
            "extract_s": t2 - t1,
        }
        sched.solver = {
            "name": "HiGHS (highspy)",
            "solves": res.solves,
            "hourly_solves": self.hourly_solves,
            "started_from_hourly": self.started_from_hourly,
            "cap_mode": self.cap_mode,
            "throughput_price": res.price,
        }
        return sched


def optimise(load: LoadSeries, tariff: Tariff, battery: Battery, **kwargs: object) -> Schedule:
    """Build, solve and check in one call (what `bench dispatch` does for a single battery)."""
    return Optimiser(load, tariff, battery, **kwargs).run()  # type: ignore[arg-type]
