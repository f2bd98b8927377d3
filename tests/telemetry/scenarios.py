"""Seeded fault scenarios for the anomaly detectors: a simulated module on virtual CAN, captured.

The harness plays the test rig: it drives the plant's supply and load (as a HIL rig would) and
asks the BMS for contactor states through the real driver; the capture and its detectors see only
the CAN frames the driver receives. The BMS's own alarm is read from the captured frames too (the
first frame with GeneralError set), so the lead time is what a bench would measure:

    lead = t(first BMS error frame) - t(first anomaly flag on the faulty cell)

Shared by tests/telemetry (short spans) and benchmarks/telemetry_detectors.py (full profiles).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.clock import SimClock
from bench.journal import Journal
from bench.telemetry.capture import Capture
from bench.telemetry.config import TelemetrySettings, parse_telemetry
from bench.telemetry.reader import StoreReader
from bench.units import Q_
from instruments.foxbms_can import FoxBmsCan
from instruments.sim.can_foxbms import SimFoxBmsCan
from instruments.sim.plant import Plant
from instruments.sim.plant.presets import get_preset

PRESET = "lfp_module_16s1p"  # 16S1P 100 Ah LFP, the intake plan's module


@dataclass
class Phase:
    """rest(s) | charge(A, V per cell, end A, max s; a regen pulse with end_A 0) | discharge(A, max s) | pulse(A, s)."""

    kind: str
    current_A: float = 0.0
    seconds: float = 0.0
    cell_V: float = 3.65
    end_A: float = 5.0
    stop_V: float | None = None  # discharge: stop when the BMS reports a cell below this (None: until it trips)


@dataclass
class Scenario:
    name: str
    faults: list[dict[str, Any]]
    phases: list[Phase]
    soc0: float = 0.5
    cell: int | None = None  # the faulty cell (None: healthy pack)
    seed: int = 101


@dataclass
class Result:
    scenario: Scenario
    anomalies: list[dict[str, Any]]
    bms_alarm_t: float | None  # first captured frame with GeneralError set
    bms_alarms: list[tuple[float, str]] = field(default_factory=list)  # the plant's own log (for the table)
    virtual_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    samples: int = 0
    frames: int = 0
    run_dir: Path | None = None

    def first_flag(self, cell: int | None = None) -> dict[str, Any] | None:
        flags = [a for a in self.anomalies if cell is None or a["cell"] == cell]
        return min(flags, key=lambda a: a["t"]) if flags else None

    @property
    def lead_s(self) -> float | None:
        flag = self.first_flag(self.scenario.cell)
        if flag is None or self.bms_alarm_t is None:
            return None
        return self.bms_alarm_t - flag["t"]


def settings(**detectors: Any) -> TelemetrySettings:
    errors: list[Any] = []
    s = parse_telemetry({"detectors": detectors} if detectors else {}, "scenario", errors)
    assert not errors and s is not None, errors
    return s


class Rig:
    """Plant + SimClock + simulated BMS node + FoxBmsCan driver + Capture, wired like a station."""

    def __init__(
        self, sc: Scenario, run_dir: Path, tel: TelemetrySettings | None = None, *, max_step: float = 1.0
    ) -> None:
        self.sc = sc
        cfg = get_preset(PRESET, pack={"soc0": sc.soc0}, sim={"max_substep_s": 1.0})
        cfg["faults"] = list(sc.faults)
        self.plant = Plant.from_config(cfg, seed=sc.seed)
        self.clock = SimClock(max_step=Q_(max_step, "s"))
        self.clock.add_listener(lambda t, dt: self.plant.step(dt))
        self.node = SimFoxBmsCan(self.plant, self.clock).start()
        # rx_grace: how long (wall time) a read waits for frames already on the bus to be handled; with
        # every frame at its DBC cycle on a loaded machine the receive thread can lag by more than 0.5 s
        self.bms = FoxBmsCan(self.node.resource, name="bms_can", timeout=Q_(5, "s"), rx_grace="30 s")
        self.bms.attach_clock(self.clock)
        self.journal = Journal(run_dir.parent / "journal.sqlite")
        self.run_id = run_dir.name
        self.journal.start_run(self.run_id, plan="detector-scenario", station="rig", simulated=1)
        self.capture = Capture(
            tel or settings(),
            journal=self.journal,
            run_id=self.run_id,
            run_dir=run_dir,
            clock=self.clock,
            instruments={"bms_can": self.bms},
            sim_servers={"bms_can": self.node},
        )

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(Q_(seconds, "s"))

    def tripped(self) -> bool:
        return self.bms.status().state == "ERROR"

    def run_phase(self, ph: Phase) -> None:
        p = self.plant
        if ph.kind == "rest":
            self.sleep(ph.seconds)
        elif ph.kind == "charge":  # CC-CV from the supply; ends at end_A (after a minute), 3.70 V or `seconds`
            p.supply.set_output(False)
            p.load.set_input(False)
            self.bms.request_state("charge")  # contactors close (precharged) before the supply sources
            p.supply.set_priority("VOLT")
            p.supply.set_current_limit_pos(ph.current_A)
            p.supply.set_voltage(ph.cell_V * p.pack.n_series)
            p.supply.set_output(True)
            t_start = self.clock.now_s()
            t_end = t_start + ph.seconds
            while self.clock.now_s() < t_end - 1e-9 and not self.tripped():
                st = self.bms.status()
                if st.cell_voltage_max > Q_(3.70, "V") or (
                    self.clock.now_s() - t_start > 60.0 and abs(st.pack_current.to("A").magnitude) < ph.end_A
                ):
                    break
                self.sleep(min(5.0, t_end - self.clock.now_s()))
            p.supply.set_output(False)
        elif ph.kind in ("discharge", "pulse"):
            self.bms.request_state("discharge")
            p.load.set_mode("CC", "H")
            p.load.set_level("CC", ph.current_A)
            p.load.set_input(True)
            t_end = self.clock.now_s() + ph.seconds
            step = 1.0 if ph.kind == "pulse" else 5.0
            while self.clock.now_s() < t_end - 1e-9 and not self.tripped():
                if ph.stop_V is not None and self.bms.status().cell_voltage_min < Q_(ph.stop_V, "V"):
                    break
                self.sleep(min(step, t_end - self.clock.now_s()))
            p.load.set_input(False)
        else:
            raise ValueError(f"unknown phase {ph.kind!r}")

    def run(self, capture: bool = True) -> Result:
        """Run the phases (until the BMS trips); `capture=False` runs the same without high-rate capture
        (frames coalesced per clock step, as without [telemetry]) to price the capture."""
        cpu, wall = time.process_time(), time.perf_counter()
        if capture:
            self.capture.start()
            self.capture.set_step("scenario::" + self.sc.name)
        figures: dict[str, Any] = {}
        try:
            self.sleep(2.0)  # the driver sees its first frames
            for ph in self.sc.phases:
                self.run_phase(ph)
                if self.tripped():
                    self.sleep(2.0)  # the alarm frames are captured
                    break
        finally:
            if capture:
                self.capture.set_step(None)
                figures = self.capture.stop()
            self.bms.close()
            self.node.stop()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        reader = StoreReader(self.journal, self.run_id, self.capture.run_dir)
        alarm = reader.first_reaching("bms_can.GeneralError", 1.0) if reader.has("bms_can.GeneralError") else None
        anomalies = [
            dict(e["data"], message=e["message"]) for e in self.journal.events(self.run_id) if e["kind"] == "anomaly"
        ]
        plant_alarms = [(t, text) for t, text in self.plant.bms.events if text.startswith("alarm")]
        res = Result(
            self.sc,
            anomalies,
            alarm,
            plant_alarms,
            self.clock.now_s(),
            cpu,
            wall,
            figures.get("samples", 0),
            sum(figures.get("can_frames", {}).values()),
            self.capture.run_dir,
        )
        self.journal.close()
        return res


def run(
    sc: Scenario,
    workdir: Path | None = None,
    tel: TelemetrySettings | None = None,
    *,
    capture: bool = True,
    max_step: float = 1.0,
) -> Result:
    base = Path(workdir or tempfile.mkdtemp(prefix="essbench-detectors-"))
    return Rig(sc, base / f"run-{sc.name}", tel, max_step=max_step).run(capture)


# -- the seeded faults of instruments/sim/plant/faults.py, short enough for the test suite ---------
def short_scenarios() -> list[Scenario]:
    return [
        # capacity 30 %: on a 1 C discharge from 20 % it runs into its empty flank minutes before the others
        Scenario(
            "weak_cell",
            [{"type": "weak_cell", "cell": 5, "capacity_factor": 0.3}],
            [Phase("rest", seconds=30), Phase("discharge", 100.0, 1800)],
            soc0=0.2,
            cell=5,
        ),
        # 0.3 ohm internal leak (11 A): the cell drains and warms at rest, then reaches the cut-off first
        Scenario(
            "soft_short",
            [{"type": "soft_short", "cell": 9, "leak_ohm": 0.3}],
            [Phase("rest", seconds=600), Phase("discharge", 100.0, 1800)],
            soc0=0.10,
            cell=9,
        ),
        # heater on one cell at 5 degC/min from t = 60 s (UL 9540A cell-heating method)
        Scenario(
            "thermal_runaway_precursor",
            [{"type": "thermal_runaway_precursor", "cell": 3, "at_s": 60.0}],
            [Phase("rest", seconds=240)],
            soc0=0.5,
            cell=3,
        ),
        # 4 x resistance: a bigger IR drop at every current step; at 1 C it reaches the cut-off first
        Scenario(
            "high_resistance_cell",
            [{"type": "high_resistance_cell", "cell": 12, "resistance_factor": 4.0}],
            [Phase("rest", seconds=30), Phase("discharge", 100.0, 1800)],
            soc0=0.06,
            cell=12,
        ),
    ]


def intake_profile(rate_C: float = 0.2, rest_s: float = 3600.0) -> list[Phase]:
    """An intake-like sequence on the 100 Ah module: CC-CV charge, rest, capacity discharge to the 2.5 V
    cut-off, rest, recharge to about half, two-step DC resistance pulses, HPPC pulses at three
    states of charge (1 C discharge 10 s, 40 s rest, regen 10 s at 0.5 C: the module's BMS allows 0.5 C of
    charge and trips at 0.75 C), rests."""
    i = 100.0 * rate_C
    hppc = [
        Phase("pulse", 100.0, 10),
        Phase("rest", seconds=40),
        Phase("charge", 50.0, 10, cell_V=3.65, end_A=0.0),
        Phase("rest", seconds=600),
    ]
    return [
        Phase("charge", i, 8 * 3600, cell_V=3.65, end_A=5.0),
        Phase("rest", seconds=rest_s),
        Phase("discharge", i, 12 * 3600, stop_V=2.5),
        Phase("rest", seconds=rest_s),
        Phase("charge", i, 0.5 * 3600 / rate_C, cell_V=3.65, end_A=0.0),
        Phase("rest", seconds=rest_s / 2),
        Phase("pulse", 20.0, 10),
        Phase("pulse", 100.0, 1),
        Phase("rest", seconds=600),
        *hppc,
        Phase("discharge", i, 0.15 * 3600 / rate_C),
        Phase("rest", seconds=rest_s / 2),
        *hppc,
        Phase("discharge", i, 0.15 * 3600 / rate_C),
        Phase("rest", seconds=rest_s / 2),
        *hppc,
        Phase("rest", seconds=rest_s),
    ]


def full_scenarios() -> list[Scenario]:
    """The seeded faults with the plant's default magnitudes where they are realistic, run until the BMS
    trips (benchmarks/telemetry_detectors.py)."""
    return [
        Scenario(
            "weak_cell",
            [{"type": "weak_cell", "cell": 5, "capacity_factor": 0.7}],
            [Phase("rest", seconds=300), Phase("discharge", 50.0, 6 * 3600)],
            soc0=0.5,
            cell=5,
        ),
        Scenario(
            "soft_short",
            [{"type": "soft_short", "cell": 9, "leak_ohm": 2.0}],
            [Phase("rest", seconds=3 * 3600), Phase("discharge", 50.0, 6 * 3600)],
            soc0=0.3,
            cell=9,
        ),
        Scenario(
            "thermal_runaway_precursor",
            [{"type": "thermal_runaway_precursor", "cell": 3, "at_s": 900.0}],
            [Phase("rest", seconds=300), Phase("discharge", 20.0, 3600)],
            soc0=0.5,
            cell=3,
        ),
        Scenario(
            "high_resistance_cell",
            [{"type": "high_resistance_cell", "cell": 12, "resistance_factor": 3.0}],
            [
                Phase("rest", seconds=300),
                Phase("pulse", 20.0, 10),
                Phase("pulse", 100.0, 1),
                Phase("rest", seconds=300),
                Phase("discharge", 100.0, 3 * 3600),
            ],
            soc0=0.3,
            cell=12,
        ),
    ]


def healthy_short() -> Scenario:
    """Rest, charge pulse, discharge steps and rests on a healthy pack (a few minutes)."""
    return Scenario(
        "healthy",
        [],
        [
            Phase("rest", seconds=30),
            Phase("pulse", 100.0, 10),
            Phase("rest", seconds=40),
            Phase("pulse", 20.0, 60),
            Phase("rest", seconds=60),
        ],
        soc0=0.5,
    )
