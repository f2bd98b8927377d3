"""Pure computations of the site plan: step response, duty-cycle tracking, RTE.

Kept apart from the steps so each metric is unit-tested on made-up samples (tests/site).

Step response (PNNL-22010 Rev 2 (2016) response time; the terms as IEC 62933-2-1 uses them):
for a command at t_c from P0 to P1 (change D = P1 - P0), with samples (t, P):
  delay    = first t where (P - P0)/D >= 10 %, minus t_c
  rise     = first t at >= 90 % minus first t at >= 10 %
  settling = last t outside |P - P1| <= band (band in W), minus t_c (0 if never outside)
  overshoot= max over samples of (P - P1)/D beyond the target, in % of |D| (0 if none)
  ramp     = 0.8 |D| / rise, in % of rated power per second
RTE: sum E_dis / sum E_ch over complete cycles; with auxiliaries sum E_dis / (sum E_ch + sum E_aux)
where E_aux is the auxiliary feeder's energy over the cycles (charge, discharge and rests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class StepResponse:
    delay_s: float
    rise_s: float
    settling_s: float
    overshoot_pct: float
    ramp_pct_per_s: float
    reached: bool


def step_response(
    t: list[float], p: list[float], t_cmd: float, p0: float, p1: float, band_w: float, rated_w: float
) -> StepResponse:
    ts = np.asarray(t, dtype=float)
    ps = np.asarray(p, dtype=float)
    d = p1 - p0
    if abs(d) < 1e-9 or ts.size == 0:
        raise ValueError("a step needs a non-zero change and samples")
    frac = (ps - p0) / d
    after = ts >= t_cmd
    i10 = np.flatnonzero(after & (frac >= 0.1))
    i90 = np.flatnonzero(after & (frac >= 0.9))
    end = float(ts[-1])
    t10 = float(ts[i10[0]]) if i10.size else end
    t90 = float(ts[i90[0]]) if i90.size else end
    outside = np.flatnonzero(after & (np.abs(ps - p1) > band_w))
    settling = (float(ts[outside[-1]]) - t_cmd) if outside.size else 0.0
    if outside.size and outside[-1] == ts.size - 1:
        settling = end - t_cmd  # never settled inside the record
    beyond = (frac[after] - 1.0) * 100.0
    overshoot = max(0.0, float(beyond.max())) if beyond.size else 0.0
    rise = max(t90 - t10, 1e-9)
    ramp = 0.8 * abs(d) / rise / rated_w * 100.0
    return StepResponse(t10 - t_cmd, t90 - t10, settling, overshoot, ramp, bool(i90.size))


@dataclass
class Tracking:
    rms_pct: float
    max_pct: float
    requested_kwh: float
    delivered_kwh: float
    unmet: int
    intervals: int


def tracking(
    requested_w: list[float],
    measured_w: list[float],
    requested_j: list[float],
    delivered_j: list[float],
    rated_w: float,
    unmet_tolerance: float,
    active_threshold: float,
) -> Tracking:
    """Per interval: power at its end against the request, energy against the request.

    `requested_j`/`delivered_j` are signed energies per interval (+ export). An interval is
    unmet when it requests at least `active_threshold` of rated power and the power at its end
    misses the request by more than `unmet_tolerance` of it (the site could not give what was
    asked: end of its SoC window, a derate, a trip); the energy over the cycle is compared with
    the request separately (delivered / requested over the intervals that ask for power)."""
    req = np.asarray(requested_w, dtype=float)
    mea = np.asarray(measured_w, dtype=float)
    err = (mea - req) / rated_w * 100.0
    rj = np.asarray(requested_j, dtype=float)
    dj = np.asarray(delivered_j, dtype=float)
    active = np.abs(req) >= active_threshold * rated_w
    missed = np.abs(mea - req) > unmet_tolerance * np.abs(req)
    unmet = int(np.count_nonzero(active & missed))
    asked = req != 0  # an idle interval's standby draw is not delivered energy
    return Tracking(
        float(math.sqrt(float(np.mean(err**2)))) if err.size else 0.0,
        float(np.max(np.abs(err))) if err.size else 0.0,
        float(np.abs(rj[asked]).sum()) / 3.6e6,
        float(np.sum(np.abs(dj[asked]))) / 3.6e6,
        unmet,
        int(req.size),
    )


def rte(discharged: list[float], charged: list[float], aux: list[float] | None = None) -> float:
    """Round-trip efficiency as a fraction; `aux` energy, when given, is added to the charge side."""
    e_in = sum(charged) + (sum(aux) if aux else 0.0)
    if e_in <= 0:
        raise ValueError("no charge energy: RTE undefined")
    return sum(discharged) / e_in
