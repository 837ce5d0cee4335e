"""Limits for XML that comes from files: size cap, no DTDs, no entities.

OME-XML never needs a document type declaration; refusing one before any parser sees the
text closes XXE and entity-expansion ("billion laughs") attacks for every parser downstream
(ome-types, tifffile's own series parser, ElementTree).
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import InputTooLargeError, UnsafeInputError

__all__ = ["check_xml", "unsafe_xml"]

_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def unsafe_xml(where: Path | str) -> UnsafeInputError:
    """The error for XML that declares a DTD or entities (never needed by microscopy formats)."""
    return UnsafeInputError(
        "embedded XML declares a DOCTYPE or ENTITY, which microscopy metadata never needs "
        "(possible XXE or entity-expansion attack)",
        where=where,
        hint="the file was not parsed; re-export it from the acquisition software",
    )


def check_xml(text: str | bytes, *, where: Path | str, max_bytes: int) -> str:
    """Return ``text`` as ``str`` if it is within limits, else raise a typed error."""
    size = len(text)
    if size > max_bytes:
        raise InputTooLargeError(
            f"embedded XML is {size} bytes, above the cap of {max_bytes}",
            where=where,
            hint="raise FAIRWAY_MAX_XML_BYTES if this file is trusted",
        )
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if _FORBIDDEN.search(text):
        raise unsafe_xml(where)
    return text
