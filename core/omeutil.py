"""Small facts about OME models that several stages need alike."""

from __future__ import annotations

import warnings
from typing import Any

from ome_types import OME, from_xml

__all__ = [
    "GENERATED_BY",
    "channel_count",
    "color_hex",
    "default_color",
    "expected_tczyx",
    "ngff_length_unit",
    "ngff_time_unit",
    "parse_ome",
]

#: the OME Creator of OME that fairway builds itself (``fairway from czifile``): it says how
#: the OME was made, not which software acquired the image, so it is not mapped to the record
GENERATED_BY = "fairway from "

#: OME unit symbols -> the UDUNITS-2 names NGFF axes use
LENGTH_UNITS = {
    "Å": "angstrom",
    "pm": "picometer",
    "nm": "nanometer",
    "µm": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "km": "kilometer",
    "in": "inch",
    "ft": "foot",
}
TIME_UNITS = {
    "s": "second",
    "ms": "millisecond",
    "µs": "microsecond",
    "ns": "nanosecond",
    "min": "minute",
    "h": "hour",
    "d": "day",
}


#: colours for channels that have none (one channel: white)
DEFAULT_COLORS = ("00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00")


def default_color(k: int, n: int) -> str:
    """Colour of channel ``k`` of ``n`` when the source gives none."""
    return "FFFFFF" if n == 1 else DEFAULT_COLORS[k % len(DEFAULT_COLORS)]


def _symbol(unit: Any) -> str:
    return str(getattr(unit, "value", unit) or "")


def ngff_length_unit(unit: Any) -> str | None:
    """NGFF axis unit for an OME length unit (enum or symbol), or ``None``."""
    return LENGTH_UNITS.get(_symbol(unit))


def ngff_time_unit(unit: Any) -> str | None:
    """NGFF axis unit for an OME time unit (enum or symbol), or ``None``."""
    return TIME_UNITS.get(_symbol(unit))


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
