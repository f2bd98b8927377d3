"""Fixtures of the operator-view tests (helpers in ui_helpers.py)."""

from ui_helpers import browser, procs  # noqa: F401 - pytest fixtures
