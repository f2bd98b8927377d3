"""State of charge for the resistance, pulse and self-discharge steps: counted against THIS module.

Why: a second-life module at 50-80 % state of health holds far less than its rated capacity.
Setting "50 % SOC" by counting rated ampere-hours drains a faded module to its protection limit
and makes every later figure meaningless. So a SOC is counted against the capacity measured in
step 5 or, when that step did not produce one, against the BMS-reported state of health or the
passport's remaining capacity (in that order), and the origin is journalled. Every move is
guarded by the cell voltages (never beyond the charge guard or the discharge cut-off); a target
that cannot be reached within `soc.tolerance` is a precondition failure (NotMeasurable), not an
abort. When the SOC is unknown (no capacity step), the module is first discharged to the cell
cut-off, which defines 0 %.
"""

from __future__ import annotations

from typing import Any

import pint

from bench.units import Q_
from test_plans.module_intake.procedures import (
    allowed_current,
    bms_status,
    cc_cv_charge,
    cc_discharge,
    rearm,
)
from test_plans.module_intake.state import IntakeState, ModuleSpec, NotMeasurable, SocBasis, fraction


def capacity_basis(intake: IntakeState, module: ModuleSpec, bms: Any, dut: dict[str, Any], limits: Any) -> SocBasis:
    """The capacity SOC is counted against: measured, else BMS SOH x rated, else the passport's figure."""
    if intake.capacity_ah is not None:
        return SocBasis(intake.capacity_ah.to("A*h"), "measured in the capacity step")
    low, high = (fraction(x) for x in limits.param("soc.basis_soh_range"))
    soh = bms.status().soh
    if soh is not None and low <= fraction(soh) <= high:
        return SocBasis(
            (fraction(soh) * module.rated_capacity).to("A*h"),
            f"BMS-reported state of health {soh.to('percent'):~.1fP} x rated {module.rated_capacity:~P}",
        )
    hist = dut.get("history") or {}
    for key in ("remaining_capacity", "soh"):
        raw = hist.get(key, dut.get(key))
        if raw in (None, ""):
            continue
        q = raw if isinstance(raw, pint.Quantity) else Q_(str(raw))
        if key == "soh":
            if q.dimensionless and low <= fraction(q) <= high:
                return SocBasis(
                    (fraction(q) * module.rated_capacity).to("A*h"),
                    f"passport state of health {q.to('percent'):~.1fP} x rated",
                )
        elif (
            q.dimensionality == module.rated_capacity.dimensionality
            and low <= fraction(q / module.rated_capacity) <= high
        ):
            return SocBasis(q.to("A*h"), f"passport remaining capacity {q:~P}")
    raise NotMeasurable(
        "no capacity to count a state of charge against: the capacity step gave none, the BMS "
        "reports no plausible state of health and the passport gives no remaining capacity"
    )


