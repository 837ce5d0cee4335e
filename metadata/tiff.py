"""What a TIFF file says about itself: OME-XML, ImageJ metadata, or plain tags.

The result is always an OME model: the file's own OME-XML when it has one, otherwise one
generated from what tifffile reads (ImageJ hyperstack metadata, resolution tags, axes).
Tags and ImageJ keys without a place in OME go to ``unmapped``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import ome_types
import tifffile
from ome_types import OME
from ome_types.model import (
    Channel,
    Image,
    Instrument,
    InstrumentRef,
    MetadataOnly,
    Microscope,
    Pixels,
    PixelType,
    UnitsLength,
    UnitsTime,
)
from pydantic import JsonValue, ValidationError

from core.errors import CorruptInputError, first_problem
from core.omeutil import default_color, parse_ome
from core.tiffio import axes_plan, to_tczyx_shape
from core.units import convert

__all__ = ["TiffDescription", "describe_tiff", "length_unit", "pixel_type"]

log = logging.getLogger(__name__)

#: tags that describe the file layout, not the acquisition
_LAYOUT_TAGS = frozenset(
    {
        "StripOffsets",
        "StripByteCounts",
        "TileOffsets",
        "TileByteCounts",
        "JPEGTables",
        "FreeOffsets",
        "FreeByteCounts",
        "SubIFDs",
        "ColorMap",
        "IJMetadataByteCounts",
        "IJMetadata",
        "InterColorProfile",
    }
)
_MAX_TEXT = 4096

_UNIT_ALIASES = {
    "micron": UnitsLength.MICROMETER,
    "microns": UnitsLength.MICROMETER,
    "um": UnitsLength.MICROMETER,
    "µm": UnitsLength.MICROMETER,
    "μm": UnitsLength.MICROMETER,
    "\\u00b5m": UnitsLength.MICROMETER,
    "nm": UnitsLength.NANOMETER,
    "nanometer": UnitsLength.NANOMETER,
    "mm": UnitsLength.MILLIMETER,
    "millimeter": UnitsLength.MILLIMETER,
    "cm": UnitsLength.CENTIMETER,
    "m": UnitsLength.METER,
    "meter": UnitsLength.METER,
}

_PIXEL_TYPES = {
    "int8": PixelType.INT8,
    "int16": PixelType.INT16,
    "int32": PixelType.INT32,
    "uint8": PixelType.UINT8,
    "uint16": PixelType.UINT16,
    "uint32": PixelType.UINT32,
    "float32": PixelType.FLOAT,
    "float64": PixelType.DOUBLE,
    "bool": PixelType.BIT,
    "complex64": PixelType.COMPLEXFLOAT,
    "complex128": PixelType.COMPLEXDOUBLE,
    # OME has no half float: described as float, stored as float16 in the zarr arrays
    "float16": PixelType.FLOAT,
}


def length_unit(text: str | None) -> UnitsLength | None:
    """Normalise a unit string from ImageJ or a vendor to an OME length unit."""
    if not text:
        return None
    return _UNIT_ALIASES.get(text.strip().lower())


def pixel_type(dtype: np.dtype) -> PixelType:
    """OME pixel type of a NumPy dtype."""
    try:
        return _PIXEL_TYPES[np.dtype(dtype).name]
    except KeyError:
        raise CorruptInputError(f"pixel type {np.dtype(dtype)} has no OME equivalent") from None


def _json_safe(value: Any) -> JsonValue:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "…"
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, np.ndarray):
        return (
            f"<array {value.shape} {value.dtype}>"
            if value.size > 64
            else _json_safe(value.tolist())
        )
    if isinstance(value, tuple | list):
        return [_json_safe(v) for v in value[:256]]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in list(value.items())[:256]}
    return str(value)[:_MAX_TEXT]


@dataclass
class TiffDescription:
    """What :func:`describe_tiff` found."""

    ome: OME
    ome_xml: str
    origin: Literal["source", "converted", "generated"]
    file_format: str
    unmapped: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


#: the densities scanners, screens and image editors write (dots per inch)
PRINT_DENSITIES = (72, 75, 96, 100, 120, 144, 150, 200, 240, 300, 400, 600, 720, 800, 1200, 2400)


def _print_density(sx: float | None, sy: float | None) -> int | None:
    """The print density (dpi) a per-centimetre pixel size stands for, if it is one.

    Scanners and image editors store their dots per inch in centimetres too (96 dpi becomes
    37.795 pixels per cm, "264.6 µm"). A pixel size that is exactly a common density is
    taken as one; a microscope's (under 10 µm, or any other value) is kept.
    """
    found = [
        next((d for d in PRINT_DENSITIES if abs(2.54 / cm - d) <= d * 1e-3), None)
        if cm is not None and cm > 0
        else None
        for cm in (sx, sy)  # centimetres per pixel
    ]
    return found[0] if None not in found else None


def _resolution_um(
    page: tifffile.TiffPage, *, imagej_unit: UnitsLength | None
) -> tuple[float | None, float | None, UnitsLength | None, str | None]:
    """Pixel size from resolution tags; DPI is not a physical size."""
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None, None, None, None
    unit_code = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2

    def size(tag: str) -> float | None:
        num, den = tags[tag].value
        return float(den) / float(num) if num else None

    sx, sy = size("XResolution"), size("YResolution")
    if imagej_unit is not None:
        return sx, sy, imagej_unit, None
    if unit_code == 3 and (dpi := _print_density(sx, sy)) is not None:
        return (
            None,
            None,
            None,
            (
                f"resolution is {dpi} dots per inch written per centimetre (a print or screen "
                "density), not a physical pixel size"
            ),
        )
    if unit_code == 3:  # centimetre
        return (
            None if sx is None else convert(sx, "cm", "µm"),
            None if sy is None else convert(sy, "cm", "µm"),
            UnitsLength.MICROMETER,
            None,
        )
    if unit_code == 2:
        return None, None, None, "resolution is in dots per inch, not a physical pixel size"
    return None, None, None, None


def _generated_ome(tif: tifffile.TiffFile, path: Path) -> tuple[OME, list[str]]:
    notes: list[str] = []
    page = tif.pages.first
    tags = page.tags
    ij = tif.imagej_metadata or {}
    ij_unit = length_unit(ij.get("unit")) if tif.is_imagej else None
    if tif.is_imagej and ij.get("unit") and ij_unit is None:
        notes.append(f"ImageJ unit {ij.get('unit')!r} is not a length unit")
    px, py, xy_unit, why = _resolution_um(page, imagej_unit=ij_unit)
    if why:
        notes.append(why)
    instrument = None
    make = tags["Make"].value if "Make" in tags else None
    model = tags["Model"].value if "Model" in tags else None
    if make or model:
        instrument = Instrument(
            id="Instrument:0", microscope=Microscope(manufacturer=make, model=model)
        )
    acq_date = None
    if "DateTime" in tags:
        try:
            acq_date = datetime.strptime(str(tags["DateTime"].value), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            notes.append(f"DateTime tag {tags['DateTime'].value!r} is not in TIFF format")
    colors: list[str] = []
    for lut in ij.get("LUTs", []) or []:
        arr = np.asarray(lut)
        if arr.shape[:1] == (3,):
            r, g, b = (int(v) for v in arr[:, -1])
            colors.append(f"{r:02X}{g:02X}{b:02X}")
    images = []
    for i, s in enumerate(tif.series):
        plan = axes_plan(s.axes, where=path)
        t, c, z, y, x = to_tczyx_shape(tuple(s.shape), plan)
        spacing = ij.get("spacing") if tif.is_imagej else None
        if spacing is not None and not float(spacing) > 0:
            notes.append(f"ImageJ Z step is {spacing}: zero or negative is not a physical size")
            spacing = None
        finterval = ij.get("finterval") if tif.is_imagej else None
        channels = [
            Channel(
                id=f"Channel:{i}:{k}",
                name=f"Channel {k}" if c > 1 else None,
                samples_per_pixel=1,
                color=rgba(colors[k] if k < len(colors) else default_color(k, c)),
            )
            for k in range(c)
        ]
        pixels = Pixels(
            id=f"Pixels:{i}",
            dimension_order="XYCZT",
            type=pixel_type(s.dtype),
            size_x=x,
            size_y=y,
            size_z=z,
            size_c=c,
            size_t=t,
            physical_size_x=px,
            physical_size_x_unit=xy_unit or UnitsLength.MICROMETER,
            physical_size_y=py,
            physical_size_y_unit=xy_unit or UnitsLength.MICROMETER,
            physical_size_z=float(spacing) if spacing else None,
            physical_size_z_unit=xy_unit or UnitsLength.MICROMETER,
            time_increment=float(finterval) if finterval else None,
            time_increment_unit=UnitsTime.SECOND,
            channels=channels,
            metadata_only=MetadataOnly(),
        )
        images.append(
            Image(
                id=f"Image:{i}",
                name=path.name if len(tif.series) == 1 else f"{path.name} #{i}",
                acquisition_date=acq_date,
                pixels=pixels,
                instrument_ref=InstrumentRef(id=instrument.id) if instrument else None,
            )
        )
    software = tags["Software"].value if "Software" in tags else None
    ome = OME(
        images=images,
        instruments=[instrument] if instrument else [],
        creator=str(software) if software else None,
    )
    return ome, notes


def rgba(hex6: str) -> int:
    value = int(hex6 + "FF", 16)
    return value - (1 << 32) if value >= 1 << 31 else value


def _unmapped(tif: tifffile.TiffFile) -> dict[str, dict[str, JsonValue]]:
    out: dict[str, dict[str, JsonValue]] = {}
    page = tif.pages.first
    tags: dict[str, JsonValue] = {}
    for tag in page.tags.values():
        if tag.name in _LAYOUT_TAGS:
            continue
        if tag.name == "ImageDescription" and (tif.is_ome or tif.is_imagej):
            continue  # carried as OME-XML / parsed below
        tags[tag.name] = _json_safe(tag.value)
    out["tiff.tags"] = tags
    if tif.is_imagej and tif.imagej_metadata:
        ij = {k: _json_safe(v) for k, v in tif.imagej_metadata.items() if k != "LUTs"}
        out["imagej"] = ij
    return out


def describe_tiff(
    tif: tifffile.TiffFile, path: Path, ome_xml: str | None = None
) -> TiffDescription:
    """Describe an opened TIFF (see :func:`core.tiffio.open_tiff`) as OME plus extras.

    ``ome_xml`` overrides the file's own OME-XML (a multi-file image's companion document).
    """
    unmapped = _unmapped(tif)
    xml = ome_xml or (tif.ome_metadata if tif.is_ome else None)
    if xml:
        try:
            ome, complaints = parse_ome(xml)
        except Exception as exc:
            raise CorruptInputError(
                f"embedded OME-XML cannot be parsed ({type(exc).__name__}: {exc})",
                where=path,
                hint="re-export the file, or remove the broken OME-XML",
            ) from exc
        notes = [f"OME-XML read leniently: {c}" for c in complaints]
        if notes:
            unmapped["fairway.notes"] = {"ome-xml": list(notes)}
        return TiffDescription(
            ome=ome,
            ome_xml=xml,
            origin="source",
            file_format="OME-TIFF",
            unmapped=unmapped,
            notes=notes,
        )
    try:
        ome, notes = _generated_ome(tif, path)
    except ValidationError as exc:  # a zero-length axis, a negative size...
        where, message = first_problem(exc)
        raise CorruptInputError(
            f"the TIFF declares an impossible image ({where}: {message})",
            where=path,
            hint="its size tags are damaged; re-export or re-transfer it",
        ) from None
    fmt = "ImageJ TIFF" if tif.is_imagej else "TIFF"
    if notes:
        unmapped.setdefault("fairway.notes", {})["tiff"] = json.loads(json.dumps(notes))
    return TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin="generated",
        file_format=fmt,
        unmapped=unmapped,
        notes=notes,
    )
