"""Registers the ESS Bench pytest plugin for plans run from the repository.

An installed bench registers it through its `pytest11` entry point; a plain checkout on the
path (no install) gets it from here. Registering twice is an error, hence the check.
"""

from importlib.metadata import entry_points

_installed = any(ep.value == "bench.plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _installed else ["bench.plugin"]
