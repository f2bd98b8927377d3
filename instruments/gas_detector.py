"""Enclosure gas and pressure detector over Modbus TCP (capability GasDetector).

There is no industry-standard register map for off-gas detectors, so this is a HOUSE MAP of
ours, modelled on typical industrial multi-gas transmitters (integer ppm in input registers,
signed tenths for small quantities, one alarm-stage register, status and sensor-fault
bitfields). A real detector gets its own subclass that overrides `MAP` and `decode`. Input
registers (FC4; the simulator mirrors them on FC3), all 16-bit:

  0      device type, 0x4744 ("GD")          1      firmware version x100
  2..9   serial number, 16 ASCII chars (NUL padded)
  100    H2 ppm            101 CO ppm        102 VOC ppm (isobutylene equivalent)
  103    HF ppm x10        104 enclosure gauge pressure, Pa x10, int16
  105    alarm stage: 0 none, 1 stage 1 (warning/ventilation), 2 stage 2 (shutdown)
  106    status bits: 0 stage 1, 1 stage 2, 2 pressure alarm, 3 any sensor fault, 15 healthy
  107    sensor fault bits: 0 H2, 1 CO, 2 VOC, 3 HF, 4 pressure
  108    mixture %LFL x10
  200..203  stage 1 thresholds H2, CO, VOC ppm, HF ppm x10   204..207 stage 2, same scaling
  208    pressure alarm threshold, Pa x10

The instrument is read-only: nothing is ever written. Its safe state is "answering": safe_state()
reads the status block and raises if it cannot.
"""

from __future__ import annotations

import pint

from bench.units import Q_
from instruments.capabilities import GasDetector, GasReading
from instruments.errors import InstrumentError
from instruments.transports.modbus import ModbusClient, to_int16

DEVICE_TYPE = 0x4744
GASES = ("H2", "CO", "VOC", "HF")
GAS_SCALE = {"H2": 1.0, "CO": 1.0, "VOC": 1.0, "HF": 10.0}
STATUS_BITS = {0: "stage1", 1: "stage2", 2: "pressure_alarm", 3: "sensor_fault", 15: "healthy"}
FAULT_BITS = {0: "H2", 1: "CO", 2: "VOC", 3: "HF", 4: "pressure"}
READ_START, READ_COUNT = 100, 9
THRESHOLD_START, THRESHOLD_COUNT = 200, 9


class HouseGasDetector(GasDetector):
    """Gas/pressure detector speaking the house register map above."""

    SIMULATOR = "instruments.sim.modbus_gas:serve"
    safe_state_order = 70

    def __init__(
        self,
        resource: str,
        *,
        name: str = "gas",
        timeout: pint.Quantity = Q_(1, "s"),
        device_id: int = 1,
        function: int = 4,
    ) -> None:
        super().__init__(name)
        if function not in (3, 4):
            raise InstrumentError(name, f"function must be 3 or 4 (holding or input registers), got {function}")
        self.function = function
        self.bus = ModbusClient(
            resource, name=name, timeout_s=float(Q_(timeout).to("s").magnitude), device_id=device_id
        )
        try:
            head = self._read(0, 10)
        except Exception:
            self.bus.close()
            raise
        if head[0] != DEVICE_TYPE:
            self.bus.close()
            raise InstrumentError(
                name,
                f"not a house-map gas detector: device type 0x{head[0]:04x}, expected 0x{DEVICE_TYPE:04x}",
                command="FC4 @0",
            )
        self.firmware = f"{head[1] / 100:.2f}"
        self.serial = b"".join(r.to_bytes(2, "big") for r in head[2:10]).split(b"\0", 1)[0].decode("latin-1")

    def _read(self, address: int, count: int) -> list[int]:
        return self.bus.read_input(address, count) if self.function == 4 else self.bus.read_holding(address, count)

    def identity(self) -> str:
        return f"house-map gas detector,GD,{self.serial},{self.firmware}"

    def close(self) -> None:
        self.bus.close()

    def safe_state(self) -> str:
        """Read-only: confirm it answers (and say what it reports)."""
        r = self.read()
        healthy = "healthy" if r.alarms.get("healthy") else "NOT healthy"
        return f"read-only instrument answering ({healthy}, stage {r.stage})"

    def read(self) -> GasReading:
        regs = self._read(READ_START, READ_COUNT)
        ppm = {g: Q_(regs[i] / GAS_SCALE[g], "ppm") for i, g in enumerate(GASES)}
        pressure = Q_(to_int16(regs[4]) / 10.0, "Pa")
        stage = regs[5]
        if stage not in (0, 1, 2):
            raise InstrumentError(
                self.name, f"alarm stage register holds {stage}, expected 0, 1 or 2", command=f"FC{self.function} @105"
            )
        status, faults = regs[6], regs[7]
        alarms = {name: bool(status >> bit & 1) for bit, name in STATUS_BITS.items()}
        alarms.update({f"sensor_fault_{name}": bool(faults >> bit & 1) for bit, name in FAULT_BITS.items()})
        return GasReading(ppm=ppm, pressure=pressure, stage=stage, alarms=alarms)

    def lfl(self) -> pint.Quantity:
        """Mixture %LFL the detector reports (register 108)."""
        return Q_(self._read(108, 1)[0] / 10.0, "percent")

    def thresholds(self) -> dict[str, pint.Quantity]:
        """The detector's configured stage thresholds (read-only here; set on the device)."""
        regs = self._read(THRESHOLD_START, THRESHOLD_COUNT)
        out = {f"stage1.{g}": Q_(regs[i] / GAS_SCALE[g], "ppm") for i, g in enumerate(GASES)}
        out.update({f"stage2.{g}": Q_(regs[4 + i] / GAS_SCALE[g], "ppm") for i, g in enumerate(GASES)})
        out["pressure_alarm"] = Q_(to_int16(regs[8]) / 10.0, "Pa")
        return out
