"""The foxBMS 2 frame set as the bench reads and writes it: the DBC file, frame ids, BMS state names,
the state requests and what confirms each, and the alarm signals behind BmsStatus.alarms.

One table for the driver (instruments/foxbms_can.py) and the simulated BMS that speaks it
(instruments/sim/), so the two can never disagree on a name or an id."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import cantools

DBC_PATH = Path(__file__).resolve().parent / "dbc" / "ess_bench_bms.dbc"


@functools.lru_cache(maxsize=8)
def _parsed_dbc(path: str, mtime_ns: int, size: int) -> Any:
    return cantools.database.load_file(path, strict=True)


def load_dbc(path: str | Path | None = None) -> Any:
    """The parsed DBC (cantools, strict), parsed once per process and file version (path, mtime, size).

    Parsing costs about 0.25 s and a simulated station opens the file twice (its BMS node and the
    driver), in every plan process. Sharing is safe: encoding and decoding never change a cantools
    Database, and neither user adds to it."""
    p = Path(path) if path else DBC_PATH
    st = p.stat()  # a missing file fails here with its path, as cantools' own open would
    return _parsed_dbc(str(p), st.st_mtime_ns, st.st_size)


STATE_NAMES = (
    "UNINITIALIZED",
    "INITIALIZATION",
    "INITIALIZED",
    "IDLE",
    "OPEN_CONTACTORS",
    "STANDBY",
    "PRECHARGE",
    "NORMAL",
    "DISCHARGE",
    "CHARGE",
    "ERROR",
    "UNDEFINED",
)
ERROR_STATE = 10
REQUESTS = {"standby": 0, "discharge": 1, "charge": 2}
# What each request must read back: BmsState values and whether a string is connected.
CONFIRM = {"standby": ({3, 5, 10}, False), "discharge": ({8, 7}, True), "charge": ({9}, True)}
ID_STATE, ID_TEMP, ID_VOLT, ID_LIMITS, ID_P0, ID_SOX, ID_STRING = 0x220, 0x230, 0x231, 0x232, 0x233, 0x235, 0x240
ID_REQUEST, ID_CELL_V, ID_CELL_T = 0x210, 0x250, 0x260
STATUS_IDS = (ID_STATE, ID_TEMP, ID_VOLT, ID_LIMITS, ID_P0, ID_SOX, ID_STRING)
# BmsStatus.alarms names -> (frame id, signal); names follow the simulator's plant where they overlap.
ALARM_SIGNALS: dict[str, tuple[int, str]] = {
    "general_error": (ID_STATE, "GeneralError"),
    "general_warning": (ID_STATE, "GeneralWarning"),
    "emergency_shutoff": (ID_STATE, "EmergencyShutoff"),
    "insulation": (ID_STATE, "InsulationError"),
    "interlock_open": (ID_STATE, "InterlockState"),
    "main_fuse_blown": (ID_STATE, "MainFuseBlown"),
    "precharge": (ID_STATE, "PrechargeVoltageError"),
    "precharge_current": (ID_STATE, "PrechargeCurrentError"),
    "oc_charge": (ID_STATE, "PackOvercurrentChargeError"),
    "oc_discharge": (ID_STATE, "PackOvercurrentDischargeError"),
    "comms_loss": (ID_STATE, "CanTimingError"),
    "nvram_crc": (ID_STATE, "NvramCrcError"),
    "alert": (ID_STATE, "AlertFlag"),
    "cell_ov": (ID_STRING, "OvervoltageMslError"),
    "cell_uv": (ID_STRING, "UndervoltageMslError"),
    "cell_ot_charge": (ID_STRING, "OvertemperatureChargeMslError"),
    "cell_ot_discharge": (ID_STRING, "OvertemperatureDischargeMslError"),
    "cell_ut_charge": (ID_STRING, "UndertemperatureChargeMslError"),
    "cell_ut_discharge": (ID_STRING, "UndertemperatureDischargeMslErro"),
    "cell_oc_charge": (ID_STRING, "CellOvercurrentChargeMslError"),
    "cell_oc_discharge": (ID_STRING, "CellOvercurrentDischargeMslError"),
    "deep_discharge": (ID_STRING, "DeepDischargeError"),
    "contactor": (ID_STRING, "PositiveContactorError"),
    "warn_cell_ov": (ID_STRING, "OvervoltageMolWarning"),
    "warn_cell_uv": (ID_STRING, "UndervoltageMolWarning"),
    "warn_cell_ot_charge": (ID_STRING, "OvertemperatureChargeMolWarning"),
    "warn_cell_ot_discharge": (ID_STRING, "OvertemperatureDischargeMolWarni"),
    "warn_cell_ut_charge": (ID_STRING, "UndertemperatureChargeMolWarning"),
    "warn_cell_ut_discharge": (ID_STRING, "UndertemperatureDischargeMolWarn"),
}
