"""Faults a simulated site can be given (station `[simulation] faults = [...]`, or injected).

Each is a table with `kind`, its own keys and an optional `at_s` (virtual time it starts; default
at once). Unknown kinds or keys, and values out of range, are refused when the site is built.

| kind | keys | what the site does |
|---|---|---|
| pcs_slow | extra_delay_s | commands take effect this much later (PCS slow to respond) |
| ramp_limited | ramp_pct_per_s | the PCS cannot ramp faster than this, whatever WRmp says |
| block_derated | block, capacity_factor | one block holds this fraction of its energy (BMS knows its SoH) |
| block_offline | block | one block never closes its contactors (BMS fault) |
| stuck_soc | | the controller's site SoC (713 SoC, WHAvail) stops updating |
| ct_reversed | | the site meter's current transformer is mounted backwards (signs and registers swap) |
| aux_overconsumption | extra_W | the auxiliary feeder draws this much more than declared |
| comms_drop | every_n, duration_s | the controller silently drops every n-th Modbus request, for duration_s of virtual time (a burst of packet loss) |
| coolant_pressure_low | pressure_kPa | the coolant pump delivers this pressure (standing condition) |
| thermal_gradient | block, cell, delta_K | one cell sensor of a block reads delta_K above ambient (standing) |
| over_voltage | block, cell, voltage_V | one cell sensor of a block reads this voltage (standing) |
| protection_defect | function, extra_delay_s | the site's over_voltage / thermal_gradient / coolant_pressure / comms_loss protection acts this much later (a large value: never in the test) |
| setting | point, value | a controller setting differs from what was approved ("64901.HvacSetpt", SI value of the point) |
| not_implemented | points | these points read SunSpec "not implemented" and refuse writes ("704.VarSet", ...) |
"""

from __future__ import annotations

import math
from typing import Any

KINDS: dict[str, dict[str, tuple[str, float | None, float | None]]] = {
    # key -> (type, min, max)
    "pcs_slow": {"extra_delay_s": ("float", 0.0, 3600.0)},
    "ramp_limited": {"ramp_pct_per_s": ("float", 1e-3, 1000.0)},
    "block_derated": {"block": ("int", 1, None), "capacity_factor": ("float", 0.05, 1.0)},
    "block_offline": {"block": ("int", 1, None)},
    "stuck_soc": {},
    "ct_reversed": {},
    "aux_overconsumption": {"extra_W": ("float", 0.0, 1e7)},
    "comms_drop": {"every_n": ("int", 2, 1_000_000), "duration_s": ("float", 0.0, 1e9)},
    "coolant_pressure_low": {"pressure_kPa": ("float", 0.0, 10_000.0)},
    "thermal_gradient": {"block": ("int", 1, None), "cell": ("int", 1, None), "delta_K": ("float", 0.0, 200.0)},
    "over_voltage": {"block": ("int", 1, None), "cell": ("int", 1, None), "voltage_V": ("float", 0.0, 10.0)},
    "protection_defect": {"function": ("text", None, None), "extra_delay_s": ("float", 0.0, 1e9)},
    "setting": {"point": ("text", None, None), "value": ("float", None, None)},
    "not_implemented": {"points": ("list", None, None)},
}
PROTECTIONS = ("over_voltage", "thermal_gradient", "coolant_pressure", "comms_loss")


def check_fault(spec: Any, n_blocks: int, n_cells: int, where: str) -> dict[str, Any]:
    """Validate one fault table; returns a clean copy or raises ValueError naming the key."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"{where}: expected a table with kind = one of {sorted(KINDS)}")
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"{where}.kind: unknown site fault {kind!r}; expected one of {sorted(KINDS)}")
    keys = KINDS[kind]
    extra = sorted(set(spec) - set(keys) - {"kind", "at_s"})
    if extra:
        raise ValueError(f"{where}: unknown key(s) {extra} for {kind}; expected {sorted(keys)} (and at_s)")
    out: dict[str, Any] = {"kind": kind, "at_s": float(spec.get("at_s", 0.0))}
    if not math.isfinite(out["at_s"]) or out["at_s"] < 0:
        raise ValueError(f"{where}.at_s: expected a time >= 0 s")
    for key, (typ, lo, hi) in keys.items():
        if key not in spec:
            raise ValueError(f"{where}.{key}: missing for fault {kind}")
        v = spec[key]
        if typ == "text":
            if not isinstance(v, str) or not v:
                raise ValueError(f"{where}.{key}: expected text")
            if key == "function" and v not in PROTECTIONS:
                raise ValueError(f"{where}.function: expected one of {list(PROTECTIONS)}, got {v!r}")
            out[key] = v
            continue
        if typ == "list":
            if not isinstance(v, list) or not v or not all(isinstance(p, str) and "." in p for p in v):
                raise ValueError(f'{where}.{key}: expected a list of "<model>.<point>" names')
            out[key] = list(v)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise ValueError(f"{where}.{key}: expected a number, got {v!r}")
        if typ == "int" and float(v) != int(v):
            raise ValueError(f"{where}.{key}: expected a whole number, got {v!r}")
        hi_eff = {"block": n_blocks, "cell": n_cells}.get(key, hi)
        if (lo is not None and v < lo) or (hi_eff is not None and v > hi_eff):
            raise ValueError(f"{where}.{key}: {v!r} outside {lo}..{hi_eff}")
        out[key] = int(v) if typ == "int" else float(v)
    return out


def apply_fault(plant: Any, f: dict[str, Any]) -> None:
    """Make the fault true in the plant (called at its start time, under the clock lock)."""
    kind = f["kind"]
    if kind == "pcs_slow":
        plant.pcs.extra_delay_s = f["extra_delay_s"]
    elif kind == "ramp_limited":
        plant.pcs.ramp_capability = f["ramp_pct_per_s"]
    elif kind == "block_derated":
        b = plant.blocks[f["block"] - 1]
        cells = b.pack.cells
        cells.capacity_factor = cells.capacity_factor * f["capacity_factor"]
        cells.refresh_slow()
        b.bms.capacity_est_Ah = b.bms.capacity_est_Ah * f["capacity_factor"]
        b.bms.soh *= f["capacity_factor"]
    elif kind == "block_offline":
        b = plant.blocks[f["block"] - 1]
        b.offline = True
        b.bms.request_state("standby")
    elif kind == "stuck_soc":
        plant.stuck_soc_pct = plant.site_soc_pct()
    elif kind == "ct_reversed":
        plant.ct_reversed = True
    elif kind == "aux_overconsumption":
        plant.aux.extra_W = f["extra_W"]
    elif kind == "comms_drop":
        plant.drop_every_n = f["every_n"]
        plant.drop_until_s = plant.t_s + f["duration_s"]
    elif kind == "coolant_pressure_low":
        plant.aux.pressure_factor = f["pressure_kPa"] / plant.aux.pressure_nominal_kPa
    elif kind == "thermal_gradient":
        b = plant.blocks[f["block"] - 1]
        b.bms.set_sensor_override("temperature", f["cell"] - 1, plant.ambient_degC + f["delta_K"])
    elif kind == "over_voltage":
        plant.blocks[f["block"] - 1].bms.set_sensor_override("voltage", f["cell"] - 1, f["voltage_V"])
    elif kind == "protection_defect":
        plant.protection_delay_s[f["function"]] = f["extra_delay_s"]
    elif kind == "setting":
        plant.set_setting(f["point"], f["value"])
    elif kind == "not_implemented":
        plant.not_implemented.update(f["points"])
    plant.log(f"fault {kind} active: " + ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("kind", "at_s")))
