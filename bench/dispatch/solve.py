"""Solving the dispatch LP with HiGHS (highspy) and reading the result back by family.

Why highspy rather than scipy's linprog wrapper: the same solver (HiGHS), but the model stays in
memory, so a sizing sweep changes a few bounds or costs and re-solves from the previous basis (a
fraction of a cold solve), and an infeasible model yields an irreducible infeasible subset (IIS)
that names the constraint families at fault. A result is either an optimum or a DispatchSolveError;
never an empty schedule.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass

import highspy
import numpy as np

from bench.analyze.quality import fmt_time
from bench.dispatch.errors import DispatchSolveError, InfeasibleError, UnboundedError
from bench.dispatch.model import COLUMN_FAMILIES, ROW_FAMILIES, LpModel

MS = highspy.HighsModelStatus
IIS_STRATEGIES = (0, 4)  # HiGHS iis_strategy: 0 light, 4 irreducible (from the LP, deletion filter)


def _new_highs() -> highspy.Highs:
    """A Highs instance without the banner its C++ constructor prints on standard output.

    `bench dispatch` output goes to stdout and may be piped; the banner (version, licence) is not
    a result. It is written by C++ before any option can be set, so stdout's file descriptor is
    pointed at /dev/null for the construction only.
    """
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stdout without a descriptor
        return highspy.Highs()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            h = highspy.Highs()
    finally:
        os.dup2(saved, fd)
        os.close(saved)
    return h


@dataclass
class RawSolution:
    x: np.ndarray
    objective: float
    status: str
    solve_s: float
    iterations: int


class DispatchSolver:
    """One HiGHS instance holding the model; bounds and costs can be changed and re-solved warm."""

    def __init__(
        self,
        model: LpModel,
        *,
        method: str = "simplex",
        time_limit_s: float | None = None,
        local_us: np.ndarray | None = None,
    ):
        self.model = model
        self.local_us = local_us
        self.h = _new_highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("solver", method)
        self.method = method
        if time_limit_s is not None:
            self.h.setOptionValue("time_limit", float(time_limit_s))
        # the array form of passModel: one copy of each array into HiGHS, where filling a HighsLp copies every
        # array twice (measured, year at 15 min with PV: 0.02 s against 0.11 s of CPU)
        m = model
        n_col, n_row = int(m.a.shape[1]), int(m.a.shape[0])
        status = self.h.passModel(
            n_col,
            n_row,
            int(m.a.nnz),
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            float(m.offset),
            m.cost,
            m.col_lower,
            m.col_upper,
            m.row_lower,
            m.row_upper,
            m.a.indptr.astype(np.int32),
            m.a.indices.astype(np.int32),
            m.a.data,
            np.zeros(n_col, np.int32),
        )  # continuous
        if status == highspy.HighsStatus.kError:
            raise DispatchSolveError("HiGHS refused the dispatch LP (passModel)", status="model error")
        self._has_basis = False  # a cold first solve (presolve, steepest edge); then warm (see solve)

    # -- changes for sweeps (the basis is kept, so the next solve starts warm) --
    def set_col_bounds(self, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        idx = np.asarray(idx, np.int32)
        self.model.col_lower[idx] = lower
        self.model.col_upper[idx] = upper
        self.h.changeColsBounds(len(idx), idx, np.asarray(lower, float), np.asarray(upper, float))

    def set_row_bounds(self, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        idx = np.asarray(idx, np.int32)
        self.model.row_lower[idx] = lower
        self.model.row_upper[idx] = upper
        self.h.changeRowsBounds(len(idx), idx, np.asarray(lower, float), np.asarray(upper, float))

    def set_costs(self, idx: np.ndarray, cost: np.ndarray) -> None:
        idx = np.asarray(idx, np.int32)
        self.model.cost[idx] = cost
        self.h.changeColsCost(len(idx), idx, np.asarray(cost, float))

    def set_offset(self, offset: float) -> None:
        self.model.offset = float(offset)
        self.h.changeObjectiveOffset(float(offset))

    def start_from(self, x: np.ndarray) -> bool:
        """Crossover from a (nearly feasible) point to a basis, so the next solve starts there instead of
        from scratch; False when HiGHS could not use it (the next solve is then cold)."""
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(x, float)
        sol.row_value = np.asarray(self.model.a @ x, float)
        sol.value_valid = True
        status = self.h.crossover(sol)
        ok = status != highspy.HighsStatus.kError
        self._has_basis = self._has_basis or ok
        return ok

    def solve(self) -> RawSolution:
        """Solve, warm when a basis is kept (after a previous solve or a crossover start), with the dual simplex.

        Pricing: a cold solve uses HiGHS's choice (dual steepest edge, from the slack basis, after presolve);
        a warm solve uses devex. Why (measured on the year at 15 min, CPU s): on a kept basis HiGHS first
        computes exact steepest-edge weights for every one of the ~110,000 rows, which costs more than the
        re-solve itself: a cost change across the throughput price's breakpoint took 0.64 s with steepest
        edge, 0.19 s with devex and 0.51 s with the primal simplex; the first full solve after the hourly
        start 1.08 s against 0.68 s. A cold solve with devex is slower (2.2 s against 1.5 s), hence the switch.
        """
        if self.method == "simplex":
            self.h.setOptionValue("simplex_strategy", 1)  # dual
            self.h.setOptionValue("simplex_dual_edge_weight_strategy", 1 if self._has_basis else -1)
        t0 = time.perf_counter()
        self.h.run()
        solve_s = time.perf_counter() - t0
        status = self.h.getModelStatus()
        if status == MS.kOptimal:
            self._has_basis = True
            sol = self.h.getSolution()
            info = self.h.getInfo()
            return RawSolution(
                x=np.asarray(sol.col_value),
                objective=float(info.objective_function_value),
                status="optimal",
                solve_s=solve_s,
                iterations=int(info.simplex_iteration_count + info.ipm_iteration_count),
            )
        text = self.h.modelStatusToString(status)
        if status in (MS.kUnboundedOrInfeasible, MS.kUnbounded, MS.kInfeasible):
            if status == MS.kUnboundedOrInfeasible:  # presolve could not tell: ask again without it
                self.h.setOptionValue("presolve", "off")
                self.h.run()
                self.h.setOptionValue("presolve", "choose")
                status = self.h.getModelStatus()
            if status == MS.kInfeasible:
                families, details = self._diagnose_infeasible()
                raise InfeasibleError(
                    "the dispatch problem is infeasible: no schedule meets every constraint",
                    status="infeasible",
                    families=families,
                    details=details,
                )
            if status in (MS.kUnbounded, MS.kUnboundedOrInfeasible):
                families, details = self._diagnose_unbounded()
                raise UnboundedError(
                    "the dispatch problem is unbounded: the cost can be lowered without limit",
                    status="unbounded",
                    families=families,
                    details=details,
                )
            text = self.h.modelStatusToString(status)
        raise DispatchSolveError(f"HiGHS stopped without an optimum: {text}", status=text)

    # -- explanations --
    def _when(self, t: int) -> str:
        if self.local_us is None or not 0 <= t < len(self.local_us):
            return f"interval {t}"
        return f"{fmt_time(self.local_us[t])} (interval {t})"

    def _col_text(self, j: int) -> tuple[str, str]:
        fam, k = self.model.layout.col_family(j)
        if fam == "peak":
            dc, m = self.model.layout.peak_keys[k]
            return fam, f"{COLUMN_FAMILIES[fam]}: charge #{dc}, {self.model.month_labels[m]}"
        return fam, f"{COLUMN_FAMILIES[fam]} at {self._when(k)}"

    def _row_text(self, i: int) -> tuple[str, str]:
        fam, k = self.model.layout.row_family(i)
        if fam == "demand" and self.model.layout.demand_rows is not None:
            k = int(self.model.layout.demand_rows[k])
        return fam, f"{ROW_FAMILIES[fam]} at {self._when(k)}"

    def _diagnose_infeasible(self) -> tuple[list[str], list[str]]:
        cols: list[int] = []
        rows: list[int] = []
        # HiGHS's light IIS first (cheap: bound and row checks); if that finds nothing, its irreducible
        # deletion filter, which re-solves sub-problems (slower, only ever on this error path)
        for strategy in IIS_STRATEGIES:
            self.h.setOptionValue("iis_strategy", strategy)
            status, iis = self.h.getIis()
            if status == highspy.HighsStatus.kOk and iis.valid_:
                cols, rows = list(iis.col_index_), list(iis.row_index_)
            if cols or rows:
                break
        if not cols and not rows:
            return ["unknown (HiGHS found no irreducible infeasible subset)"], []
        fams: Counter[str] = Counter()
        details = []
        for j in cols:
            fam, text = self._col_text(int(j))
            fams[COLUMN_FAMILIES[fam]] += 1
            details.append(text)
        for i in rows:
            fam, text = self._row_text(int(i))
            fams[ROW_FAMILIES[fam]] += 1
            details.append(text)
        return [f"{name} ({n})" for name, n in fams.most_common()], details

    def _diagnose_unbounded(self) -> tuple[list[str], list[str]]:
        status, has_ray, ray = self.h.getPrimalRay()
        if not has_ray:
            return ["unknown (HiGHS gave no primal ray)"], []
        cost = self.model.cost
        fams: Counter[str] = Counter()
        details = []
        for j in np.flatnonzero(np.abs(np.asarray(ray)) > 1e-9):
            fam, text = self._col_text(int(j))
            fams[COLUMN_FAMILIES[fam]] += 1
            if len(details) < 10:
                details.append(f"{text} (cost {cost[j]:g} per unit, ray {ray[j]:+g})")
        return [f"{name} ({n})" for name, n in fams.most_common()], details
