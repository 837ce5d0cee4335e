"""Scanning watched folders, completion rules, grouping and content fingerprints."""

from ingest.completion import CompletionPolicy, check_unchanged, fingerprint, split_complete
from ingest.scan import SUPPORTED_KINDS, Candidate, classify, scan

__all__ = [
    "SUPPORTED_KINDS",
    "Candidate",
    "CompletionPolicy",
    "check_unchanged",
    "classify",
    "fingerprint",
    "scan",
    "split_complete",
]
