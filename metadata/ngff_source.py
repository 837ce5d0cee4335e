"""Describe an OME-Zarr given as input: its own OME-XML, else OME built from NGFF attributes.

A bioformats2raw store that carries ``OME/METADATA.ome.xml`` (with as many images as the
store) is described by that OME-XML, read leniently. Otherwise each image's OME comes from
its NGFF attributes: the level-0 scale of the spatial axes (with their units) and of ``t``,
and ``omero.channels`` (label and colour). The NGFF attributes themselves are kept under
``unmapped['ngff']``; what strict validation found wrong is kept as a note.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import ome_types
from ome_types import OME
from ome_types.model import Channel, Image, UnitsLength, UnitsTime
from pydantic import JsonValue

from core.ngffio import NgffImage, NgffStore
from core.omeutil import GENERATED_BY, default_color, parse_ome
from core.tiffio import to_tczyx_shape
from metadata.omebuild import generated_pixels, vendor_text
from metadata.tiff import TiffDescription, rgba

__all__ = ["describe_ngff", "ngff_ome"]


def _unit(name: str | None, units: Any) -> Any:
    try:
        return units[name.upper()] if name else None
    except KeyError:
        return None


def _steps(image: NgffImage, notes: list[str]) -> tuple[list[float | None], UnitsLength]:
    """Z, Y, X steps in one length unit (that of X, else Y, else Z); others are left out."""

    def unit_of(letter: str) -> Any:
        return (
            _unit(image.units[image.axes.index(letter)], UnitsLength)
            if letter in image.axes
            else None
        )

    unit = next((u for letter in "XYZ" if (u := unit_of(letter)) is not None), None)
    steps: list[float | None] = []
    for letter in "ZYX":
        axis_unit = unit_of(letter)
        value = image.scale[image.axes.index(letter)] if axis_unit is not None else None
        if axis_unit is not None and axis_unit != unit:
            notes.append(f"image '{image.path or '/'}': axis {letter} is in {axis_unit.value}")
            value = None
        steps.append(value if value is not None and math.isfinite(value) and value > 0 else None)
    return steps, unit or UnitsLength.MICROMETER


def _channels(image: NgffImage, index: int, nc: int) -> list[Channel]:
    out = []
    for k in range(nc):
        meta = image.channels[k] if k < len(image.channels) else {}
        label = meta.get("label")
        color = str(meta.get("color") or "")
        if not re.fullmatch(r"[0-9A-Fa-f]{6}", color):
            color = default_color(k, nc)
        out.append(
            Channel(
                id=f"Channel:{index}:{k}",
                name=str(label) if label is not None else None,
                samples_per_pixel=1,
                color=rgba(color),
            )
        )
    return out


def ngff_ome(store: NgffStore, notes: list[str]) -> OME:
    """OME for every image of ``store`` from its NGFF attributes alone (pure)."""
    images = []
    for index, image in enumerate(store.images):
        shape = to_tczyx_shape(image.shape, tuple(image.axes.lower()))
        steps, unit = _steps(image, notes)
        time_step = None
        time_unit = UnitsTime.SECOND
        if "T" in image.axes:
            k = image.axes.index("T")
            found = _unit(image.units[k], UnitsTime)
            if found is not None:
                time_step, time_unit = image.scale[k], found
        pixels = generated_pixels(
            index,
            image.dtype,
            shape,
            (steps[0], steps[1], steps[2]),
            _channels(image, index, shape[1]),
            unit=unit,
            time_increment=time_step,
            time_unit=time_unit,
        )
        images.append(Image(id=f"Image:{index}", name=image.name, pixels=pixels))
    return OME(images=images, creator=f"{GENERATED_BY}NGFF attributes")


def describe_ngff(store: NgffStore) -> TiffDescription:
    """Describe an OME-Zarr store (see module docs)."""
    notes = [
        f"image '{i.path or '/'}' is not valid NGFF {store.version} and was read leniently: "
        f"{i.problem}"
        for i in store.images
        if i.problem
    ]
    attrs = json.dumps(store.attrs, default=str)
    unmapped: dict[str, dict[str, JsonValue]] = {
        "ngff": {
            "version": store.version,
            "root_attributes": vendor_text("json", attrs),
            "images": [
                {"path": i.path, "axes": i.axes, "scale": list(i.scale), "units": list(i.units)}
                for i in store.images
            ],
        }
    }
    if store.ome_xml is not None:
        ome, problems = parse_ome(store.ome_xml)
        if len(ome.images) >= len(store.images):
            if problems:
                unmapped["fairway.notes"] = {"ome-xml": list(problems)}
            if notes:
                unmapped.setdefault("fairway.notes", {})["ngff"] = list(notes)
            return TiffDescription(
                ome=ome,
                ome_xml=store.ome_xml,
                origin="source",
                file_format=f"OME-Zarr (NGFF {store.version})",
                unmapped=unmapped,
                notes=[*problems, *notes],
            )
        notes.append(
            f"OME/METADATA.ome.xml describes {len(ome.images)} images for "
            f"{len(store.images)} in the store; built from the NGFF attributes instead"
        )
    ome = ngff_ome(store, notes)
    if notes:
        unmapped["fairway.notes"] = {"ngff": list(notes)}
    return TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin="generated",
        file_format=f"OME-Zarr (NGFF {store.version})",
        unmapped=unmapped,
        notes=notes,
    )
