"""The shared vocabulary of fairway: record types, settings, errors, progress."""

from core.errors import FairwayError, FinalError, RetryableError
from core.records import (
    Acquisition,
    Finding,
    MetadataRecord,
    Severity,
    Sourced,
    SourceFile,
    State,
    ValidationReport,
)
from core.settings import Settings, load_settings

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
