"""What the safety-chain steps do to the system between provocations: close the contactors with
current flowing, bring the BMS back to standby, purge the enclosure, soak the cells.

Every magnitude, window and poll period comes from the limit set (`limits.param`), so a bench
with a slower BMS link or a larger enclosure changes a file, not the plan.
"""

from __future__ import annotations

from typing import Any

import pint

from bench.clock import WaitTimeout
from bench.units import Q_


def below(t: pint.Quantity, dk: pint.Quantity) -> pint.Quantity:
    """Temperature `t` lowered by the difference `dk` ("2.5 K"), as a temperature in degC."""
    return t.to("degC") - dk.to("delta_degC")


def above(t: pint.Quantity, dk: pint.Quantity) -> pint.Quantity:
    """Temperature `t` raised by the difference `dk`, as a temperature in degC."""
    return t.to("degC") + dk.to("delta_degC")


def load_current(load: Any) -> pint.Quantity:
    return abs(load.measure_current())


def at_zero(load: Any, limits: Any) -> bool:
    """The pack current the load measures is inside the zero band (the BMS current-sensor noise)."""
    return bool(load_current(load) < limits.param("response.zero_current"))


def energise(bms: Any, load: Any, clock: Any, limits: Any, current: pint.Quantity) -> pint.Quantity:
    """Contactors closed for discharge and the load drawing `current` (CC); returns the current the
    load measures once it is established (the path then knows whether a current-zero is timeable)."""
    p = limits.param
    bms.request_state("discharge")
    load.set_input(False)
    load.clear_protection()  # an earlier trip may have latched the load's under-voltage protection
    load.set_mode("CC")
    load.set_level(current)
    load.set_input(True)
    target = abs(current) * p("response.current_established").to("").magnitude
    try:
        clock.wait_until(
            lambda: load_current(load) >= target,
            timeout=p("response.settle_timeout"),
            poll=p("response.poll"),
            what=f"load current established ({target:~P})",
        )
    except WaitTimeout:
        pass  # judged by the path: a current inside the zero band makes its current-zero time untimeable
    return load_current(load)


def recover(clock: Any, bms: Any, load: Any, limits: Any) -> None:
    """Load off, acknowledge latched faults with a standby request, wait for the BMS to recover."""
    load.set_input(False)
    clock.wait_until(
        lambda: bms.request_state("standby") is None and bms.status().state in ("STANDBY", "IDLE"),
        timeout=limits.param("response.recover_timeout"),
        poll=limits.param("response.recover_poll"),
        what="BMS back in standby",
    )


def purge(clock: Any, gas: Any, stimulus: Any, limits: Any) -> pint.Quantity:
    """Run the enclosure exhaust at the declared flow (through the stimulus capability: on site the
    exhaust fan, in simulation the enclosure model) until the detector is back at stage 0 with no
    pressure alarm; returns how long that took."""
    stimulus.ventilation(limits.param("ventilation.declared_exhaust_flow"))
    try:

        def clean() -> bool:
            r = gas.read()
            return r.stage == 0 and not r.alarms.get("pressure_alarm")

        return clock.wait_until(
            clean,
            timeout=limits.param("gas.purge_timeout"),
            poll=limits.param("gas.purge_poll"),
            what="enclosure purged (stage 0, no pressure alarm)",
        )
    finally:
        stimulus.ventilation(None)


def soak(clock: Any, bms: Any, target: pint.Quantity, limits: Any) -> None:
    """Wait until every cell sensor reads within the soak tolerance of `target`."""
    tolerance = limits.param("derating.soak_tolerance").to("K").magnitude
    goal = target.to("degC").magnitude

    def soaked() -> bool:
        st = bms.status()
        return (
            abs(st.cell_temperature_max.to("degC").magnitude - goal) <= tolerance
            and abs(st.cell_temperature_min.to("degC").magnitude - goal) <= tolerance
        )

    clock.wait_until(
        soaked,
        timeout=limits.param("derating.soak_timeout"),
        poll=limits.param("derating.soak_poll"),
        what=f"cells soaked at {target:~P}",
    )


def hottest(bms: Any) -> float:
    """The hottest cell the BMS reports, in degC."""
    return float(bms.status().cell_temperature_max.to("degC").magnitude)


def kelvin(q: pint.Quantity) -> float:
    """A temperature difference or rate numerator in K (a "2 K" limit-set value)."""
    return float(Q_(q).to("K").magnitude)
