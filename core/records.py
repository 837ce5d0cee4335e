"""Record types shared by every stage: acquisitions, metadata records, findings, states."""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from core.states import State

__all__ = [
    "FAIR_LEVELS",
    "Acquisition",
    "ArchivedDataset",
    "ConvertedImage",
    "Finding",
    "MetadataRecord",
    "PendingAcquisition",
    "Severity",
    "SourceFile",
    "Sourced",
    "State",
    "ValidationReport",
]


#: the FAIR levels a dataset can reach, from lowest to highest
FAIR_LEVELS = (
    "none",
    "ngff",
    "rembi",
    "rembi+nbo-tier1",
    "rembi+nbo-tier2",
    "rembi+nbo-tier3",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceFile(_Frozen):
    """One file of an acquisition as seen in the watched folder (never modified)."""

    path: Path
    relpath: str = Field(description="Path relative to the acquisition root, with '/'.")
    size: int
    mtime_ns: int
    sha256: str = ""
    inode: int = Field(default=0, description="The file's inode when it was seen; 0: unknown.")


class Acquisition(_Frozen):
    """A complete set of files that an instrument wrote for one acquisition.

    ``fingerprint`` is a hash of the content only, so the same data delivered under another
    path or name has the same identity.
    """

    fingerprint: str
    source: Path = Field(description="Where this delivery was found (a file or folder).")
    kind: str = Field(description="Reader family chosen at scan time, e.g. 'tiff'.")
    files: tuple[SourceFile, ...]
    sidecars: tuple[SourceFile, ...] = ()

    @property
    def id(self) -> str:
        """Short, stable identifier derived from the fingerprint."""
        return f"acq-{self.fingerprint[:16]}"

    @property
    def dataset_id(self) -> str:
        """Identifier of the dataset this acquisition becomes (also its archive folder)."""
        return f"fw-{self.fingerprint[:16]}"

    @property
    def primary(self) -> SourceFile:
        """The file readers open first."""
        return self.files[0]

    @property
    def total_bytes(self) -> int:
        """Bytes in all files, sidecars included."""
        return sum(f.size for f in (*self.files, *self.sidecars))


class PendingAcquisition(_Frozen):
    """Files that are not finished yet; they are looked at again on the next pass."""

    source: Path
    reason: str


class Sourced(_Frozen):
    """A metadata value together with where it came from."""

    value: JsonValue
    source: str = Field(description="e.g. 'ome-xml:Image[0]/Pixels@PhysicalSizeX'.")


class MetadataRecord(_Frozen):
    """Everything known about an acquisition's metadata.

    ``fields`` maps a dotted field path (``pixels.physical_size_x``, ``channels[0].name``) to
    its value and source. ``unmapped`` keeps, per namespace, every value that has no field:
    nothing is dropped. ``ome_xml`` is the source OME-XML, the OME a format plugin converted
    from vendor metadata, or one generated from the file when neither exists; it travels with
    the image as ``OME/METADATA.ome.xml``.
    """

    fields: dict[str, Sourced] = Field(default_factory=dict)
    unmapped: dict[str, dict[str, JsonValue]] = Field(default_factory=dict)
    ome_xml: str
    ome_xml_origin: Literal["source", "converted", "generated"]

    def value(self, path: str, default: Any = None) -> Any:
        """Return the value at ``path`` or ``default``."""
        item = self.fields.get(path)
        return default if item is None else item.value


class Severity(enum.StrEnum):
    """How bad a finding is. Findings never stop archiving; they set the FAIR level."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Finding(_Frozen):
    """One thing a validator noticed."""

    path: str
    module: str
    level: str = Field(description="required / tier1 / tier2 / tier3 / recommended / conditional")
    severity: Severity
    message: str
    fix_hint: str = ""
    check: str = Field(description="Which validator produced it, e.g. 'ngff', 'schema'.")
    blocks: str | None = Field(
        default=None,
        description="The lowest FAIR level this finding holds back (None: it holds back none).",
    )


class ValidationReport(_Frozen):
    """All findings for one dataset, and the FAIR level they imply."""

    dataset: str
    findings: tuple[Finding, ...] = ()
    schema_ids: tuple[str, ...] = ()
    fair_level: str = "none"
    profile: str = Field(default="", description="Facility profile the report was judged by.")
    target: str = Field(default="", description="FAIR level the profile asks for.")

    @property
    def meets_target(self) -> bool:
        """Whether the dataset reaches the level its profile asks for."""
        if not self.target:
            return True
        return FAIR_LEVELS.index(self.fair_level) >= FAIR_LEVELS.index(self.target)

    @property
    def ngff_valid(self) -> bool:
        """Whether the OME-Zarr passed the structural checks."""
        return not any(f.check == "ngff" and f.severity is Severity.ERROR for f in self.findings)

    def by_severity(self, severity: Severity) -> list[Finding]:
        """Findings of one severity."""
        return [f for f in self.findings if f.severity is severity]


class ConvertedImage(_Frozen):
    """One image (series) written into the OME-Zarr."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    axes: str
    levels: int
    scale: tuple[float, ...]


class ArchivedDataset(_Frozen):
    """Where a dataset was archived and what was verified."""

    dataset: str
    location: str
    payload_files: int
    payload_bytes: int
    verified_at: datetime
    manifest_sha256: str
