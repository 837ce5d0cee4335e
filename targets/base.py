"""The contract every archive target fulfils (the primary archive and each further copy).

``tests/targets/test_contract.py`` runs one suite against every implementation: the primary
:class:`~targets.archive.LocalArchive`, and :class:`~targets.copies.BagCopy` on a folder and
on S3. Publication targets with another shape (the BioImage Archive package, OMERO) have their
own tests: they hand data on rather than keep it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from core.records import ArchivedDataset, Finding

__all__ = ["Target"]


@runtime_checkable
class Target(Protocol):
    """A place that keeps archived datasets as verified BagIt bags."""

    name: str

    def location(self, dataset: str) -> str:
        """Where the dataset lives (path or URL)."""
        ...

    def exists(self, dataset: str) -> bool:
        """Whether the dataset is committed here."""
        ...

    def sync(self, dataset: str, bag: Path) -> ArchivedDataset:
        """Make the dataset here equal to the verified local ``bag``, read it back, commit."""
        ...

    def verify(self, dataset: str) -> list[Finding]:
        """Re-read the stored dataset and compare with its recorded checksums."""
        ...

    def fetch(self, dataset: str, dest: Path) -> Path:
        """Copy the committed dataset to the local folder ``dest``."""
        ...
