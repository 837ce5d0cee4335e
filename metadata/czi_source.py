"""Describe a Zeiss CZI file as OME, from its ZISRAW metadata XML.

Small pure functions map ZEN's values to OME: sizes from the pixels fairway reads (mosaics
assembled, RGB samples as channels), pixel sizes from ``Scaling/Items/Distance`` (metres),
the time step from the T offsets, channels (name, colour, wavelengths, fluor, modes),
microscope, objectives and detectors. The whole vendor XML is kept under ``unmapped`` so
nothing ZEN wrote is lost.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TypeVar
from xml.etree.ElementTree import Element

import ome_types
from ome_types import OME
from ome_types.model import (
    Channel,
    Detector,
    Image,
    Instrument,
    InstrumentRef,
    Microscope,
    Objective,
    ObjectiveSettings,
    Plane,
    UnitsLength,
    UnitsTime,
)
from ome_types.model import (
    Channel_AcquisitionMode as AcquisitionMode,
)
from ome_types.model import (
    Channel_ContrastMethod as ContrastMethod,
)
from ome_types.model import (
    Channel_IlluminationType as IlluminationType,
)
from ome_types.model import (
    Detector_Type as DetectorType,
)
from ome_types.model import (
    Microscope_Type as MicroscopeType,
)
from ome_types.model import (
    Objective_Immersion as Immersion,
)

from core.cziio import CziReader, open_czi
from core.omeutil import GENERATED_BY, default_color
from core.units import convert
from core.xmlsafe import parse_xml
from metadata.omebuild import generated_pixels, vendor_text
from metadata.tiff import TiffDescription, rgba

__all__ = ["czi_ome", "describe_czi"]

#: planes are listed (for exposure times) only up to this many per image
_MAX_PLANES = 100_000
E = TypeVar("E", bound=Enum)


def _enum(cls: type[E], value: str | None) -> E | None:
    """The member of an OME enum whose value starts like ``value`` (ZEN abbreviates)."""
    if not value:
        return None
    for member in cls:
        if str(member.value).lower() == value.lower():
            return member
    for member in cls:
        if len(value) >= 8 and str(member.value).lower().startswith(value.lower()):
            return member
    return None


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value


def _color(text: str | None) -> str | None:
    """ZEN colours are ``#AARRGGBB`` or ``#RRGGBB``; OME wants RRGGBB (alpha opaque)."""
    if not text or not text.startswith("#"):
        return None
    digits = text[1:]
    if len(digits) == 8:
        digits = digits[2:]
    return digits.upper() if len(digits) == 6 else None


