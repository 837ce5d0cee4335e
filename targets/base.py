"""The contract every target (local archive, S3, OMERO, BIA package) fulfils."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from core.records import ArchivedDataset, Finding

__all__ = ["DatasetPackage", "Target"]


class DatasetPackage(Protocol):
    """What a target receives: a dataset id and a folder holding its payload."""

    dataset: str
    payload: Path


@runtime_checkable
class Target(Protocol):
    """A place where datasets are published."""

    name: str

    def publish(self, dataset: str, payload: Path, bag_info: dict[str, str]) -> ArchivedDataset:
        """Store the payload, read it back, commit it atomically; idempotent per dataset."""
        ...

    def verify(self, dataset: str) -> list[Finding]:
        """Re-read the stored dataset and compare with its recorded checksums."""
        ...

    def location(self, dataset: str) -> str:
        """Where the dataset lives (path or URL)."""
        ...
