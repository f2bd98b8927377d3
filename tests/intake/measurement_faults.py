"""pytest plugin for a child run (`-p tests.intake.measurement_faults`): faults in the measurement chain.

Why: a battery cannot show a negative resistance or charge itself at rest; only a broken
measurement chain can report that. To prove the intake plan never passes or grades such values,
this plugin breaks the chain the way real benches break, between the instrument and the plan:

- the electronic load's voltage sense reads `LOAD_SENSE_OFFSET_V` high whenever its input is on
  (a sense-lead fault): the two-step DC resistance is differential and immune, but every HPPC
  discharge pulse is referenced to the open-circuit reading, so its resistance comes out negative;
- the BMS cell-voltage front end drifts upward by `CELL_DRIFT_MV_PER_DAY` during the self-discharge
  step (a drifting reference): every cell seems to charge itself at rest, a negative leak.

It wraps the driver objects the steps receive (through `item.funcargs`), nothing in the bench,
and only for a DUT whose serial starts with `SERIAL_PREFIX`, so a whole batch may load it.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.units import Q_

SERIAL_PREFIX = "Q-IMPL"
LOAD_SENSE_OFFSET_V = 2.0
CELL_DRIFT_MV_PER_DAY = 3.0
_done: set[str] = set()
_active = {"on": False}  # set by the first step, which receives the DUT info


def _break_load(load: Any) -> None:
    state = {"on": False}
    set_input, measure_voltage = load.set_input, load.measure_voltage

    def set_input_tracked(on: bool) -> None:
        set_input(on)
        state["on"] = bool(on)

    def measure_voltage_offset() -> Any:
        v = measure_voltage()
        return v + Q_(LOAD_SENSE_OFFSET_V, "V") if state["on"] else v

    load.set_input = set_input_tracked
    load.measure_voltage = measure_voltage_offset


def _drift_cells(bms: Any, clock: Any) -> None:
    t0 = clock.now_s()
    cell_voltages = bms.cell_voltages

    def drifting() -> list[Any]:
        days = (clock.now_s() - t0) / 86400.0
        return [v + Q_(CELL_DRIFT_MV_PER_DAY * days, "mV") for v in cell_voltages()]

    bms.cell_voltages = drifting


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    args = getattr(item, "funcargs", {})
    if "dut" in args:
        _active["on"] = str(args["dut"].get("serial", "")).startswith(SERIAL_PREFIX)
    if not _active["on"]:
        return
    if "load" in args and "load" not in _done:
        _done.add("load")
        _break_load(args["load"])
    if item.name.startswith("test_07") and "bms" in args and "bms" not in _done:
        _done.add("bms")
        _drift_cells(args["bms"], args["clock"])
