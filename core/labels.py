"""How a label image names the image it belongs to: ``<image stem>.labels.<name>.tif``.

A segmentation delivered beside its image — ``cells.ome.tif`` and
``cells.labels.nuclei.tif`` — travels with it as one acquisition and is written to the
image's NGFF ``labels/nuclei``. The rule is shared by scanning (grouping) and conversion.
"""

from __future__ import annotations

import re

__all__ = ["IMAGE_SUFFIXES", "image_stem", "label_parts"]

#: suffixes of image files a label can belong to, longest first
IMAGE_SUFFIXES = (
    ".companion.ome",
    ".ome.tiff",
    ".ome.tif",
    ".tiff",
    ".tif",
    ".btf",
    ".czi",
    ".nd2",
    ".lif",
    ".dv",
    ".r3d",
)
_LABEL = re.compile(r"^(?P<stem>.+)\.labels\.(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{0,63})\.tiff?$")


def label_parts(filename: str) -> tuple[str, str] | None:
    """``(image stem, label name)`` if ``filename`` is a label image, else ``None``."""
    match = _LABEL.match(filename)
    return (match["stem"], match["name"]) if match else None


def image_stem(filename: str) -> str | None:
    """The stem a label of this image uses (the name without its image suffix), or None."""
    lower = filename.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None
