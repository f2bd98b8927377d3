"""The whole simulated station: pack, bus, supply, load, chamber, BMS, gas, insulation tester.

`Plant.step(dt)` is called by the SimClock (holding its lock) with dt up to a second or more. It
integrates in sub-steps no longer than `max_substep_s`, shortened to land exactly on protection
deadlines (BMS alarm delays, supply UVP/OCP delays, state-machine timers, fault start times) and
refined to `fast_substep_s` for a short window after anything that changes currents abruptly (a
setting change, a contactor transition), so trip times and transients are resolved while a
quiet 4-hour discharge still costs one sub-step per second. At rest (pack current below C/100,
no evolving fault, no test running) sub-steps may grow to `rest_substep_s`, so a week-long
self-discharge soak costs little when the clock advances in long steps; every integrator is
exact or implicit, so this changes resolution, not stability.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from instruments.sim.plant.bms import STATE_NAMES, Bms, default_thresholds
from instruments.sim.plant.bus import Bus
from instruments.sim.plant.chamber import Chamber
from instruments.sim.plant.chemistry import get_chemistry
from instruments.sim.plant.faults import EvolvingFault, Fault, make_fault
from instruments.sim.plant.gas import GasModel
from instruments.sim.plant.insulation import InsulationTester
from instruments.sim.plant.load import Load
from instruments.sim.plant.pack import Pack
from instruments.sim.plant.presets import get_preset
from instruments.sim.plant.schema import validate_config
from instruments.sim.plant.stimulus_target import PackStimulusTarget
from instruments.sim.plant.supply import Supply


class Plant:
    """Physics plant; build with `Plant.from_config(cfg, seed)`; see README.md for the keys."""

    def __init__(self, cfg: dict[str, Any], seed: int = 0) -> None:
        self.config = copy.deepcopy(cfg)
        self.seed = int(seed)
        self.name = str(cfg.get("name", "custom"))
        self.ambient_degC = float(cfg.get("ambient_degC", 25.0))
        self.chem = get_chemistry(str(cfg.get("chemistry", "LFP")))
        validate_config(cfg, frozenset(default_thresholds(self.chem, 1.0, 1)))
        rng = np.random.default_rng(self.seed)
        self.chamber = Chamber(cfg.get("chamber"), ambient_degC=self.ambient_degC)
        self.pack = Pack(dict(cfg.get("pack") or {}), self.chem, rng, self.chamber.air_temperature_degC)
        self.bus = Bus(dict(cfg.get("bus") or {}))
        self.supply = Supply(cfg.get("supply"), seed=self.seed)
        self.load = Load(cfg.get("load"), seed=self.seed, ambient_degC=self.ambient_degC)
        self.gas = GasModel(cfg.get("gas"))
        self.bms = Bms(cfg.get("bms"), self.pack, self.gas, seed=self.seed)
        self.irt = InsulationTester(cfg.get("insulation"), seed=self.seed)
        sim = dict(cfg.get("sim") or {})
        self.max_substep_s = float(sim.get("max_substep_s", 1.0))
        self.fast_substep_s = float(sim.get("fast_substep_s", 0.02))
        self.fast_window_s = float(sim.get("fast_window_s", 0.2))
        self.rest_substep_s = max(float(sim.get("rest_substep_s", 10.0)), self.max_substep_s)
        self.t_s = 0.0
        self.faults: list[Fault] = []
        self._pending: list[Fault] = []
        self._evolving: list[EvolvingFault] = []
        self.instrument_faults: dict[str, list[dict[str, Any]]] = {}
        self.comms_lost = False
        self._stimulus_target: PackStimulusTarget | None = None
        self.log_events: list[tuple[float, str]] = []
        self._fast_until = -1.0
        self._last_path = self.bms.contactor_path
        self.bms.bus_voltage_V = self.bus.voltage_V
        for spec in cfg.get("faults", []) or []:
            self.inject(spec)

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | str, seed: int = 0) -> Plant:
        """Build a plant from a config dict or a preset name (see presets.py)."""
        if isinstance(cfg, str):
            cfg = get_preset(cfg)
        return cls(cfg, seed=seed)

    # ---- faults --------------------------------------------------------------------------------
    def inject(self, fault: dict[str, Any]) -> Fault:
        """Inject a fault now, or at fault['at_s'] (absolute simulated time) if later."""
        f = make_fault(fault)
        f.validate(self)
        self.faults.append(f)
        if f.at_s <= self.t_s + 1e-12:
            self._activate(f)
        else:
            self._pending.append(f)
            self._pending.sort(key=lambda x: x.at_s)
        return f

    def remove_fault(self, fault: Fault) -> None:
        """Take a fault out again (a cable reconnected): pending ones are dropped, active ones reverted.

        Raises ValueError for a fault this plant does not hold or one that cannot be undone
        (a weak cell stays weak)."""
        if not any(f is fault for f in self.faults):
            raise ValueError(f"fault {fault.kind} is not in this plant")
        if fault.active:
            fault.revert(self)
            fault.active = False
            self._evolving = [f for f in self._evolving if f is not fault]
            self._fast_until = self.t_s + self.fast_window_s
        else:
            self._pending = [f for f in self._pending if f is not fault]
        self.faults = [f for f in self.faults if f is not fault]
        self.log(self.t_s, f"fault {fault.kind} removed")

    # ---- stimuli -------------------------------------------------------------------------------
    def set_heat_source(self, name: str, cells: list[tuple[int, int]], watts: float | None) -> None:
        """Install (or with None remove) an external heater of `watts` spread over `cells` (series,
        parallel) indices: the stimulus of a heater pad on a cell, as in UL 9540A cell heating."""
        S, P = self.pack.n_series, self.pack.n_parallel
        for s, p in cells:
            if not (0 <= s < S and 0 <= p < P):
                raise ValueError(f"heat source {name!r}: cell ({s}, {p}) outside the {S}S{P}P pack")
        if watts is not None and not 0.0 <= float(watts) < float("inf"):
            raise ValueError(f"heat source {name!r}: power must be finite and >= 0 W, got {watts!r}")
        self.pack.cells.set_heater(name, list(cells), watts)

    def stimulus_target(self) -> Any:
        """The object the simulated stimulus device (and the simulated operator) act on; one per plant,
        so every stimulus server of a station sees what the others applied."""
        if self._stimulus_target is None:
            self._stimulus_target = PackStimulusTarget(self)
        return self._stimulus_target

    def _activate(self, f: Fault) -> None:
        f.apply(self)
        f.active = True
        self.log(self.t_s, f"fault {f.kind} active")
        if isinstance(f, EvolvingFault):
            self._evolving.append(f)
        self._fast_until = self.t_s + self.fast_window_s

    def take_instrument_fault(self, name: str) -> dict[str, Any] | None:
        """For servers: pop the next pending failure of instrument `name` ({'code', 'message'})."""
        q = self.instrument_faults.get(name)
        return q.pop(0) if q else None

    def log(self, t_s: float, text: str) -> None:
        """Plant-level event (fault activation, venting) for the run record."""
        self.log_events.append((t_s, text))

    # ---- integration ---------------------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        """Advance the physics by dt_s seconds (any length; sub-stepped internally)."""
        if dt_s <= 0.0:
            return
        t_end = self.t_s + dt_s
        supply, load, bms = self.supply, self.load, self.bms
        guard = 0
        while t_end - self.t_s > 1e-12:
            if supply.changed or load.changed or bms.changed:
                supply.changed = load.changed = bms.changed = False
                self._fast_until = self.t_s + self.fast_window_s
            if self.t_s < self._fast_until:
                h = self.fast_substep_s
            elif (
                abs(self.pack.current_A) < bms.th["rest_current_rel"] * self.pack.nominal_capacity_Ah
                and not self._evolving
                and self.irt.state != "TEST"
            ):
                h = self.rest_substep_s
            else:
                h = self.max_substep_s
            h = min(h, t_end - self.t_s, bms._deadline, supply.next_deadline_s())
            if self._pending:
                h = min(h, max(self._pending[0].at_s - self.t_s, 1e-6))
            if self.irt.state == "TEST":
                h = min(h, max(self.irt.next_deadline_s(), 1e-6))
            h = max(h, min(1e-4, t_end - self.t_s))  # floor: deadlines need no finer resolution
            self._substep(h)
            guard += 1
            if guard > 10_000_000:
                raise RuntimeError("plant sub-stepping did not converge")
        self.t_s = t_end
        while self._pending and self._pending[0].at_s <= self.t_s + 1e-9:
            self._activate(self._pending.pop(0))

    def _substep(self, h: float) -> None:
        t = self.t_s + h
        while self._pending and self._pending[0].at_s <= self.t_s + 1e-9:
            self._activate(self._pending.pop(0))
        for f in self._evolving:
            f.step(self, h, t)
        T_air = self.chamber.step(h)
        self.supply.pre_step(h)
        pack = self.pack
        E, R = pack.thevenin(h)
        path = self.bms.contactor_path
        bus = self.bus
        V = bus.solve(E, R, path, self.supply, self.load)
        pack.advance(h, bus.pack_current_A, T_air, self.chamber.running)
        self.supply.post_step(V, bus.supply_current_A, h)
        self.load.post_step(V, bus.load_current_A, h)
        self.gas.step(h)
        if self.irt.state == "TEST":
            self.irt.step(h, pack.dut_isolation_ohm)
        self.t_s = t
        bms = self.bms
        bms.bus_voltage_V = V
        bms.update(h, t)
        if bms.contactor_path != self._last_path:
            self._last_path = bms.contactor_path
            self._fast_until = t + self.fast_window_s

    # ---- debugging -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Key states as plain Python values, for logs and debugging."""
        p, b, s, ld = self.pack, self.bms, self.supply, self.load
        v = p.cell_voltages_V()
        T = p.cell_temperatures_degC()
        soc = p.soc()
        return {
            "t_s": self.t_s,
            "bus_V": self.bus.voltage_V,
            "pack_V": p.voltage_V,
            "pack_A": p.current_A,
            "pack_ocv_V": p.ocv_total_V(),
            "cell_V_min": float(v.min()),
            "cell_V_max": float(v.max()),
            "cell_T_min_degC": float(T.min()),
            "cell_T_max_degC": float(T.max()),
            "soc_min": float(soc.min()),
            "soc_max": float(soc.max()),
            "charge_throughput_Ah": p.charge_throughput_Ah,
            "supply": {
                "on": s.output_on,
                "mode": s.mode,
                "V": s.voltage_V,
                "A": s.current_A,
                "protection": sorted(s.protection),
            },
            "load": {
                "on": ld.input_on,
                "mode": ld.mode + ld.range,
                "V": ld.voltage_V,
                "A": ld.current_A,
                "protection": sorted(ld.protection),
            },
            "chamber": {
                "air_degC": self.chamber.air_temperature_degC,
                "setpoint_degC": self.chamber.setpoint_degC,
                "running": self.chamber.running,
            },
            "bms": {
                "state": STATE_NAMES[b.state],
                "contactor_closed": b.contactor_closed,
                "alarms": sorted(k for k, on in b.alarms.items() if on),
                "warnings": sorted(k for k, on in b.warnings.items() if on),
                "fault_codes": b.fault_codes,
                "soc_min": b.soc_min,
                "soc_max": b.soc_max,
                "soh": b.soh,
                "max_charge_A": b.max_charge_current_A,
                "max_discharge_A": b.max_discharge_current_A,
                "balancing": int(b.balancing.sum()),
                "comms_ok": b.comms_ok,
            },
            "gas_ppm": dict(self.gas.ppm),
            "pressure_Pa": self.gas.pressure_Pa,
            "faults": [f.describe() for f in self.faults],
        }

    def __repr__(self) -> str:
        p = self.pack
        return (
            f"Plant({self.name!r}, {p.n_series}S{p.n_parallel}P {self.chem.name}, t={self.t_s:.1f}s, "
            f"V={p.voltage_V:.3f}V, I={p.current_A:.2f}A)"
        )
