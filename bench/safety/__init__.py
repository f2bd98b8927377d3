"""The bench's own safety: the safe state every instrument is driven to, interlocks, timeouts."""

from bench.safety.interlocks import InterlockTrip, InterlockWatcher, merge_config
from bench.safety.safe_state import SafeAction, drive_safe_state
from bench.safety.timeouts import BenchAbort, Deadline, Interrupter, StepTimeout, run_bounded

__all__ = [
    "BenchAbort",
    "Deadline",
    "InterlockTrip",
    "InterlockWatcher",
    "Interrupter",
    "SafeAction",
    "StepTimeout",
    "drive_safe_state",
    "merge_config",
    "run_bounded",
]
