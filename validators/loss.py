"""Metadata-loss check: the OME-Zarr must say what the source said.

Compares the source OME (as read from the file) with what the output carries: array shapes
against the declared sizes, NGFF scales and units against physical sizes and the time
increment, ``omero`` channels against channel names and colours, and the OME-XML copy at
``OME/METADATA.ome.xml`` against the source for everything NGFF has no place for
(dimension order, wavelengths, instrument/objective/detector references, plane positions).
Every difference is a finding; nothing raises.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import zarr
from ome_types import OME
from ome_types.model import Image

from core.omeutil import (
    channel_count,
    color_hex,
    expected_tczyx,
    ngff_length_unit,
    ngff_time_unit,
    parse_ome,
)
from core.records import Finding, Severity
from validators.ngff import image_group, image_paths, ngff_attrs

__all__ = ["check_metadata_loss"]


def _loss(path: str, message: str) -> Finding:
    return Finding(
        path=path,
        module="metadata-loss",
        level="required",
        severity=Severity.ERROR,
        message=message,
        fix_hint="re-convert the dataset; report the difference as a bug",
        check="metadata-loss",
    )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _under(image: str, rest: str) -> str:
    return f"{image}/{rest}" if image else rest


def _check_image(key: str, image: Image, group: Any) -> list[Finding]:
    out: list[Finding] = []
    ome_attrs = ngff_attrs(group)
    ms = (ome_attrs.get("multiscales") or [{}])[0]
    px = image.pixels
    level0 = group[ms.get("datasets", [{}])[0].get("path", "0")]
    expected = expected_tczyx(px)
    if tuple(level0.shape) != expected:
        out.append(
            _loss(
                _under(key, "0"),
                f"array shape {tuple(level0.shape)} but the source declares "
                f"{expected} (t, c, z, y, x)",
            )
        )
    axes = {a["name"]: a for a in ms.get("axes", [])}
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"] if ms.get("datasets") else []
    names = [a["name"] for a in ms.get("axes", [])]
    for axis in "zyx":
        size = getattr(px, f"physical_size_{axis}")
        if size is None or axis not in axes:
            continue
        unit = ngff_length_unit(getattr(px, f"physical_size_{axis}_unit"))
        got = scale[names.index(axis)]
        if not _close(float(got), float(size)):
            out.append(
                _loss(
                    _under(key, f"multiscales/scale/{axis}"),
                    f"scale {got} but the source pixel size is {size}",
                )
            )
        if axes[axis].get("unit") != unit:
            out.append(
                _loss(
                    _under(key, f"multiscales/axes/{axis}/unit"),
                    f"unit {axes[axis].get('unit')!r} but the source says {unit!r}",
                )
            )
    if px.time_increment is not None and "t" in axes:
        got = scale[names.index("t")]
        if not _close(float(got), float(px.time_increment)):
            out.append(
                _loss(
                    _under(key, "multiscales/scale/t"),
                    f"time step {got} but the source says {px.time_increment}",
                )
            )
        unit = ngff_time_unit(px.time_increment_unit)
        if axes["t"].get("unit") != unit:
            out.append(
                _loss(
                    _under(key, "multiscales/axes/t/unit"),
                    f"time unit {axes['t'].get('unit')!r} but the source says {unit!r}",
                )
            )
    channels = (ome_attrs.get("omero") or {}).get("channels", [])
    if len(channels) != channel_count(px):
        out.append(
            _loss(
                _under(key, "omero/channels"),
                f"{len(channels)} omero channels but the source has {channel_count(px)}",
            )
        )
    for i, ch in enumerate(px.channels[: len(channels)]):
        if ch.name and channels[i].get("label") != ch.name:
            out.append(
                _loss(
                    _under(key, f"omero/channels[{i}].label"),
                    f"label {channels[i].get('label')!r} but the source name is {ch.name!r}",
                )
            )
        src_color = color_hex(ch.color)
        if ch.color is not None and channels[i].get("color", "").upper() != src_color:
            out.append(
                _loss(
                    _under(key, f"omero/channels[{i}].color"),
                    f"colour {channels[i].get('color')!r} but the source has {src_color!r}",
                )
            )
    return out


def _planes(pixels: Any) -> list[tuple[Any, ...]]:
    return [
        (q.the_z, q.the_c, q.the_t, q.position_x, q.position_y, q.position_z, q.delta_t)
        for q in pixels.planes
    ]


def _xml_differences(source: OME, copy: OME) -> list[Finding]:
    out: list[Finding] = []
    if len(source.images) != len(copy.images):
        return [_loss("OME/METADATA.ome.xml", "the OME-XML copy has a different number of images")]
    for i, (a, b) in enumerate(zip(source.images, copy.images, strict=True)):
        pa, pb = a.pixels, b.pixels
        for attr in (
            "dimension_order",
            "size_x",
            "size_y",
            "size_z",
            "size_c",
            "size_t",
            "physical_size_x",
            "physical_size_y",
            "physical_size_z",
            "time_increment",
        ):
            if getattr(pa, attr) != getattr(pb, attr):
                out.append(
                    _loss(
                        f"OME/METADATA.ome.xml/Image[{i}]/Pixels@{attr}",
                        f"{attr} differs from the source",
                    )
                )
        if (a.instrument_ref and a.instrument_ref.id) != (b.instrument_ref and b.instrument_ref.id):
            out.append(
                _loss(
                    f"OME/METADATA.ome.xml/Image[{i}]@InstrumentRef",
                    "instrument reference differs from the source",
                )
            )
        for k, (ca, cb) in enumerate(zip(pa.channels, pb.channels, strict=False)):
            for attr in ("excitation_wavelength", "emission_wavelength", "fluor", "name"):
                if getattr(ca, attr) != getattr(cb, attr):
                    out.append(
                        _loss(
                            f"OME/METADATA.ome.xml/Image[{i}]/Channel[{k}]@{attr}",
                            f"channel {attr} differs from the source",
                        )
                    )
        if _planes(pa) != _planes(pb):
            out.append(
                _loss(
                    f"OME/METADATA.ome.xml/Image[{i}]/Plane",
                    "plane positions or timestamps differ from the source",
                )
            )
    return out


def check_metadata_loss(source_ome_xml: str, store: Path) -> list[Finding]:
    """Every difference between the source OME and what ``store`` carries."""
    source, _ = parse_ome(source_ome_xml)
    try:
        root = zarr.open_group(str(store), mode="r")
    except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError) as exc:
        return [_loss(str(store), f"output cannot be opened: {exc}")]
    out: list[Finding] = []
    copy_path = store / "OME" / "METADATA.ome.xml"
    if not copy_path.is_file():
        out.append(_loss("OME/METADATA.ome.xml", "the OME-XML of the source is missing"))
    else:
        text = copy_path.read_text(encoding="utf-8")
        if text != source_ome_xml:
            out += _xml_differences(source, parse_ome(text)[0])
    # the image groups in the order of the OME-XML images: "" (the store is the image), or
    # what OME/ lists in the bioformats2raw layout ("0", "1", … or, for a plate, "A/1/0", …)
    paths = image_paths(root)
    if not paths:
        out.append(_loss("", "the store holds no image"))
    for index, key in enumerate(paths):
        if index >= len(source.images) or (key and key not in root):
            out.append(_loss(key, "series listed in OME/ has no image group or no source image"))
            continue
        out += _check_image(key, source.images[index], image_group(root, key))
    return out
