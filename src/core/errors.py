"""The project's base error: every error we raise on purpose derives from it.

A caller that must stop on any of our own failures (a script's one-line error, the supervisor's
crash report) catches :class:`LabError`; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LabError(Exception):
    """Base class of every error AI Trading Lab raises on purpose."""
