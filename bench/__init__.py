"""ESS Bench: the framework (units, clock, station, limits, verdicts, journal, plugin, CLI, reports).

Nothing here imports a concrete instrument: drivers are named by dotted path in station files.
"""

from bench.units import Q_, ureg

__all__ = ["Q_", "ureg"]
__version__ = "0.1.0"
