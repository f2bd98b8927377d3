"""Derive the project DBC `ess_bench_bms.dbc` from the unmodified foxBMS 2 DBC.

Why: the bench speaks the foxBMS 2 message layout, so any foxBMS-aware tool (and the unmodified
foxBMS DBC) decodes our frames. The foxBMS DBC has no nodes (`BU_: Vector__XXX`), so
`cantools.tester.Tester("BMS", ...)` cannot tell which side sends what; the derived file keeps
only the messages the bench uses, with identical signal layouts and cycle times, and adds the
nodes `BMS` and `TESTER` with senders and receivers set. Running this script again reproduces
the file byte for byte from the same input.

    python instruments/dbc/derive.py [path/to/foxbms.dbc] [-o instruments/dbc/ess_bench_bms.dbc]

This product uses parts of foxBMS® (BSD-3-Clause; licence text in FOXBMS-LICENSE.txt).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import cantools
from cantools.database.can import Database, Node

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[1].parent / "shared" / "data" / "foxbms" / "foxbms.dbc"
DEFAULT_OUTPUT = HERE / "ess_bench_bms.dbc"

# frame id -> sender node (the other node receives)
MESSAGES: dict[int, str] = {
    0x210: "TESTER",  # f_BmsStateRequest (foxBMS rx)
    0x220: "BMS",  # f_BmsState
    0x230: "BMS",  # f_PackMinMaxCellTemperature
    0x231: "BMS",  # f_PackMinMaxCellVoltage
    0x232: "BMS",  # f_PackLimits
    0x233: "BMS",  # f_PackValuesP0
    0x235: "BMS",  # f_PackStateEstimation
    0x240: "BMS",  # f_StringState (mux by string; cell OV/UV/OT/UT/OC error and warning flags)
    0x250: "BMS",  # f_CellVoltages (multiplexed)
    0x260: "BMS",  # f_CellTemperatures (multiplexed)
}
NODES = ("BMS", "TESTER")
HEADER = (
    "ESS Bench BMS CAN database, derived by instruments/dbc/derive.py from foxBMS 2 "
    "tools/dbc/foxbms.dbc (v1.11.0), signal layouts unchanged. This product uses parts of "
    "foxBMS(R); foxBMS 2 is BSD-3-Clause licensed, see FOXBMS-LICENSE.txt."
)


def derive(source: Path) -> Database:
    """The project database: the selected foxBMS messages with nodes, senders and receivers."""
    fox = cantools.database.load_file(str(source), strict=True)
    messages = []
    for frame_id, sender in MESSAGES.items():
        msg = copy.deepcopy(fox.get_message_by_frame_id(frame_id))
        receiver = next(n for n in NODES if n != sender)
        msg.senders[:] = [sender]
        for sig in msg.signals:
            sig.receivers[:] = [receiver]
        messages.append(msg)
    nodes = [
        Node(
            name,
            comment="foxBMS 2 BMS (simulated or real)"
            if name == "BMS"
            else "ESS Bench test station (the FoxBmsCan driver)",
        )
        for name in NODES
    ]
    db = Database(messages=messages, nodes=nodes, version="", dbc_specifics=copy.deepcopy(fox.dbc), strict=True)
    return db


def render(db: Database) -> str:
    """DBC text with the attribution as the database comment (a `CM_` without object)."""
    text = db.as_dbc_string()
    marker = "\nCM_ "
    line = f'\nCM_ "{HEADER}";'
    idx = text.find(marker)
    if idx < 0:
        return text.rstrip("\n") + line + "\n"
    return text[:idx] + line + text[idx:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE), help="the unmodified foxBMS 2 DBC")
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    args = ap.parse_args(argv)
    src = Path(args.source)
    if not src.exists():
        print(f"foxBMS DBC not found: {src}", file=sys.stderr)
        return 2
    text = render(derive(src))
    cantools.database.load_string(text, database_format="dbc", strict=True)  # the result must load
    Path(args.output).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {args.output} ({len(MESSAGES)} messages) from {src}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
