"""Describe a vendor file (via bioio) as OME.

The plugin's own OME conversion where it has one, else OME generated from dimensions, pixel
sizes and channel names. The vendor's original metadata is kept under ``unmapped``.
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Literal

import ome_types
from ome_types import OME
from ome_types.model import Channel, Image, MetadataOnly, Pixels, UnitsLength, UnitsTime
from pydantic import JsonValue

from core.bioio_open import open_bioio
from core.omeutil import GENERATED_BY, channel_count, default_color
from metadata.tiff import TiffDescription, pixel_type, rgba

__all__ = ["describe_bioio"]

_VENDOR_TEXT_CAP = 1024 * 1024


def _vendor_metadata(img: Any) -> dict[str, JsonValue]:
    raw = img.metadata
    if isinstance(raw, ET.Element):
        text = ET.tostring(raw, encoding="unicode")
        kind = "xml"
    else:
        try:
            text = json.dumps(raw, default=str)
            kind = "json"
        except (TypeError, ValueError):
            text, kind = str(raw), "text"
    out: dict[str, JsonValue] = {"kind": kind, "bytes": len(text)}
    out["text"] = text if len(text) <= _VENDOR_TEXT_CAP else text[:_VENDOR_TEXT_CAP]
    out["truncated"] = len(text) > _VENDOR_TEXT_CAP
    return out


def _generated(img: Any, path: Path) -> OME:
    images = []
    for i, scene in enumerate(img.scenes):
        img.set_scene(i)
        dims = img.dims
        samples = getattr(dims, "S", 1) if "S" in dims.order else 1
        c = dims.C * samples
        pps = img.physical_pixel_sizes
        names = [str(n) for n in (img.channel_names or [])]
        channels = [
            Channel(
                id=f"Channel:{i}:{k}",
                name=(names[k // samples] if k // samples < len(names) else None),
                samples_per_pixel=1,
                color=rgba(default_color(k, c)),
            )
            for k in range(c)
        ]
        size = {a: getattr(pps, a.upper()) for a in "xyz"}
        pixels = Pixels(
            id=f"Pixels:{i}",
            dimension_order="XYZCT",
            type=pixel_type(img.dtype),
            size_x=dims.X,
            size_y=dims.Y,
            size_z=dims.Z,
            size_c=c,
            size_t=dims.T,
            physical_size_x=size["x"] if size["x"] and size["x"] > 0 else None,
            physical_size_y=size["y"] if size["y"] and size["y"] > 0 else None,
            physical_size_z=size["z"] if size["z"] and size["z"] > 0 else None,
            physical_size_x_unit=UnitsLength.MICROMETER,
            physical_size_y_unit=UnitsLength.MICROMETER,
            physical_size_z_unit=UnitsLength.MICROMETER,
            channels=channels,
            metadata_only=MetadataOnly(),
        )
        images.append(Image(id=f"Image:{i}", name=str(scene) or path.name, pixels=pixels))
    img.set_scene(0)
    return OME(images=images, creator=f"{GENERATED_BY}{type(img.reader).__module__.split('.')[0]}")


def _reconcile(ome: OME, img: Any, plugin: str, notes: list[str]) -> None:
    """Make the plugin's OME sizes match the pixels the reader delivers (mosaics, RGB).

    Plugins describe a mosaic by its tile or an RGB image as one channel; the pixels are what
    is converted, so they win, and every correction is noted (it becomes a finding).
    """
    for i, image in enumerate(ome.images):
        img.set_scene(i)
        dims = img.dims
        samples = dims.S if "S" in dims.order else 1
        px = image.pixels
        actual = {
            "size_t": dims.T,
            "size_c": dims.C * samples,
            "size_z": dims.Z,
            "size_y": dims.Y,
            "size_x": dims.X,
        }
        for key, value in actual.items():
            if getattr(px, key) != value:
                notes.append(
                    f"scene {i}: {plugin} OME says {key}={getattr(px, key)}, the pixels "
                    f"have {value}; the pixels were kept"
                )
                setattr(px, key, value)
        if samples > 1 and len(px.channels) == dims.C:
            for ch in px.channels:
                ch.samples_per_pixel = samples
        while channel_count(px) < actual["size_c"]:
            px.channels.append(Channel(id=f"Channel:{i}:{len(px.channels)}", samples_per_pixel=1))
    img.set_scene(0)


def _time_step(ome: OME, img: Any, plugin: str, notes: list[str]) -> None:
    """Take the time step bioio measured when the plugin's OME lacks one (nd2 timelapses)."""
    px = ome.images[0].pixels if ome.images else None
    if px is None or px.time_increment is not None or px.size_t < 2:
        return
    try:
        interval = img.standard_metadata.timelapse_interval
    except Exception:  # noqa: BLE001 - standard_metadata is best effort in every plugin
        return
    seconds = interval.total_seconds() if hasattr(interval, "total_seconds") else interval
    if isinstance(seconds, int | float) and seconds > 0:
        px.time_increment = float(seconds)
        px.time_increment_unit = UnitsTime.SECOND
        notes.append(f"time step {seconds:g} s from {plugin}'s standard metadata (not in its OME)")


def describe_bioio(path: Path, *, max_input_bytes: int) -> TiffDescription:
    """Describe ``path`` (ND2, LIF, DV) as OME plus the vendor's original metadata."""
    img = open_bioio(path, max_input_bytes=max_input_bytes)
    plugin = type(img.reader).__module__.split(".")[0]
    notes: list[str] = []
    ome: OME | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ome = img.ome_metadata
        except NotImplementedError:
            ome = None
        except Exception as exc:  # noqa: BLE001 - a plugin's OME converter may fail on odd files
            notes.append(f"{plugin} could not convert the vendor metadata to OME: {exc}")
        if ome is not None and len(ome.images) != len(img.scenes):
            notes.append(f"{plugin} OME has {len(ome.images)} images for {len(img.scenes)} scenes")
            ome = None
        origin: Literal["converted", "generated"] = "converted" if ome is not None else "generated"
        if ome is None:
            ome = _generated(img, path)
        else:
            _reconcile(ome, img, plugin, notes)
            _time_step(ome, img, plugin, notes)
        unmapped: dict[str, dict[str, JsonValue]] = {f"vendor.{plugin}": _vendor_metadata(img)}
    if notes:
        unmapped["fairway.notes"] = {plugin: list(notes)}
    fmt = {".nd2": "ND2", ".lif": "LIF", ".dv": "DeltaVision", ".r3d": "DeltaVision"}
    return TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin=origin,
        file_format=fmt.get(path.suffix.lower(), plugin),
        unmapped=unmapped,
        notes=notes,
    )