class SocMover:
    """Moves the module to SOC targets by ampere-hour counting, within the cell limits."""

    def __init__(
        self,
        *,
        psu: Any,
        load: Any,
        bms: Any,
        clock: Any,
        limits: Any,
        module: ModuleSpec,
        intake: IntakeState,
        dut: dict[str, Any],
        event: Any,
    ) -> None:
        self.psu, self.load, self.bms, self.clock = psu, load, bms, clock
        self.p = limits.param
        self.limits = limits
        self.module = module
        self.intake = intake
        self.dut = dut
        self.event = event

    def ensure_armed(self) -> None:
        """Re-arm the BMS if an earlier phase left it in ERROR; NotMeasurable if it stays there."""
        if bms_status(self.bms, self.clock, self.p("bms.stale_retry")).state != "ERROR":
            return
        ok = rearm(
            self.bms,
            self.psu,
            self.load,
            self.clock,
            timeout=self.p("bms.rearm_timeout"),
            poll=self.p("bms.rearm_poll"),
        )
        self.intake.bms_armed = ok
        if not ok:
            raise NotMeasurable("the BMS stays in ERROR and cannot be re-armed", tripped=True)
        self.event("bms_rearm", "BMS re-armed (was in ERROR after an earlier phase)")

    def basis(self) -> SocBasis:
        if self.intake.basis is None or (
            self.intake.capacity_ah is not None and self.intake.basis.capacity != self.intake.capacity_ah
        ):
            self.intake.basis = capacity_basis(self.intake, self.module, self.bms, self.dut, self.limits)
            self.event(
                "soc_basis",
                f"state of charge counted against {self.intake.basis.capacity:~.4gP} ({self.intake.basis.source})",
                {
                    "capacity_Ah": float(self.intake.basis.capacity.to("A*h").magnitude),
                    "source": self.intake.basis.source,
                },
            )
        return self.intake.basis

    def _rate(self, direction: str) -> pint.Quantity:
        st = bms_status(self.bms, self.clock, self.p("bms.stale_retry"))
        allowed = st.max_charge_current if direction == "charge" else st.max_discharge_current
        return allowed_current(
            self.module.current(self.p("soc.rate")), allowed, fraction(self.p("bms.current_margin")), direction
        )

    def _discharge(self, stop: pint.Quantity | None) -> Any:
        p = self.p
        return cc_discharge(
            self.load,
            self.psu,
            self.bms,
            self.clock,
            current=self._rate("discharge"),
            module_cutoff=self.module.module_voltage(p("cell.discharge_cutoff")),
            cell_cutoff=p("cell.discharge_cutoff"),
            fine_window=p("capacity.fine_window"),
            poll=p("soc.poll"),
            fine_poll=p("capacity.fine_poll"),
            timeout=p("capacity.timeout"),
            retry=p("bms.stale_retry"),
            stop_charge=stop,
        )

    def establish(self) -> None:
        """SOC unknown: discharge to the cell cut-off, which is 0 % by definition."""
        self.ensure_armed()
        res = self._discharge(None)
        if res.ended_by != "cut-off voltage":
            raise NotMeasurable(f"discharge to the cut-off (to find 0 % SOC) ended by {res.ended_by}")
        self.intake.soc = Q_(0.0, "")
        self.event("soc", f"SOC set to 0 % by a discharge to the cell cut-off ({res.charge.to('A*h'):~.4gP} out)")

    def move_to(self, target: pint.Quantity, what: str) -> None:
        """Charge or discharge by Ah counting from the present SOC to `target`, within the cell limits."""
        p = self.p
        self.ensure_armed()
        basis = self.basis()
        if self.intake.soc is None:
            self.establish()
        want = fraction(target)
        delta = (want - fraction(self.intake.soc)) * basis.capacity
        tol = fraction(p("soc.tolerance"))
        if abs(fraction(delta / basis.capacity)) < 1e-6:
            return
        if delta.magnitude > 0:
            res = cc_cv_charge(
                self.psu,
                self.load,
                self.bms,
                self.clock,
                stop_charge=delta,
                current=self._rate("charge"),
                voltage=self.module.module_voltage(p("cell.charge_voltage")),
                cutoff=None,
                cell_guard=p("cell.charge_guard"),
                cv_band=p("capacity.cv_band"),
                poll=p("soc.poll"),
                timeout=p("capacity.timeout"),
                ovp_margin=p("supply.ovp_margin"),
                retry=p("bms.stale_retry"),
                what="the SOC set-up charge",
            )
            moved = res.charge
        else:
            res = self._discharge(-delta)
            moved = -res.charge
        self.intake.soc = self.intake.soc + (moved / basis.capacity).to("")
        if res.ended_by == "cut-off voltage":
            self.intake.soc = Q_(0.0, "")  # the cut-off is 0 % whatever the count says
        reached = fraction(self.intake.soc)
        self.event(
            "soc",
            f"SOC {reached:.1%} for {what} (target {want:.0%}; {moved.to('A*h'):~+.4gP} moved, "
            f"ended by {res.ended_by}; basis {basis.capacity:~.4gP}, {basis.source})",
            {"target": want, "reached": reached, "ended_by": res.ended_by},
        )
        if abs(reached - want) > tol:
            limit = (
                "a cell reached its charge guard"
                if res.ended_by == "cell guard"
                else "a cell reached its discharge cut-off"
                if res.ended_by == "cut-off voltage"
                else res.ended_by
            )
            raise NotMeasurable(
                f"SOC {want:.0%} for {what} not reachable: {limit} at {reached:.1%} "
                f"(counted against {basis.capacity:~.4gP}, {basis.source})"
            )
