"""Build OME for sources that have no OME of their own (CZI, LIF via liffile, DICOM)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ome_types.model import Channel, MetadataOnly, Pixels, Plane, UnitsLength, UnitsTime
from pydantic import JsonValue

from metadata.tiff import pixel_type

__all__ = ["VENDOR_TEXT_CAP", "generated_pixels", "vendor_text"]

#: vendor metadata kept verbatim up to this many characters (the rest is marked truncated)
VENDOR_TEXT_CAP = 1024 * 1024


def generated_pixels(
    index: int,
    dtype: str | np.dtype,
    shape_tczyx: tuple[int, int, int, int, int],
    steps_zyx: tuple[float | None, float | None, float | None],
    channels: Sequence[Channel],
    *,
    unit: UnitsLength = UnitsLength.MICROMETER,
    time_increment: float | None = None,
    time_unit: UnitsTime = UnitsTime.SECOND,
    planes: Sequence[Plane] = (),
) -> Pixels:
    """OME Pixels (XYZCT, metadata only) for a (t, c, z, y, x) image.

    A Z step is dropped for a single plane and a time step for a single time point: they
    would describe nothing the pixels hold.
    """
    t, c, z, y, x = shape_tczyx
    sz, sy, sx = steps_zyx
    return Pixels(
        id=f"Pixels:{index}",
        dimension_order="XYZCT",
        type=pixel_type(np.dtype(dtype)),
        size_t=t,
        size_c=c,
        size_z=z,
        size_y=y,
        size_x=x,
        physical_size_x=sx,
        physical_size_y=sy,
        physical_size_z=sz if z > 1 else None,
        physical_size_x_unit=unit,
        physical_size_y_unit=unit,
        physical_size_z_unit=unit,
        time_increment=time_increment if t > 1 else None,
        time_increment_unit=time_unit,
        channels=list(channels),
        planes=list(planes),
        metadata_only=MetadataOnly(),
    )


def vendor_text(kind: str, text: str, cap: int = VENDOR_TEXT_CAP) -> dict[str, JsonValue]:
    """A vendor's original metadata as an ``unmapped`` entry, capped at ``cap`` characters."""
    return {"kind": kind, "bytes": len(text), "text": text[:cap], "truncated": len(text) > cap}
