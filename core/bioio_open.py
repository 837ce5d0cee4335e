"""Open vendor files (ND2, LIF, DeltaVision) through bioio and its format plugins."""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import (
    CorruptInputError,
    InputTooLargeError,
    UnsupportedFormatError,
)
from core.xmlsafe import check_xml, unsafe_xml

__all__ = ["BIOIO_SUFFIXES", "open_bioio", "refuse_xml_declarations", "scene_bytes"]

#: suffix -> the bioio plugin that reads it
BIOIO_SUFFIXES = {
    ".nd2": "bioio-nd2",
    ".lif": "bioio-lif",
    ".dv": "bioio-dv",
    ".r3d": "bioio-dv",
}


def scene_bytes(img: Any) -> int:
    """Uncompressed bytes the current scene declares."""
    return int(math.prod(img.shape)) * int(np.dtype(img.dtype).itemsize)


#: how much of a vendor file is searched for XML declarations before a plugin parses it
_SCAN_BYTES = 8 * 1024**2
_FORBIDDEN = tuple(
    token.encode(encoding)
    for token in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)
#: largest LIF XML header parsed before the plugin (the default of FAIRWAY_MAX_XML_BYTES)
_MAX_LIF_HEADER_BYTES = 64 * 1024**2


def _lif_header(path: Path) -> str | None:
    """The XML header of a Leica LIF file (UTF-16), or ``None`` when ``path`` is not a LIF.

    A LIF starts with ``<IIBI``: 0x70, a block size, 0x2A and the header's length in UTF-16
    code units, then the header itself (the layout liffile and readlif read).
    """
    with path.open("rb") as fh:
        head = fh.read(13)
        if len(head) < 13:
            return None
        magic, _size, mark, units = struct.unpack("<IIBI", head)
        if magic != 0x70 or mark != 0x2A:
            return None
        if 2 * units > _MAX_LIF_HEADER_BYTES:
            raise InputTooLargeError(
                f"LIF XML header declares {2 * units} bytes, above the cap of "
                f"{_MAX_LIF_HEADER_BYTES}",
                where=path,
                hint="export the project as smaller LIF files, or as OME-TIFF",
            )
        return fh.read(2 * units).decode("utf-16-le", errors="replace")


def refuse_xml_declarations(path: Path) -> None:
    """Refuse a vendor file whose embedded XML declares a DTD or entities, or nests too deep.

    The plugins parse their XML headers with the standard library's parser, which expands
    entities, and walk the tree recursively (liffile's ``etree2dict``). A LIF's XML header is
    read here and parsed first with defusedxml under the size and depth caps
    (:func:`core.xmlsafe.check_xml`). The XML chunks of other formats (ND2) are not laid out
    where fairway can find them without the plugin, so their first bytes are searched for
    DTD and entity declarations, which no microscope writes.
    """
    header = _lif_header(path)
    if header is not None:
        check_xml(header, where=path, max_bytes=_MAX_LIF_HEADER_BYTES)
    with path.open("rb") as fh:
        head = fh.read(_SCAN_BYTES)
    if any(token in head for token in _FORBIDDEN):
        raise unsafe_xml(path)


def open_bioio(path: Path, *, max_input_bytes: int) -> Any:
    """Open ``path`` with bioio and check every scene's declared size against the cap.

    Raises
    ------
    UnsupportedFormatError
        The plugin for this suffix is not installed (the message names it).
    CorruptInputError
        The plugin cannot parse the file.
    InputTooLargeError
        A scene declares more bytes than the cap.
    """
    plugin = BIOIO_SUFFIXES.get(path.suffix.lower())
    refuse_xml_declarations(path)
    try:
        from bioio import BioImage
    except ImportError as exc:  # pragma: no cover - bioio is a hard dependency
        raise UnsupportedFormatError("bioio is not installed", where=path) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plugins warn about metadata they skip
            img = BioImage(path)
            scenes = list(img.scenes)
            for i in range(len(scenes)):
                img.set_scene(i)
                nbytes = scene_bytes(img)
                if nbytes > max_input_bytes:
                    raise InputTooLargeError(
                        f"scene {i} declares {nbytes} bytes, above the cap of {max_input_bytes}",
                        where=path,
                        hint="raise FAIRWAY_MAX_INPUT_BYTES if the file is genuine",
                    )
            img.set_scene(0)
    except InputTooLargeError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if "UnsupportedFileFormat" in name:
            raise UnsupportedFormatError(
                f"no installed bioio plugin reads this file ({exc})",
                where=path,
                hint=f"install {plugin}" if plugin else "convert it to OME-TIFF",
            ) from exc
        raise CorruptInputError(
            f"cannot be read by {plugin or 'bioio'} ({name}: {exc})",
            where=path,
            hint="check that the transfer finished and the file is not truncated",
        ) from exc
    return img
