"""Whether a folder is an OME-NGFF image: the scan's cheap check, without zarr or dask.

:mod:`core.ngffio` opens and reads NGFF; the scan only needs to recognise one, and importing
zarr, dask and ome-zarr-models for that cost an empty ``fairway ingest`` seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import CorruptInputError, UnsafeInputError
from core.jsonsafe import load_json

__all__ = ["MAX_ROOT_METADATA_BYTES", "NGFF_KIND", "is_ngff"]

NGFF_KIND = "ngff"
#: a root metadata document larger than this is not read (it is not an image's)
MAX_ROOT_METADATA_BYTES = 1024 * 1024


def _root_attrs(folder: Path) -> dict[str, Any] | None:
    for name in ("zarr.json", ".zattrs"):
        path = folder / name
        try:
            if path.is_symlink() or path.stat().st_size > MAX_ROOT_METADATA_BYTES:
                return None
            doc = load_json(path.read_text(encoding="utf-8"), where=path)
        except (OSError, ValueError, CorruptInputError, UnsafeInputError):
            continue
        if not isinstance(doc, dict):
            return None
        attrs = doc.get("attributes", {}) if name == "zarr.json" else doc
        if not isinstance(attrs, dict):
            return None
        ome = attrs.get("ome")
        return ome if isinstance(ome, dict) else attrs
    return None


def is_ngff(folder: Path) -> bool:
    """Whether ``folder`` holds OME-NGFF metadata at its root (a cheap check for the scan)."""
    attrs = _root_attrs(folder)
    return attrs is not None and any(
        k in attrs for k in ("multiscales", "bioformats2raw.layout", "plate")
    )
