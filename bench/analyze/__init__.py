"""Field log analytics: years of BMS logs turned into health, usage and data-quality evidence.

`analyze_bms_log(paths, profile)` is the entry point; `bench analyze bms-log` is its command.
"""

from bench.analyze.loading import LogInputError
from bench.analyze.pipeline import BmsLogResult, analyze_bms_log
from bench.analyze.profile import LogProfile, load_profile

__all__ = ["BmsLogResult", "LogInputError", "LogProfile", "analyze_bms_log", "load_profile"]
