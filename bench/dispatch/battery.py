"""The battery the schedule is for: ratings, efficiencies, SoC window, wear limit, costs (a TOML file).

Why wear is a throughput limit (or a cost per kWh of throughput) and not a cell model: the LP must
stay linear and fast (a year at 15 min in seconds), and for a second-life pack the warranty or the
grading usually states an energy throughput, so the limit is what the owner can actually enforce.
Throughput is Σ (charge + discharge) Δt / 2, i.e. the mean of energy in and out at the AC terminal.
See docs/dispatch.md for the file format.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pint

from bench.dispatch.errors import PassportError, SocWindowError
from bench.dispatch.fields import TomlReader
from bench.tomlfile import read_toml, sha256_hex
from bench.units import Q_

HOURS_PER_YEAR = 8760.0


@dataclass
class Battery:
    """Ratings as quantities; `*_kw`/`*_kwh` floats for the LP builder."""

    source: str
    name: str
    energy: pint.Quantity  # nominal energy capacity (SoC 0..100 %)
    charge_power: pint.Quantity  # at the AC terminal
    discharge_power: pint.Quantity
    charge_efficiency: float  # AC energy in -> stored energy
    discharge_efficiency: float  # stored energy -> AC energy out
    soc_min: float  # fractions of `energy`
    soc_max: float
    soc_initial: float
    currency: str
    throughput_limit: pint.Quantity | None = None  # per year
    throughput_cost: float = 0.0  # currency per kWh of throughput
    lifetime_throughput: pint.Quantity | None = None  # wear-out: end of life at this throughput
    capital_cost: float = 0.0  # currency, total
    energy_cost: float = 0.0  # currency per kWh (added to capital_cost)
    power_cost: float = 0.0  # currency per kW
    life_years: float = 10.0
    discount_rate: float = 0.0
    om_per_year: float = 0.0
    sha256: str = ""
    passports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def energy_kwh(self) -> float:
        return float(self.energy.to("kWh").magnitude)

    @property
    def charge_kw(self) -> float:
        return float(self.charge_power.to("kW").magnitude)

    @property
    def discharge_kw(self) -> float:
        return float(self.discharge_power.to("kW").magnitude)

    @property
    def round_trip(self) -> float:
        return self.charge_efficiency * self.discharge_efficiency

    def throughput_limit_kwh(self, hours: float) -> float | None:
        """The cap for a horizon of `hours`: the per-year limit scaled to it, a year being 8,760 h as in the
        annualisation of the bill (pint's `year` is 365.25 days, which would move a year's cap by 0.07 %)."""
        if self.throughput_limit is None:
            return None
        return float(self.throughput_limit.to("kWh/year").magnitude) * hours / HOURS_PER_YEAR

    def investment(self) -> float:
        """Capital cost of this size: fixed part + per kWh + per kW (the larger of charge and discharge power)."""
        return (
            self.capital_cost
            + self.energy_cost * self.energy_kwh
            + self.power_cost * max(self.charge_kw, self.discharge_kw)
        )

    def resized(
        self,
        energy_kwh: float | None = None,
        power_kw: float | None = None,
        throughput_limit: pint.Quantity | None | bool = False,
    ) -> Battery:
        """The same battery at another size (sizing sweeps); `throughput_limit=False` keeps the limit."""
        out = replace(self)
        if energy_kwh is not None:
            out.energy = Q_(energy_kwh, "kWh")
        if power_kw is not None:
            ratio = self.discharge_kw / self.charge_kw if self.charge_kw else 1.0
            out.charge_power = Q_(power_kw, "kW")
            out.discharge_power = Q_(power_kw * ratio, "kW")
        if throughput_limit is not False:
            out.throughput_limit = throughput_limit  # type: ignore[assignment]
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.sha256,
            "energy": f"{self.energy_kwh:g} kWh",
            "charge_power": f"{self.charge_kw:g} kW",
            "discharge_power": f"{self.discharge_kw:g} kW",
            "charge_efficiency": f"{100 * self.charge_efficiency:g} %",
            "discharge_efficiency": f"{100 * self.discharge_efficiency:g} %",
            "round_trip_efficiency": f"{100 * self.round_trip:.4g} %",
            "soc_window": [f"{100 * self.soc_min:g} %", f"{100 * self.soc_max:g} %"],
            "soc_initial": f"{100 * self.soc_initial:g} %",
            "throughput_limit": None
            if self.throughput_limit is None
            else f"{self.throughput_limit.to('MWh/year').magnitude:g} MWh/year",
            "throughput_cost": f"{self.throughput_cost:g} {self.currency}/kWh",
            "lifetime_throughput": None
            if self.lifetime_throughput is None
            else f"{self.lifetime_throughput.to('MWh').magnitude:g} MWh",
            "investment": f"{self.investment():.2f} {self.currency}",
            "life": f"{self.life_years:g} year",
            "discount_rate": f"{100 * self.discount_rate:g} %",
            "passports": self.passports,
        }


def _fraction(
    r: TomlReader, t: dict, key: str, default: Any = ..., low: str = "0 %", high: str = "100 %", low_open: bool = False
) -> float | None:
    kwargs = {} if default is ... else {"default": default}
    q = r.quantity(t, "battery", key, "dimensionless", low=low, high=high, low_open=low_open, **kwargs)
    return None if q is None else float(q.to("").magnitude)


def read_battery(path: str | Path) -> Battery:
    """Read and validate a battery file; all problems at once, then the SoC window as a named error."""
    p = Path(path)
    data, raw = read_toml(p)
    source = str(p)
    r = TomlReader(data, source)
    r.unknown(data, "", {"battery", "degradation", "economics"})
    b = r.table("battery")
    r.unknown(
        b,
        "battery",
        {
            "name",
            "energy",
            "power",
            "charge_power",
            "discharge_power",
            "charge_efficiency",
            "discharge_efficiency",
            "round_trip_efficiency",
            "soc_min",
            "soc_max",
            "soc_initial",
        },
    )
    energy = r.quantity(b, "battery", "energy", "energy", low="0 kWh", low_open=True, high="10 GWh")
    power = r.quantity(b, "battery", "power", "power", default=None, low="0 kW", low_open=True, high="10 GW")
    pc = r.quantity(b, "battery", "charge_power", "power", default=None, low="0 kW", low_open=True, high="10 GW")
    pd = r.quantity(b, "battery", "discharge_power", "power", default=None, low="0 kW", low_open=True, high="10 GW")
    if power is None and (pc is None or pd is None) and not any(e.key and "power" in e.key for e in r.errors):
        r.error("give power, or both charge_power and discharge_power", "battery.power")
    pc, pd = pc or power, pd or power
    if "round_trip_efficiency" in b and ("charge_efficiency" in b or "discharge_efficiency" in b):
        r.error(
            "give round_trip_efficiency or charge/discharge efficiencies, not both", "battery.round_trip_efficiency"
        )
    if "round_trip_efficiency" in b:
        rte = _fraction(r, b, "round_trip_efficiency", low="1 %", high="100 %")
        eta_c = eta_d = math.sqrt(rte) if rte is not None else None
    else:
        eta_c = _fraction(r, b, "charge_efficiency", low="1 %", high="100 %")
        eta_d = _fraction(r, b, "discharge_efficiency", low="1 %", high="100 %")
    soc_min = _fraction(r, b, "soc_min", default="0 %")
    soc_max = _fraction(r, b, "soc_max", default="100 %")
    soc_init = _fraction(r, b, "soc_initial", default=None)
    currency = "EUR"
    econ = r.table("economics", required=False)
    r.unknown(
        econ, "economics", {"currency", "capital_cost", "energy_cost", "power_cost", "life", "discount_rate", "om_cost"}
    )
    currency = (r.get(econ, "economics", "currency", str, "EUR") or "EUR").upper()
    deg = r.table("degradation", required=False)
    r.unknown(
        deg, "degradation", {"throughput_limit", "cycle_limit", "throughput_cost", "lifetime_throughput", "cycle_life"}
    )
    limit = r.quantity(
        deg, "degradation", "throughput_limit", "kWh/year", default=None, low="0 kWh/year", high="100 TWh/year"
    )
    cycles = r.quantity(deg, "degradation", "cycle_limit", "1/year", default=None, low="0 /year", high="100000 /year")
    if limit is not None and cycles is not None:
        r.error("give throughput_limit or cycle_limit, not both", "degradation.cycle_limit")
    if cycles is not None and energy is not None:
        limit = (cycles * energy).to("MWh/year")
    life_tp = r.quantity(
        deg, "degradation", "lifetime_throughput", "energy", default=None, low="0 kWh", low_open=True, high="1000 TWh"
    )
    cycle_life = r.quantity(deg, "degradation", "cycle_life", "dimensionless", default=None, low="1", high="1e6")
    if life_tp is not None and cycle_life is not None:
        r.error("give lifetime_throughput or cycle_life, not both", "degradation.cycle_life")
    if cycle_life is not None and energy is not None:
        life_tp = (cycle_life.to("").magnitude * energy).to("MWh")
    tp_cost = r.money(deg, "degradation", "throughput_cost", currency, "kWh", default=0.0, low=0.0, high=100.0)
    capital = r.money(econ, "economics", "capital_cost", currency, None, default=0.0, low=0.0, high=1e12)
    e_cost = r.money(econ, "economics", "energy_cost", currency, "kWh", default=0.0, low=0.0, high=1e5)
    p_cost = r.money(econ, "economics", "power_cost", currency, "kW", default=0.0, low=0.0, high=1e5)
    life = r.quantity(econ, "economics", "life", "time", default="10 year", low="1 year", high="100 year")
    rate = r.quantity(econ, "economics", "discount_rate", "dimensionless", default="0 %", low="-50 %", high="100 %")
    om = r.money(econ, "economics", "om_cost", currency, "year", default=0.0, low=0.0, high=1e12)
    r.raise_if_any()
    assert energy is not None and pc is not None and pd is not None and eta_c is not None and eta_d is not None
    assert soc_min is not None and soc_max is not None
    if soc_min >= soc_max:
        raise SocWindowError(
            f"soc_min {100 * soc_min:g} % must be below soc_max {100 * soc_max:g} %: the window is empty",
            source=source,
            key="battery.soc_min",
        )
    if soc_init is None:
        soc_init = (soc_min + soc_max) / 2
    if not soc_min <= soc_init <= soc_max:
        raise SocWindowError(
            f"soc_initial {100 * soc_init:g} % is outside the window {100 * soc_min:g} .. {100 * soc_max:g} %",
            source=source,
            key="battery.soc_initial",
        )
    return Battery(
        source=source,
        name=r.get(b, "battery", "name", str, p.stem) or p.stem,
        energy=energy.to("kWh"),
        charge_power=pc.to("kW"),
        discharge_power=pd.to("kW"),
        charge_efficiency=eta_c,
        discharge_efficiency=eta_d,
        soc_min=soc_min,
        soc_max=soc_max,
        soc_initial=soc_init,
        currency=currency,
        throughput_limit=None if limit is None else limit.to("MWh/year"),
        throughput_cost=tp_cost or 0.0,
        lifetime_throughput=None if life_tp is None else life_tp.to("MWh"),
        capital_cost=capital or 0.0,
        energy_cost=e_cost or 0.0,
        power_cost=p_cost or 0.0,
        life_years=float(life.to("year").magnitude) if life is not None else 10.0,
        discount_rate=float(rate.to("").magnitude) if rate is not None else 0.0,
        om_per_year=om or 0.0,
        sha256=sha256_hex(raw),
    )


def _passport_quantity(pp: dict[str, Any], section: str, key: str, dimension: str, source: str) -> pint.Quantity | None:
    from bench.units import parse_quantity

    entry = (pp.get(section) or {}).get(key)
    if entry is None:
        return None
    unit = str(entry.get("unit", "")).replace("Ω", "ohm")
    q = parse_quantity(f"{entry['value']} {unit}", source=source, key=f"{section}.{key}", dimension=dimension)
    if not math.isfinite(float(q.magnitude)) or q.magnitude < 0:
        raise PassportError(f"{q:~P} is not a usable value", source=source, key=f"{section}.{key}")
    return q


def apply_passports(battery: Battery, paths: list[str | Path]) -> Battery:
    """Size the pack by what its modules measured: energy = Σ remaining energy, power capped by Σ pulse power.

    Each passport is one module of the pack (schemas/battery_passport.schema.json, written by the
    intake plan). A module graded for recycling or quarantine, or one without a measured energy,
    cannot be sized by and is refused by name.
    """
    import jsonschema

    schema_path = Path(__file__).resolve().parents[2] / "schemas" / "battery_passport.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    total_e = Q_(0.0, "kWh")
    total_p: pint.Quantity | None = Q_(0.0, "kW")
    used = []
    for path in paths:
        src = str(path)
        try:
            pp = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PassportError("passport file not found", source=src) from None
        except (OSError, ValueError) as exc:
            raise PassportError(f"cannot read as JSON: {exc}", source=src) from None
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(pp), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            raise PassportError(
                f"not a battery passport ({schema_path.name}): {e.message}",
                source=src,
                key=".".join(str(x) for x in e.path) or None,
            )
        grade = pp["repurposing"]["grade"]
        if grade in ("recycle", "quarantine") or pp["batteryStatus"] == "waste":
            raise PassportError(
                f"module {pp['identity']['serialNumber']} is graded {grade!r} "
                f"(status {pp['batteryStatus']}); it is not fit for a storage pack",
                source=src,
                key="repurposing.grade",
            )
        energy = _passport_quantity(pp, "performance", "remainingEnergy", "energy", src)
        if energy is None:
            cap = _passport_quantity(pp, "performance", "remainingCapacity", "charge", src)
            volt = _passport_quantity(pp, "identity", "nominalVoltage", "voltage", src)
            if cap is None or volt is None:
                raise PassportError(
                    "no measured remainingEnergy (nor remainingCapacity with nominalVoltage): the "
                    "module's usable energy is unknown",
                    source=src,
                    key="performance.remainingEnergy",
                )
            energy = (cap * volt).to("kWh")
        power = _passport_quantity(pp, "performance", "remainingPowerCapability", "power", src)
        total_e = total_e + energy.to("kWh")
        total_p = None if power is None or total_p is None else total_p + power.to("kW")
        soce = _passport_quantity(pp, "performance", "stateOfCertifiedEnergy", "dimensionless", src)
        used.append(
            {
                "file": src,
                "serial": pp["identity"]["serialNumber"],
                "grade": grade,
                "remaining_energy": f"{energy.to('kWh').magnitude:.6g} kWh",
                "power_capability": None if power is None else f"{power.to('kW').magnitude:.6g} kW",
                "state_of_certified_energy": None if soce is None else f"{soce.to('percent').magnitude:.4g} %",
                "energy_throughput": (pp.get("history") or {}).get("energyThroughput"),
            }
        )
    if not used:
        raise PassportError("no passport given")
    out = replace(battery, energy=total_e, passports=used)
    if total_p is not None:
        out.charge_power = min(battery.charge_power, total_p)
        out.discharge_power = min(battery.discharge_power, total_p)
    return out
