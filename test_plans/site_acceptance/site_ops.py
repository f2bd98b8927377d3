"""Operations the steps share: bring the site to a known state, run at a power until it stops.

Every step starts from what it measures (resume: a step cut mid-way is rerun from its start,
so it must not assume what an earlier step left behind): latched alarms whose cause is gone
are reset (journalled), the site is enabled, and the state of charge is brought to the step's
target. State of charge here is the battery's own (802 SoC of each block, weighted by its
rated energy): the protections act on it, while 713 SoC is the controller's aggregate for SCADA
that step 3 checks. Energies come from the meter's registers, never from host-side sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pint

from bench.units import Q_

# Documented constants of the control loops (how the bench waits, not what it judges):
PREP_PASSES = 200  # go_to_soc: bound on its passes
PREP_FRACTION = 0.9  # each pass sleeps this share of the estimated remaining time (never overshoots)
PREP_MIN_STEP_S = 10.0  # ... and at least this long (a pass is one SunSpec read of every block)
STOPPED_FRACTION = 0.02  # run_until_stopped: the site has stopped when |P| is below this share of the command
STOPPED_READS = 2  # ... on this many polls in a row


@dataclass(frozen=True)
class SiteSpec:
    """What the integrator declared for the site (station [dut]) and the limit set's parameters."""

    serial: str
    rated_power: pint.Quantity
    rated_apparent_power: pint.Quantity
    rated_energy: pint.Quantity
    blocks: int


@dataclass
class Energies:
    """Meter register snapshot (POI export/import, auxiliary feeder import)."""

    t_s: float
    exported: pint.Quantity
    imported: pint.Quantity
    aux: pint.Quantity

    def since(self, start: Energies) -> tuple[pint.Quantity, pint.Quantity, pint.Quantity]:
        return (
            (self.exported - start.exported).to("kWh"),
            (self.imported - start.imported).to("kWh"),
            (self.aux - start.aux).to("kWh"),
        )


def energies(meter: Any, clock: Any) -> Energies:
    poi = meter.read("poi")
    aux = meter.read("aux")
    return Energies(clock.now_s(), poi.energy_exported, poi.energy_imported, aux.energy_imported)


def battery_soc(site: Any) -> pint.Quantity:
    """Energy-weighted 802 SoC of the blocks."""
    blocks = site.blocks()
    w = [float(b.energy_rating.to("W*h").magnitude) for b in blocks]
    s = [float(b.soc.to("percent").magnitude) for b in blocks]
    return Q_(sum(a * b for a, b in zip(w, s, strict=True)) / sum(w), "percent")


def prepare(site: Any, event: Any) -> None:
    """Latched alarms reset (when their cause is gone), every block connected, setpoint enabled at 0 W."""
    st = site.status()
    if st.state == "SAFE_STOP" or st.alarms:
        site.reset_alarms()
        event(
            "deviation",
            f"site found in {st.state} with alarms {st.alarms}: alarms reset before the step",
            {"state": st.state, "alarms": st.alarms},
        )
    site.set_active_power(Q_(0, "W"))
    site.enable(True)


def prepare_soc(
    site: Any,
    clock: Any,
    limits: Any,
    event: Any,
    target: pint.Quantity | None = None,
    tolerance: pint.Quantity | None = None,
) -> pint.Quantity:
    """go_to_soc with the limit set's preparation parameters (prepare.*): `target` defaults to
    prepare.soc, `tolerance` to prepare.soc_tolerance."""
    return go_to_soc(
        site,
        clock,
        limits.param("prepare.soc") if target is None else target,
        limits.param("prepare.power"),
        limits.param("prepare.soc_tolerance") if tolerance is None else tolerance,
        event,
        limits.param("prepare.max_time"),
    )


def ensure_operating_soc(site: Any, clock: Any, limits: Any, event: Any) -> None:
    """Bring the battery to prepare.soc when it is outside prepare.soc_low..prepare.soc_high."""
    if not limits.param("prepare.soc_low") <= battery_soc(site) <= limits.param("prepare.soc_high"):
        prepare_soc(site, clock, limits, event)


def go_to_soc(
    site: Any,
    clock: Any,
    target: pint.Quantity,
    power: pint.Quantity,
    tolerance: pint.Quantity,
    event: Any,
    max_time: pint.Quantity,
) -> pint.Quantity:
    """Charge or discharge at `power` until the battery SoC is within `tolerance` of `target`."""
    rated_wh = sum(float(b.energy_rating.to("W*h").magnitude) for b in site.blocks())
    p_w = abs(float(power.to("W").magnitude))
    tgt = float(target.to("percent").magnitude)
    tol = float(tolerance.to("percent").magnitude)
    spent = 0.0
    limit = float(max_time.to("s").magnitude)
    soc = float(battery_soc(site).magnitude)
    for _ in range(PREP_PASSES):  # bounded: each pass sleeps most of the remaining way
        gap = tgt - soc
        if abs(gap) <= tol or spent > limit:
            break
        site.set_active_power(Q_(-p_w if gap > 0 else p_w, "W"))
        eta = abs(gap) / 100.0 * rated_wh / p_w * 3600.0
        dt = max(min(PREP_FRACTION * eta, limit - spent), PREP_MIN_STEP_S)
        clock.sleep(Q_(dt, "s"))
        spent += dt
        new = float(battery_soc(site).magnitude)
        if abs(new - soc) < 1e-3 and dt >= 6 * PREP_MIN_STEP_S:
            event("deviation", f"SoC not moving ({new:.2f} %) while preparing {tgt:g} %", {"soc": new})
            break
        soc = new
    site.set_active_power(Q_(0, "W"))
    reached = battery_soc(site)
    event(
        "preparation",
        f"battery SoC {reached:.4g~P} (target {target:~P})",
        {"soc_pct": float(reached.magnitude), "target_pct": tgt},
    )
    return reached


def run_until_stopped(
    site: Any, meter: Any, clock: Any, power: pint.Quantity, poll: pint.Quantity, timeout: pint.Quantity
) -> tuple[float, bool]:
    """Command `power` and wait until the site stops by itself (end of its SoC window).

    Stopped = the meter reads below STOPPED_FRACTION of the command STOPPED_READS times in a row. Returns (seconds, stopped)."""
    site.set_active_power(power)
    cmd = abs(float(power.to("W").magnitude))
    t0 = clock.now_s()
    limit = float(timeout.to("s").magnitude)
    low = 0
    for _ in range(int(limit / float(poll.to("s").magnitude)) + 2):
        clock.sleep(poll)
        w = abs(float(meter.read("poi").active_power.to("W").magnitude))
        low = low + 1 if w < STOPPED_FRACTION * cmd else 0
        if low >= STOPPED_READS or clock.now_s() - t0 > limit:
            break
    site.set_active_power(Q_(0, "W"))
    return clock.now_s() - t0, low >= STOPPED_READS
