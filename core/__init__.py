"""The shared vocabulary of fairway: record types, settings, errors, progress.

Names are imported on first use: ``import core.errors`` (every command) then does not build
every pydantic model of :mod:`core.records` (a third of ``fairway --help``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.errors import FairwayError, FinalError, RetryableError
    from core.records import (
        Acquisition,
        Finding,
        MetadataRecord,
        Severity,
        Sourced,
        SourceFile,
        ValidationReport,
    )
    from core.settings import Settings, load_settings
    from core.states import State

__all__ = [
    "Acquisition",
    "FairwayError",
    "FinalError",
    "Finding",
    "MetadataRecord",
    "RetryableError",
    "Settings",
    "Severity",
    "SourceFile",
    "Sourced",
    "State",
    "ValidationReport",
    "load_settings",
]

_HOMES = {
    **dict.fromkeys(("FairwayError", "FinalError", "RetryableError"), "core.errors"),
    **dict.fromkeys(
        (
            "Acquisition",
            "Finding",
            "MetadataRecord",
            "Severity",
            "Sourced",
            "SourceFile",
            "ValidationReport",
        ),
        "core.records",
    ),
    **dict.fromkeys(("Settings", "load_settings"), "core.settings"),
    "State": "core.states",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
