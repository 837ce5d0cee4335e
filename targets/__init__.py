"""Where datasets go: the local archive (BagIt + RO-Crate) today; S3 and OMERO later."""

from targets.archive import ArchiveConflictError, LocalArchive, bag_findings
from targets.base import Target
from targets.crate import write_crate_metadata
from targets.package import assemble_payload, bag_info

__all__ = [
    "ArchiveConflictError",
    "LocalArchive",
    "Target",
    "assemble_payload",
    "bag_findings",
    "bag_info",
    "write_crate_metadata",
]