def _scaling_um(md: Element | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {"X": None, "Y": None, "Z": None}
    if md is None:
        return out
    for d in md.findall("Scaling/Items/Distance"):
        value = _float(d.findtext("Value"))
        if d.get("Id") in out and value and value > 0:
            out[str(d.get("Id"))] = convert(value, "m", "µm")
    return out


def _time_increment(image: Element | None) -> float | None:
    """Mean step of the T offsets (seconds), when ZEN wrote them as a list."""
    text = image.findtext("Dimensions/T/Positions/List/Offsets") if image is not None else None
    if not text:
        interval = image.find("Dimensions/T/Positions/Interval") if image is not None else None
        return _float(interval.findtext("Increment")) if interval is not None else None
    values = [v for v in (_float(t) for t in text.split()) if v is not None]
    if len(values) < 2:
        return None
    return (values[-1] - values[0]) / (len(values) - 1) or None


def _instrument(md: Element | None) -> Instrument | None:
    inst = md.find("Information/Instrument") if md is not None else None
    if inst is None:
        return None
    microscope = None
    for m in inst.findall("Microscopes/Microscope")[:1]:
        microscope = Microscope(
            model=m.findtext("System") or m.get("Name") or None,
            type=_enum(MicroscopeType, m.findtext("Type")),
        )
    objectives = [
        Objective(
            id=f"Objective:{i}",
            model=o.get("Name") or o.findtext("Manufacturer/Model") or None,
            lens_na=_float(o.findtext("LensNA")),
            nominal_magnification=_float(o.findtext("NominalMagnification")),
            immersion=_enum(Immersion, o.findtext("Immersion")),
            working_distance=_float(o.findtext("WorkingDistance")),
            working_distance_unit=UnitsLength.MICROMETER,
        )
        for i, o in enumerate(inst.findall("Objectives/Objective"))
    ]
    detectors = [
        Detector(
            id=f"Detector:{i}",
            model=d.get("Name") or None,
            type=_enum(DetectorType, d.findtext("Type")),
            gain=_float(d.findtext("Gain")),
            zoom=_float(d.findtext("Zoom")),
            amplification_gain=_float(d.findtext("AmplificationGain")),
        )
        for i, d in enumerate(inst.findall("Detectors/Detector"))
    ]
    return Instrument(
        id="Instrument:0", microscope=microscope, objectives=objectives, detectors=detectors
    )


def _channels(
    image: Element | None, display: list[Element], nc: int, samples: int, scene: int
) -> list[Channel]:
    source = image.findall("Dimensions/Channels/Channel") if image is not None else []
    out = []
    for k in range(nc):
        src = source[k // samples] if k // samples < len(source) else None
        disp = display[k // samples] if k // samples < len(display) else None

        def text(tag: str, src: Element | None = src) -> str | None:
            return src.findtext(tag) if src is not None else None

        color = _color(text("Color")) or _color(disp.findtext("Color") if disp else None)
        if samples > 1 or color is None:
            color = default_color(k, nc)
        name = (src.get("Name") if src is not None else None) or (
            disp.get("Name") if disp is not None else None
        )
        out.append(
            Channel(
                id=f"Channel:{scene}:{k}",
                name=name if samples == 1 else f"{name or 'RGB'} {'RGBA'[k % samples]}",
                samples_per_pixel=1,
                color=rgba(color),
                fluor=text("Fluor") or None,
                excitation_wavelength=_float(text("ExcitationWavelength")) or None,
                emission_wavelength=_float(text("EmissionWavelength")) or None,
                acquisition_mode=_enum(AcquisitionMode, text("AcquisitionMode")),
                illumination_type=_enum(IlluminationType, text("IlluminationType")),
                contrast_method=_enum(ContrastMethod, text("ContrastMethod")),
                pinhole_size=None,
            )
        )
    return out


def _planes(image: Element | None, shape: tuple[int, ...], samples: int) -> list[Plane]:
    """One plane per (t, c, z) carrying the channel's exposure time (ZEN writes ns)."""
    source = image.findall("Dimensions/Channels/Channel") if image is not None else []
    exposure_ns = [_float(ch.findtext("ExposureTime")) for ch in source]
    t, c, z = shape[:3]
    if not any(exposure_ns) or t * c * z > _MAX_PLANES:
        return []
    planes = []
    for ti in range(t):
        for ci in range(c):
            ns = exposure_ns[ci // samples] if ci // samples < len(exposure_ns) else None
            for zi in range(z):
                planes.append(
                    Plane(
                        the_t=ti,
                        the_c=ci,
                        the_z=zi,
                        exposure_time=convert(ns, "ns", "ms") if ns else None,
                        exposure_time_unit=UnitsTime.MILLISECOND,
                    )
                )
    return planes


def _date(image: Element | None) -> datetime | None:
    text = image.findtext("AcquisitionDateAndTime") if image is not None else None
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.rstrip("Z")[:26])
    except ValueError:
        return None
    return value if value.year > 1 else None


def czi_ome(reader: CziReader) -> OME:
    """OME for every scene of an indexed CZI file (pure: reads nothing but the XML)."""
    # the reader capped the XML's size when it opened the file; depth and DTDs are checked here
    root = (
        parse_xml(reader.xml, where=reader.path, max_bytes=len(reader.xml)) if reader.xml else None
    )
    md = root.find("Metadata") if root is not None else None
    info = md.find("Information/Image") if md is not None else None
    display = md.findall("DisplaySetting/Channels/Channel") if md is not None else []
    scale = _scaling_um(md)
    dt = _time_increment(info)
    instrument = _instrument(md)
    images = []
    for i, scene in enumerate(reader.scenes):
        pixels = generated_pixels(
            i,
            scene.dtype,
            scene.shape,
            (scale["Z"], scale["Y"], scale["X"]),
            _channels(info, display, scene.shape[1], scene.samples, i),
            time_increment=dt,
            planes=_planes(info, scene.shape, scene.samples),
        )
        images.append(
            Image(
                id=f"Image:{i}",
                name=f"{reader.path.stem}"
                + (f" scene {scene.index}" if len(reader.scenes) > 1 else ""),
                acquisition_date=_date(info),
                pixels=pixels,
                instrument_ref=InstrumentRef(id=instrument.id) if instrument else None,
                objective_settings=ObjectiveSettings(id=instrument.objectives[0].id)
                if instrument and instrument.objectives
                else None,
            )
        )
    return OME(
        images=images,
        instruments=[instrument] if instrument else [],
        creator=f"{GENERATED_BY}czifile",
    )


def describe_czi(path: Path, *, max_input_bytes: int, max_xml_bytes: int) -> TiffDescription:
    """Describe ``path`` (CZI) as OME plus ZEN's original metadata XML."""
    reader = open_czi(path, max_input_bytes=max_input_bytes, max_xml_bytes=max_xml_bytes)
    ome = czi_ome(reader)
    return TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin="generated",
        file_format="CZI",
        unmapped={"vendor.czi": vendor_text("xml", reader.xml)},
        notes=[],
    )
