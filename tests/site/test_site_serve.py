"""`bench sim serve --station stations/sim_site.toml`: the simulated site for outside SunSpec clients."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import sunspec2.modbus.client as client

from instruments.sunspec_models import add_model_definitions

ROOT = Path(__file__).resolve().parents[2]


def test_pysunspec2_as_outside_client_finds_the_site_models():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "sim", "serve", "--station", "stations/sim_site.toml", "--duration", "60"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded: read the role table
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("stimulus"):
                break
        text = "".join(lines)
        m = re.search(r"^\s+site\s+\S+\s+127\.0\.0\.1:(\d+)$", text, re.M)
        assert m, text
        add_model_definitions()  # the vendor model's JSON definition, as a crew's pysunspec2 would be given
        d = client.SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=int(m.group(1)), timeout=5)
        try:
            d.scan()
            found = {k for k in d.models if isinstance(k, int)}
            assert {1, 701, 702, 704, 713, 714, 802} <= found
            assert len(d.models[802]) == 3 and 64901 in found
            d.models[1][0].read()
            assert d.models[1][0].Md.value == "SIM-SITE-300"
        finally:
            d.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
