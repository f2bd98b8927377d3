"""The approved site configuration: a signed TOML file of settings and firmware versions.

Why signed: commissioning compares the as-built site with what was approved, so the approved
file itself must be the one the owner's engineer signed (seed 003: "all configuration payloads
are signed"). It is signed like a limit set (`bench sign FILE` -> FILE.sig.json, subject kind
limit-set). A production station refuses an unsigned or altered file before anything is
compared (bench.signing.check_signed_limit_set, trust file from the station's [safety]); a
development station records the signature status as a deviation and goes on.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pint

from bench.errors import ConfigError
from bench.signing.manifest import sha256_bytes
from bench.units import Q_, parse_quantity

_POINT = re.compile(r"^\d+(\[\d+\])?\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\]\.[A-Za-z_][A-Za-z0-9_]*)*$")
TOP = {"approved", "firmware", "points", "tolerance"}


@dataclass
class ApprovedConfig:
    path: Path
    sha256: str
    meta: dict[str, Any]
    firmware: dict[str, str]
    points: dict[str, pint.Quantity | int | str]
    tolerance: dict[str, pint.Quantity] = field(default_factory=dict)
    signature: str = ""

    def firmware_for(self, component: str) -> str | None:
        """'bms[2]' falls back to 'bms' (one version for every block)."""
        if component in self.firmware:
            return self.firmware[component]
        return self.firmware.get(component.split("[", 1)[0])


def load_approved(path: Path) -> ApprovedConfig:
    """Parse and check every entry; ConfigError names the file and key."""
    src = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("approved site configuration not found", source=src) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=src) from None
    for key in sorted(set(data) - TOP):
        raise ConfigError(f"unknown section; expected some of {sorted(TOP)}", source=src, key=key)
    points: dict[str, pint.Quantity | int | str] = {}
    for name, value in dict(data.get("points", {})).items():
        if not _POINT.match(name):
            raise ConfigError(
                "expected '<model>[<instance>].<point>', e.g. \"704.WRmp\"", source=src, key=f"points.{name}"
            )
        if isinstance(value, bool):
            raise ConfigError("expected a value with unit, a number or text", source=src, key=f"points.{name}")
        if isinstance(value, int):
            points[name] = value
        elif isinstance(value, float):
            points[name] = Q_(value, "")
        elif isinstance(value, str) and re.match(r"^\s*[-+0-9.]", value):
            points[name] = parse_quantity(value, source=src, key=f"points.{name}")
        elif isinstance(value, str):
            points[name] = value
        else:
            raise ConfigError("expected a value with unit, a number or text", source=src, key=f"points.{name}")
    if not points:
        raise ConfigError("no [points] to compare", source=src, key="points")
    tol: dict[str, pint.Quantity] = {}
    for name, value in dict(data.get("tolerance", {})).items():
        if name not in points:
            raise ConfigError("tolerance for a point not in [points]", source=src, key=f"tolerance.{name}")
        tol[name] = parse_quantity(value, source=src, key=f"tolerance.{name}")
    fw = {}
    for k, v in dict(data.get("firmware", {})).items():
        if not isinstance(v, str) or not v:
            raise ConfigError("expected a version text", source=src, key=f"firmware.{k}")
        fw[str(k)] = v
    return ApprovedConfig(
        path=path,
        sha256=sha256_bytes(raw),
        meta=dict(data.get("approved", {})),
        firmware=fw,
        points=points,
        tolerance=tol,
    )


def check_signature(cfg: ApprovedConfig, *, production: bool, trust: Path | None) -> str:
    """Production: raise unless properly signed; development: describe the status."""
    from bench.signing.verify import check_signed_limit_set, verify_limit_set

    if production:
        if trust is None:
            raise ConfigError(
                "production mode needs [safety] trust_file to check the approved configuration's signature",
                source=str(cfg.path),
            )
        status = check_signed_limit_set(cfg.path, trust)
        cfg.signature = "signed by " + ", ".join(status.signers)
        return cfg.signature
    v = verify_limit_set(cfg.path, trust, allow_untrusted=True)
    if v.ok:
        cfg.signature = "signed by " + ", ".join(f"{s.signer} ({s.role})" for s in v.signatures)
    else:
        cfg.signature = "NOT VERIFIED: " + "; ".join(v.failure_lines())
    return cfg.signature


def compare(approved: pint.Quantity | int | str, device: Any, tolerance: pint.Quantity | None) -> tuple[bool, str]:
    """(same, text) for one point; `device` is the SitePoint value read back."""
    if device is None:
        return False, "device: not implemented"
    if isinstance(approved, pint.Quantity):
        if not isinstance(device, pint.Quantity):
            dev_q = Q_(float(device), "")
        else:
            dev_q = device
        try:
            diff = (
                abs(dev_q.to(approved.units) - approved)
                if approved.units != Q_(1, "degC").units
                else abs(dev_q.to("degC").magnitude - approved.to("degC").magnitude) * Q_(1, "K")
            )
        except pint.DimensionalityError:
            return False, f"device {dev_q:~P} not comparable with approved {approved:~P}"
        tol = tolerance if tolerance is not None else abs(approved) * 1e-3
        if isinstance(diff, pint.Quantity) and tol.dimensionality != diff.dimensionality:
            tol = Q_(tol.magnitude, diff.units)
        same = bool(diff <= tol) if isinstance(diff, pint.Quantity) else diff <= float(tol.magnitude)
        return same, f"device {dev_q:~P}, approved {approved:~P}"
    same = str(device) == str(approved)
    return same, f"device {device!r}, approved {approved!r}"
