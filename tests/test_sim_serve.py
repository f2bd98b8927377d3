"""`bench sim serve`: the simulated station in real time, reachable by outside tools on 127.0.0.1."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pyvisa

ROOT = Path(__file__).resolve().parent.parent


def test_outside_visa_session_identifies_every_scpi_instrument():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "sim", "serve", "--station", "stations/sim.toml", "--duration", "60"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: read the role table
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("gas"):
                break
        text = "".join(lines)
        scpi = dict(re.findall(r"^\s+(\w+)\s+\S+\s+(TCPIP0::127\.0\.0\.1::\d+::SOCKET)$", text, re.M))
        assert set(scpi) == {"psu", "load", "dmm", "irt"}, text
        modbus = re.findall(r"^\s+(chamber|bms_modbus|gas)\s+\S+\s+(127\.0\.0\.1:\d+)$", text, re.M)
        assert len(modbus) == 3, text
        rm = pyvisa.ResourceManager("@py")
        for role, resource in scpi.items():
            inst = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=3000)
            idn = inst.query("*IDN?")
            assert idn.count(",") == 3, (role, idn)
            inst.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
