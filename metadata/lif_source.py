"""Describe a Leica LIF file that bioio-lif cannot read, as OME from liffile's view of it.

Each LIF image becomes an OME image: pixel steps from liffile's coordinates, the time step,
channels named and coloured by their LUT, and lambda sweeps as channels carrying their
emission or excitation wavelength. The LIF XML header is kept under ``unmapped``.
"""

from __future__ import annotations

import itertools

import ome_types
from ome_types import OME
from ome_types.model import Channel, Image

from core.lifio import LifReader, LifScene
from core.omeutil import GENERATED_BY, default_color
from metadata.omebuild import generated_pixels, vendor_text
from metadata.tiff import TiffDescription, rgba

__all__ = ["describe_lif", "lif_ome"]

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
        steps = scene.steps
        pixels = generated_pixels(
            scene.index,
            scene.dtype,
            scene.shape,
            (steps.get("Z"), steps.get("Y"), steps.get("X")),
            _channels(scene),
            time_increment=steps.get("T"),
        )
        images.append(Image(id=f"Image:{scene.index}", name=scene.name, pixels=pixels))
    return OME(images=images, creator=f"{GENERATED_BY}liffile")


def describe_lif(reader: LifReader, header: str, reason: str) -> TiffDescription:
    """OME and the vendor header for a LIF file read with liffile (``reason``: why)."""
    ome = lif_ome(reader)
    note = f"bioio-lif could not read the file ({reason}); read with liffile"
    vendor = vendor_text("xml", header)
    return TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin="generated",
        file_format="LIF",
        unmapped={"vendor.liffile": vendor, "fairway.notes": {"liffile": [note]}},
        notes=[note],
    )
