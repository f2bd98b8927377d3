"""Simulated enclosure gas/pressure detector (house map, see instruments/gas_detector.py).

Concentrations and gauge pressure come from the plant's well-mixed enclosure model
(`plant.gas`), quantised to the register resolution. Stage thresholds default to the plant
BMS's gas thresholds (so detector and BMS agree unless the role's `options.sim` table says
otherwise: `stage1_ppm = {H2 = 50, ...}`, `stage2_ppm`, `pressure_alarm_Pa`). The detector's stage is
computed on every read with no delay and no latch (a transmitter; latching belongs to the
controller it feeds). `sensor_faults` (a set of "H2", "CO", "VOC", "HF", "pressure") marks
failed sensors: their reading goes to 0 and the fault bits are set.
"""

from __future__ import annotations

from typing import Any

from instruments.gas_detector import DEVICE_TYPE, FAULT_BITS, GAS_SCALE, GASES
from instruments.sim.modbus_server import ModbusSimServer, RegisterMap
from instruments.transports.modbus import from_int16


class GasDetectorSim:
    def __init__(
        self,
        plant: Any,
        *,
        lock: Any = None,
        faults: list[Any] | None = None,
        serial: str = "",
        firmware: str = "",
        stage1_ppm: dict[str, float] | None = None,
        stage2_ppm: dict[str, float] | None = None,
        pressure_alarm_Pa: float | None = None,
    ) -> None:
        self.plant = plant
        th = plant.bms.th
        self.stage1 = {g: float((stage1_ppm or th["gas_stage1_ppm"]).get(g, 1e9)) for g in GASES}
        self.stage2 = {g: float((stage2_ppm or th["gas_stage2_ppm"]).get(g, 1e9)) for g in GASES}
        self.pressure_alarm_Pa = float(pressure_alarm_Pa if pressure_alarm_Pa is not None else th["pressure_alarm_Pa"])
        self.serial = serial or "SIM-GD-0001"
        self.firmware = firmware or "1.20"
        self.sensor_faults: set[str] = set()
        m = self.regmap = RegisterMap(lock, faults)
        m.read(0, 10, self._head)
        m.read(100, 9, self._values)
        m.read(200, 9, self._thresholds)

    def _head(self) -> list[int]:
        try:
            fw = round(float(self.firmware) * 100)
        except ValueError:
            fw = 0
        sn = self.serial.encode("latin-1")[:16].ljust(16, b"\0")
        return [DEVICE_TYPE, fw & 0xFFFF] + [int.from_bytes(sn[i : i + 2], "big") for i in range(0, 16, 2)]

    def _ppm(self) -> dict[str, float]:
        ppm = {g: float(self.plant.gas.ppm[g]) for g in GASES}
        for g in self.sensor_faults & set(GASES):
            ppm[g] = 0.0
        return ppm

    def stage(self) -> int:
        ppm = self._ppm()
        if any(ppm[g] >= self.stage2[g] for g in GASES):
            return 2
        return 1 if any(ppm[g] >= self.stage1[g] for g in GASES) else 0

    def _values(self) -> list[int]:
        ppm = self._ppm()
        pressure = 0.0 if "pressure" in self.sensor_faults else float(self.plant.gas.pressure_Pa)
        stage = self.stage()
        fault_bits = sum(1 << bit for bit, name in FAULT_BITS.items() if name in self.sensor_faults)
        status = (1 if stage >= 1 else 0) | (2 if stage == 2 else 0)
        status |= 4 if pressure >= self.pressure_alarm_Pa else 0
        status |= 8 if fault_bits else 0
        status |= 0x8000 if not fault_bits else 0
        conc = [min(0xFFFF, max(0, round(ppm[g] * GAS_SCALE[g]))) for g in GASES]
        lfl = round(min(6553.5, self.plant.gas.lfl_percent()) * 10)
        return conc + [from_int16(max(-32768, min(32767, round(pressure * 10)))), stage, status, fault_bits, lfl]

    def _thresholds(self) -> list[int]:
        s1 = [min(0xFFFF, round(self.stage1[g] * GAS_SCALE[g])) for g in GASES]
        s2 = [min(0xFFFF, round(self.stage2[g] * GAS_SCALE[g])) for g in GASES]
        return s1 + s2 + [from_int16(min(32767, round(self.pressure_alarm_Pa * 10)))]


def serve(plant: Any, role: Any, clock: Any) -> ModbusSimServer:
    """Start the simulated gas detector for a station role; returns the running server."""
    opts = dict(getattr(role, "options", {}) or {})
    cfg = dict(opts.get("sim", {}) or {})  # simulator-only settings; the driver ignores them
    sim = GasDetectorSim(
        plant,
        lock=clock.lock,
        faults=plant.instrument_faults.setdefault(role.role, []),
        serial=getattr(role, "serial", ""),
        firmware=getattr(role, "firmware", ""),
        stage1_ppm=cfg.get("stage1_ppm"),
        stage2_ppm=cfg.get("stage2_ppm"),
        pressure_alarm_Pa=cfg.get("pressure_alarm_Pa"),
    )
    server = ModbusSimServer(sim.regmap.device(int(opts.get("device_id", 1))), name="gas-detector")
    server.sim = sim  # type: ignore[attr-defined]
    return server.start()
