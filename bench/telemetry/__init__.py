"""Telemetry: the plan's low-rate series (journal) and high-rate capture (columnar store, detectors).

`Telemetry` (series.py) is what plans get as the `telemetry` fixture: `record`, `sampling`,
`aggregate`, `integral`, `check`, on the plan's own series and on captured channels. High-rate
capture (`[telemetry]` in the station or plan.toml, config.py) records the BMS broadcast at bus
rate and polled channels (sources.py) into Parquet files in the run folder (store.py), with
multi-resolution summaries for plots (summary.py, reader.py) and anomaly detectors on the cell
data (detectors.py); capture.py runs it all for one run. See docs/telemetry.md.
"""

from typing import Any

__all__ = ["AGGREGATES", "Series", "Telemetry"]


def __getattr__(name: str) -> Any:
    # lazy: bench.station imports bench.telemetry.config, and series.py imports the recorder (which
    # imports bench.station); importing series here eagerly would make that a cycle
    if name in __all__:
        from bench.telemetry import series

        return getattr(series, name)
    raise AttributeError(f"module 'bench.telemetry' has no attribute {name!r}")
