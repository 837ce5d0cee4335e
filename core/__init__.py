"""The shared vocabulary of fairway: record types, settings, errors, progress.

Names are imported on first use: ``import core.errors`` (every command) then does not build
every pydantic model of :mod:`core.records` (a third of ``fairway --help``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.lazy import lazy_attributes

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


__getattr__ = lazy_attributes(__name__, _HOMES, globals())
