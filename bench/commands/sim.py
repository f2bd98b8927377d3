"""`bench sim serve`: run a whole simulated station in real time for outside tools.

Each instrument is served on 127.0.0.1 (a VISA session, a Modbus scanner or a SunSpec client
can connect); CAN stays on python-can's in-process virtual bus unless the station names a
socketcan interface such as vcan0. The plant advances at wall-clock pace.
"""

from __future__ import annotations

import argparse
import signal
import threading

from bench.clock import RealTimeDriver, SimClock
from bench.errors import ConfigError
from bench.station import load_station, resolve_driver
from bench.units import Q_


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="simulated instruments")
    s = p.add_subparsers(dest="sim_cmd", metavar="ACTION", required=True)
    serve = s.add_parser("serve", help="serve a simulated station in real time on 127.0.0.1")
    serve.add_argument("--station", default="stations/sim.toml", help='station file whose roles are "sim"')
    serve.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)"
    )
    serve.set_defaults(func=serve_station)


def serve_station(args: argparse.Namespace) -> int:
    station = load_station(args.station)
    if not station.simulated:
        raise ConfigError('no role is "sim"; nothing to serve', source=args.station, key="roles")
    clock = SimClock(max_step=Q_(0.1, "s"))
    backend = resolve_driver(station.simulation.get("backend", "instruments.sim.station:SimulatedStation"))
    sim = backend(station, clock)
    resources = sim.start()
    driver = RealTimeDriver(clock)
    driver.start()
    print(f"simulated station {station.name!r} running in real time (Ctrl-C to stop)")
    for role, resource in resources.items():
        print(f"  {role:<11} {station.roles[role].driver:<50} {resource}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    try:
        done.wait(timeout=args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        driver.stop()
        sim.stop()
    print("stopped")
    return 0
