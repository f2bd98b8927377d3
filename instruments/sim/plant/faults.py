"""Catalogue of injectable faults, so every plan can prove it catches what it is meant to catch.

A fault is given as a dict: {"type": <name>, "at_s": <sim time, optional>, ...parameters}. Faults
act on the plant's physical or sensing layer, never on the verdict: a weak cell really has less
capacity, a soft short really leaks and heats, a stuck sensor really freezes the BMS reading.
`apply(plant)` runs once when the fault becomes active; `step(plant, h, t)` runs every sub-step
afterwards for faults that evolve (heat ramps, gas release, comms held down).

Cell indices: `cell` is the series element (0-based), `par` the cell within its parallel group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instruments.sim.plant.plant import Plant


class Fault(ABC):
    """Base class: parameters, activation time and a readable description."""

    kind = "fault"
    evolves = False  # True for EvolvingFault: step() runs every sub-step

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = dict(params)
        self.at_s = float(params.get("at_s", 0.0))
        self.active = False

    def _cell(self, plant: Plant) -> tuple[int, int]:
        s = int(self.params.get("cell", 0))
        p = int(self.params.get("par", 0))
        if not (0 <= s < plant.pack.n_series and 0 <= p < plant.pack.n_parallel):
            raise ValueError(
                f"{self.kind}: cell ({s}, {p}) outside the {plant.pack.n_series}S{plant.pack.n_parallel}P pack"
            )
        return s, p

    def validate(self, plant: Plant) -> None:
        """Raise ValueError for bad parameters at injection time (not when it activates)."""
        if "cell" in self.params or "par" in self.params:
            self._cell(plant)

    @abstractmethod
    def apply(self, plant: Plant) -> None:
        """Make the fault physically present in the plant (runs once, when it activates)."""

    def revert(self, plant: Plant) -> None:
        """Undo `apply` (Plant.remove_fault); only faults a bench can physically undo support it."""
        raise ValueError(f"a {self.kind} fault cannot be removed once active")

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "active": self.active, **self.params}


class EvolvingFault(Fault):
    """A fault whose effect changes with time after activation (heat ramps, gas release)."""

    evolves = True

    @abstractmethod
    def step(self, plant: Plant, h: float, t: float) -> None:
        """Apply the effect for the sub-step of length h ending at time t."""


class WeakCell(Fault):
    """Reduced capacity (aged/defective cell): reaches the discharge cut-off first."""

    kind = "weak_cell"

    def apply(self, plant: Plant) -> None:
        idx = self._cell(plant)
        plant.pack.cells.capacity_factor[idx] = float(self.params.get("capacity_factor", 0.7))
        plant.pack.cells.refresh_slow()


class HighResistanceCell(Fault):
    """Raised internal resistance (loose busbar, degraded cell): larger IR drop and heat."""

    kind = "high_resistance_cell"

    def apply(self, plant: Plant) -> None:
        idx = self._cell(plant)
        plant.pack.cells.resistance_factor[idx] = float(self.params.get("resistance_factor", 3.0))
        plant.pack.cells.refresh_slow()


class SoftShort(Fault):
    """Internal leak resistance: fast self-discharge at rest and I²R heat inside the cell."""

    kind = "soft_short"

    def apply(self, plant: Plant) -> None:
        idx = self._cell(plant)
        r = float(self.params.get("leak_ohm", 20.0))
        if r <= 0:
            raise ValueError("soft_short leak_ohm must be positive")
        plant.pack.cells.set_leak(idx, 1.0 / r)


class ThermalRunawayPrecursor(EvolvingFault):
    """Heater on one cell raising it at 4–7 °C/min (the UL 9540A cell-heating method), off-gas once
    above the vent temperature.

    By default the heater is rate-controlled: it supplies C·rate plus whatever the cell loses to
    the air and its neighbours, so the cell climbs at `heat_rate_degC_per_min` (5) up to
    `max_heat_W`. Giving `heat_W` (and optionally `ramp_W_per_s`) instead applies a fixed heater.
    """

    kind = "thermal_runaway_precursor"

    def apply(self, plant: Plant) -> None:
        self.idx = self._cell(plant)
        self.c_th = float(plant.pack.thermal.C[self.idx])
        self.rate = float(self.params.get("heat_rate_degC_per_min", 5.0))
        self.fixed_W = self.params.get("heat_W")
        self.ramp_W_per_s = float(self.params.get("ramp_W_per_s", 0.0))
        self.max_W = float(self.params.get("max_heat_W", 500.0))
        self.vent_degC = float(self.params.get("vent_temp_degC", plant.pack.chem.vent_temp_degC))
        self.rates = dict(self.params.get("gas_ppm_per_s", {"H2": 40.0, "CO": 15.0, "VOC": 60.0, "HF": 1.0}))
        self.vent_duration_s = float(self.params.get("vent_duration_s", 600.0))
        self.residual = float(self.params.get("residual_fraction", 0.1))
        self.t0 = plant.t_s
        self.vented_at: float | None = None
        self._stage = 0

    def step(self, plant: Plant, h: float, t: float) -> None:
        cells = plant.pack.cells
        if self.fixed_W is not None:
            p = float(self.fixed_W) + self.ramp_W_per_s * (t - self.t0)
        else:
            loss = plant.pack.thermal.heat_loss_W(
                cells.T_degC, self.idx, plant.chamber.air_temperature_degC, plant.chamber.forced_air
            )
            p = self.c_th * self.rate / 60.0 + loss
        cells.extra_heat_W[self.idx] = min(max(p, 0.0), self.max_W)
        T = cells.T_degC[self.idx]
        if self.vented_at is None and T >= self.vent_degC:
            self.vented_at = t
            plant.log(t, f"cell {self.idx} vented at {T:.1f} degC")
            plant.gas.set_source(f"vent{self.idx}", self.rates)
            self._stage = 1
        elif self._stage == 1 and t - self.vented_at >= self.vent_duration_s:
            plant.gas.set_source(f"vent{self.idx}", {k: v * self.residual for k, v in self.rates.items()})
            self._stage = 2


class StuckTempSensor(Fault):
    """The BMS temperature sensor of one series element freezes at its present (or given) value."""

    kind = "stuck_temp_sensor"

    def apply(self, plant: Plant) -> None:
        s, _ = self._cell(plant)
        v = self.params.get("value_degC")
        plant.bms.set_stuck_sensor(s, None if v is None else float(v))


class SensorOverride(Fault):
    """HIL override of a BMS measurement: {'kind': 'voltage'|'temperature'|'current', 'cell', 'value'}.

    The physical pack is untouched; only what the BMS reads changes, as when a bench injects a
    stimulus into the cell-tap or thermistor inputs. 'value': None releases the override.
    """

    kind = "sensor_override"

    def validate(self, plant: Plant) -> None:
        super().validate(plant)
        if self.params.get("kind") not in ("voltage", "temperature", "current"):
            raise ValueError("sensor_override needs kind = 'voltage', 'temperature' or 'current'")

    def apply(self, plant: Plant) -> None:
        s = self._cell(plant)[0] if self.params["kind"] != "current" else None
        v = self.params.get("value")
        plant.bms.set_sensor_override(self.params["kind"], s, None if v is None else float(v))


class CommsLoss(Fault):
    """From at_s on the BMS link is down: servers stop answering, the BMS watchdog runs."""

    kind = "comms_loss"

    def apply(self, plant: Plant) -> None:
        plant.comms_lost = True
        plant.bms.comms_forced_lost = True
        plant.bms.comms_ok = False

    def revert(self, plant: Plant) -> None:
        """Reconnect (a link cut by a stimulus); the link stays down while another comms_loss is active."""
        if any(f is not self and f.kind == self.kind and f.active for f in plant.faults):
            return
        plant.comms_lost = False
        plant.bms.comms_forced_lost = False
        plant.bms.comms_ok = True


class WeldedContactor(Fault):
    """The main contactor never opens again once closed, whatever the BMS commands."""

    kind = "welded_contactor"

    def apply(self, plant: Plant) -> None:
        plant.bms.welded = True


class FailedBalancer(Fault):
    """Balancing is commanded (flag set) but the bleed never flows; `cell` or all elements."""

    kind = "failed_balancer"

    def apply(self, plant: Plant) -> None:
        if "cell" in self.params:
            s, _ = self._cell(plant)
            plant.bms.balancer_failed[s] = True
        else:
            plant.bms.balancer_failed[:] = True
        plant.bms.set_balancing(plant.bms.balancing_allowed)  # re-evaluate the bleed now


class LowInsulation(Fault):
    """Insulation breakdown pack-to-chassis: lowers the DUT isolation the IMD and tester see."""

    kind = "low_insulation"

    def apply(self, plant: Plant) -> None:
        plant.pack.dut_isolation_ohm = float(self.params.get("isolation_ohm", 20e3))


class InstrumentError(Fault):
    """The next `count` setting commands to instrument `name` fail (servers consult the list)."""

    kind = "instrument_error"

    def validate(self, plant: Plant) -> None:
        if not self.params.get("name"):
            raise ValueError("instrument_error needs 'name' (e.g. 'psu', 'load', 'chamber')")

    def apply(self, plant: Plant) -> None:
        name = str(self.params["name"])
        count = int(self.params.get("count", 1))
        entry = {
            "code": int(self.params.get("code", -200)),
            "message": str(self.params.get("message", "Execution error")),
        }
        plant.instrument_faults.setdefault(name, []).extend(dict(entry) for _ in range(count))


FAULT_TYPES: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        WeakCell,
        HighResistanceCell,
        SoftShort,
        ThermalRunawayPrecursor,
        StuckTempSensor,
        SensorOverride,
        CommsLoss,
        WeldedContactor,
        FailedBalancer,
        LowInsulation,
        InstrumentError,
    )
}


def make_fault(spec: dict[str, Any]) -> Fault:
    """Build a fault from its dict; raises ValueError naming the known types."""
    kind = spec.get("type")
    cls = FAULT_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown fault type {kind!r}; known: {sorted(FAULT_TYPES)}")
    return cls({k: v for k, v in spec.items() if k != "type"})
