"""Gas and pressure inside the battery enclosure: release sources, ventilation, overpressure.

Well-mixed enclosure (the model NFPA 69 / NFPA 855 exhaust sizing from UL 9540A gas data uses): each species obeys
dC/dt = S - (ACH/3600) C with S the release rate in ppm/s of the enclosure volume, integrated
exactly for a source held over the step. The released gas also pressurises the enclosure, which
relieves through its leakage with a time constant: dP/dt = p_atm * sum(S)*1e-6 - P/tau_leak.
"""

from __future__ import annotations

import math
from typing import Any

SPECIES = ("H2", "CO", "VOC", "HF")
P_ATM_PA = 101_325.0


class GasModel:
    """Concentrations (ppm) and gauge pressure (Pa) in the enclosure."""

    def __init__(self, cfg: dict[str, Any] | None = None) -> None:
        cfg = dict(cfg or {})
        self.volume_m3 = float(cfg.get("enclosure_volume_m3", 1.5))
        self.ach_per_h = float(cfg.get("air_changes_per_h", 2.0))
        self.leak_tau_s = float(cfg.get("pressure_leak_tau_s", 20.0))
        bg = cfg.get("background_ppm", {})
        self.background_ppm = {s: float(bg.get(s, 0.0)) for s in SPECIES}
        self.ppm = dict(self.background_ppm)
        self.pressure_Pa = 0.0
        self.sources: dict[str, dict[str, float]] = {}  # source name -> species -> ppm/s
        self.exhaust_flow_m3_per_h: float | None = None  # forced exhaust (None: natural ventilation only)
        self._quiet = True

    def set_source(self, name: str, rates_ppm_per_s: dict[str, float] | None) -> None:
        """Install, change or (with None / all zero) remove a named release source."""
        if not rates_ppm_per_s or not any(rates_ppm_per_s.values()):
            self.sources.pop(name, None)
        else:
            unknown = set(rates_ppm_per_s) - set(SPECIES)
            if unknown:
                raise ValueError(f"unknown gas species {sorted(unknown)}; known {SPECIES}")
            self.sources[name] = {s: float(v) for s, v in rates_ppm_per_s.items()}
        self._quiet = False

    def set_exhaust_flow(self, flow_m3_per_h: float | None) -> None:
        """Run the enclosure exhaust at `flow_m3_per_h`, or stop it (None).

        The forced flow sets the air changes through the enclosure volume (flow / volume); the
        natural air changes still apply when they are larger (an exhaust slower than the natural
        leakage does not slow it down).
        """
        if flow_m3_per_h is not None:
            flow = float(flow_m3_per_h)
            if not 0.0 <= flow < math.inf:
                raise ValueError(f"exhaust flow must be a finite value >= 0 m3/h, got {flow_m3_per_h!r}")
            flow_m3_per_h = flow
        self.exhaust_flow_m3_per_h = flow_m3_per_h

    @property
    def air_changes_per_h(self) -> float:
        """Air changes per hour in effect: the natural ones, or the exhaust's if it moves more air."""
        forced = self.exhaust_flow_m3_per_h
        if forced is None:
            return self.ach_per_h
        return max(self.ach_per_h, forced / self.volume_m3)

    @property
    def quiet(self) -> bool:
        """No source and everything decayed to background: step() has nothing to do."""
        return self._quiet

    def release_rate_ppm_per_s(self) -> dict[str, float]:
        """Sum of all installed sources per species."""
        total = dict.fromkeys(SPECIES, 0.0)
        for rates in self.sources.values():
            for s, v in rates.items():
                total[s] += v
        return total

    def step(self, h: float) -> None:
        """Advance concentrations and pressure by h seconds."""
        if self._quiet:
            return
        src = self.release_rate_ppm_per_s()
        k = self.air_changes_per_h / 3600.0
        decay = math.exp(-k * h) if k > 0 else 1.0
        settled = True
        for s in SPECIES:
            excess = self.ppm[s] - self.background_ppm[s]
            if k > 0:
                excess = excess * decay + src[s] / k * (1.0 - decay)
            else:
                excess += src[s] * h
            self.ppm[s] = self.background_ppm[s] + excess
            settled = settled and src[s] == 0.0 and abs(excess) < 1e-6
        q = P_ATM_PA * sum(src.values()) * 1e-6  # Pa/s of gauge pressure from released volume
        a = math.exp(-h / self.leak_tau_s)
        self.pressure_Pa = self.pressure_Pa * a + q * self.leak_tau_s * (1.0 - a)
        if settled and self.pressure_Pa < 1e-6:
            self.pressure_Pa = 0.0
            self._quiet = True

    def lfl_percent(self) -> float:
        """Mixture %LFL by Le Chatelier (H2 4 %, CO 12.5 %, VOC as electrolyte ~1.5 % by volume)."""
        lfl = {"H2": 40_000.0, "CO": 125_000.0, "VOC": 15_000.0}
        return 100.0 * sum(self.ppm[s] / lfl[s] for s in lfl)
