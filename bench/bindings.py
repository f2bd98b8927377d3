"""Binding station roles to the fixtures plans use, by capability, not by role name.

A capability class declares `fixture = "psu"`; a driver inherits it. The bench binds each role
to every fixture its driver's class declares through its bases, so a station may call its
supply `psu2`, have two supplies, put its BMS on either bus, or add a new instrument class,
without a change to the bench (labgrid's binding of resources to protocols, in small).

The fixture names plans may ask for are collected from the capability modules named in the
`ess_bench.capabilities` entry-point group (the project's own: `instruments.capabilities`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from bench.errors import ConfigError

DEFAULT_CAPABILITY_MODULES = ("instruments.capabilities",)  # when running from a checkout without install
ENTRY_POINT_GROUP = "ess_bench.capabilities"


def fixtures_of(obj: Any) -> list[str]:
    """Fixture names an instrument (or class) serves, most specific first."""
    cls = obj if isinstance(obj, type) else type(obj)
    out: list[str] = []
    for klass in cls.__mro__:
        name = klass.__dict__.get("fixture")
        if isinstance(name, str) and name and name not in out:
            out.append(name)
    return out


def capability_modules() -> list[str]:
    names = [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    return names or list(DEFAULT_CAPABILITY_MODULES)


def known_fixture_names() -> list[str]:
    """Every fixture name a capability class declares (after importing the capability modules)."""
    names: set[str] = set()
    for module_name in capability_modules():
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            if isinstance(obj, type):
                names.update(fixtures_of(obj))
    return sorted(names)


class Bindings:
    """fixture name -> roles that serve it, in station order."""

    def __init__(self, instruments: dict[str, Any]) -> None:
        self.instruments = instruments
        self.roles: dict[str, list[str]] = {}
        for role, inst in instruments.items():
            for name in fixtures_of(inst):
                self.roles.setdefault(name, []).append(role)

    def role_for(self, fixture: str) -> str | None:
        """The role a fixture resolves to: the only one, else the one named like the fixture, else the first."""
        roles = self.roles.get(fixture, [])
        if not roles:
            return None
        return fixture if fixture in roles else roles[0]

    def get(self, fixture: str) -> Any | None:
        role = self.role_for(fixture)
        return None if role is None else self.instruments[role]

    def require(self, fixture: str, *, station: str, source: str) -> Any:
        inst = self.get(fixture)
        if inst is None:
            have = (
                ", ".join(f"{r} ({'/'.join(fixtures_of(i)) or 'no capability'})" for r, i in self.instruments.items())
                or "none"
            )
            raise ConfigError(
                f"this step needs a {fixture!r} but station {station!r} has: {have}", source=source, key="roles"
            )
        return inst

    def serving(self, fixture: str) -> list[str]:
        return list(self.roles.get(fixture, []))

    def describe(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in sorted(self.roles.items())}


def roles_with(instruments: dict[str, Any], fixture: str) -> Iterable[tuple[str, Any]]:
    """(role, instrument) pairs serving a fixture, in station order."""
    for role, inst in instruments.items():
        if fixture in fixtures_of(inst):
            yield role, inst
