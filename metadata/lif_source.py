"""Describe a Leica LIF file that bioio-lif cannot read, as OME from liffile's view of it.

Each LIF image becomes an OME image: pixel steps from liffile's coordinates, the time step,
channels named and coloured by their LUT, and lambda sweeps as channels carrying their
emission or excitation wavelength. The LIF XML header is kept under ``unmapped``.
"""

from __future__ import annotations

import itertools

import numpy as np
import ome_types
from ome_types import OME
from ome_types.model import Channel, Image, MetadataOnly, Pixels, UnitsLength, UnitsTime
from pydantic import JsonValue

from core.lifio import LifReader, LifScene
from core.omeutil import default_color
from metadata.tiff import TiffDescription, pixel_type, rgba

__all__ = ["describe_lif", "lif_ome"]

_VENDOR_TEXT_CAP = 1024 * 1024
#: LAS X LUT names -> OME colours
_LUT_COLORS = {
    "red": "FF0000",
    "green": "00FF00",
    "blue": "0000FF",
    "cyan": "00FFFF",
    "magenta": "FF00FF",
    "yellow": "FFFF00",
    "gray": "FFFFFF",
    "grey": "FFFFFF",
}


def _channels(scene: LifScene) -> list[Channel]:
    folded = scene.channel_dims
    nc = scene.shape[1]
    out = []
    for k, combo in enumerate(itertools.product(*(range(n) for _, n in folded))):
        where = dict(zip((d for d, _ in folded), combo, strict=True))
        c = where.get("C", 0)
        lut = scene.luts[c] if c < len(scene.luts) else ""
        color = _LUT_COLORS.get(lut.lower()) or default_color(k, nc)
        emission = scene.sweeps["λ"][where["λ"]] if "λ" in where else None
        excitation = scene.sweeps["Λ"][where["Λ"]] if "Λ" in where else None
        parts = [lut or f"C{c}"] if "C" in where or not (emission or excitation) else []
        if emission:
            parts.append(f"em {emission:g} nm")
        if excitation:
            parts.append(f"ex {excitation:g} nm")
        out.append(
            Channel(
                id=f"Channel:{scene.index}:{k}",
                name=" ".join(parts),
                samples_per_pixel=1,
                color=rgba(color),
                emission_wavelength=emission,
                excitation_wavelength=excitation,
            )
        )
    return out


def lif_ome(reader: LifReader) -> OME:
    """OME for every image of an indexed LIF file (pure)."""
    images = []
    for scene in reader.scenes:
        t, c, z, y, x = scene.shape
        steps = scene.steps
        pixels = Pixels(
            id=f"Pixels:{scene.index}",
            dimension_order="XYZCT",
            type=pixel_type(np.dtype(scene.dtype)),
            size_t=t,
            size_c=c,
            size_z=z,
            size_y=y,
            size_x=x,
            physical_size_x=steps.get("X"),
            physical_size_y=steps.get("Y"),
            physical_size_z=steps.get("Z"),
            physical_size_x_unit=UnitsLength.MICROMETER,
            physical_size_y_unit=UnitsLength.MICROMETER,
            physical_size_z_unit=UnitsLength.MICROMETER,
            time_increment=steps.get("T") if t > 1 else None,
            time_increment_unit=UnitsTime.SECOND,
            channels=_channels(scene),
            metadata_only=MetadataOnly(),
        )
        images.append(Image(id=f"Image:{scene.index}", name=scene.name, pixels=pixels))
    return OME(images=images, creator="fairway from liffile")


def describe_lif(reader: LifReader, header: str, reason: str) -> TiffDescription:
    """OME and the vendor header for a LIF file read with liffile (``reason``: why)."""
    ome = lif_ome(reader)
    note = f"bioio-lif could not read the file ({reason}); read with liffile"
    vendor: dict[str, JsonValue] = {
        "kind": "xml",
        "bytes": len(header),
        "text": header[:_VENDOR_TEXT_CAP],
        "truncated": len(header) > _VENDOR_TEXT_CAP,
    }
    return TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin="generated",
        file_format="LIF",
        unmapped={"vendor.liffile": vendor, "fairway.notes": {"liffile": [note]}},
        notes=[note],
    )
