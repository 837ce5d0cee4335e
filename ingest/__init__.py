"""Scanning watched folders, completion rules, grouping and content fingerprints."""

from ingest.completion import CompletionPolicy, fingerprint, split_complete
from ingest.scan import SUPPORTED_KINDS, Candidate, classify, scan

__all__ = [
    "SUPPORTED_KINDS",
    "Candidate",
    "CompletionPolicy",
    "classify",
    "fingerprint",
    "scan",
    "split_complete",
]
