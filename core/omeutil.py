"""Small facts about OME models that several stages need alike."""

from __future__ import annotations

import warnings
from typing import Any

from ome_types import OME, from_xml

__all__ = ["channel_count", "color_hex", "expected_tczyx", "parse_ome"]


def parse_ome(xml: str) -> tuple[OME, list[str]]:
    """Parse OME-XML leniently; return the model and what the parser complained about.

    Real-world OME-XML (Micro-Manager, older Bio-Formats) often breaks the schema in small
    ways; ome-types repairs what it can and warns. The warnings are returned, to become
    findings, instead of being printed or raised.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ome = from_xml(xml, validate=False)
    return ome, list(dict.fromkeys(str(w.message) for w in caught))


def color_hex(color: Any) -> str | None:
    """'RRGGBB' for an OME colour, or ``None``."""
    if color is None:
        return None
    r, g, b = color.as_rgb_tuple(alpha=False)[:3]
    return f"{r:02X}{g:02X}{b:02X}"


def channel_count(pixels: Any) -> int:
    """Channels as stored in the array: an RGB channel (SamplesPerPixel=3) counts three.

    Some converters write SizeC=1 for an RGB image, others SizeC=3; both mean three planes.
    """
    samples = sum((ch.samples_per_pixel or 1) for ch in pixels.channels) if pixels.channels else 0
    return max(int(pixels.size_c), samples)


def expected_tczyx(pixels: Any) -> tuple[int, int, int, int, int]:
    """The 5-D shape an image's pixels have in t, c, z, y, x order."""
    return (pixels.size_t, channel_count(pixels), pixels.size_z, pixels.size_y, pixels.size_x)
