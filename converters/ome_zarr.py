"""Write OME-Zarr (NGFF 0.5, zarr v3): one image at the top level, several in bioformats2raw.

Layout of a dataset with **one image** (a plain NGFF image, so every reader opens the store
itself: ome-zarr-py's ``Reader``, napari-ome-zarr, bioio-ome-zarr, zarr)::

    <name>.ome.zarr/            zarr.json  ome: {version 0.5, multiscales, omero}
        0/ 1/ ...               the resolution levels
        labels/                 label images, if any
        OME/                    zarr.json  ome: {version 0.5}
            METADATA.ome.xml    the full OME-XML of the source (or generated from it)

Layout of a dataset with **several images** (series) or a plate (bioformats2raw layout)::

    <name>.ome.zarr/            zarr.json  ome: {version 0.5, bioformats2raw.layout: 3}
        OME/                    zarr.json  ome: {version 0.5, series: ["0", ...]}
            METADATA.ome.xml
        0/                      one multiscale image per series: levels 0..n, omero channels
        1/ ...

Readers open ``<name>.ome.zarr/0`` for the first series there (a plate: the store itself).
:func:`validators.ngff.image_paths` lists the image groups of either layout.

Output is built under ``<dest>.partial-<token>``, every file is fsync'd, and only then is the
folder renamed to ``dest``: a reader never sees a half-written store under the final name.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import dask.array as da
import numpy as np
import zarr
from numcodecs import Blosc
from ome_types import OME
from ome_types.model import Image
from zarr.codecs import BloscCodec

from converters.hcs import PlateLayout, plate_layout
from converters.policy import LAYOUTS, shard_for
from converters.pyramid import Level, plan_levels, z_chunk
from converters.readers import open_pixels
from converters.strategies import Runner, write_plane_groups, write_tiles
from core.errors import ConversionError, CorruptInputError
from core.files import fsync_dir, fsync_tree
from core.omeutil import (
    color_hex,
    default_color,
    expected_tczyx,
    ngff_length_unit,
    ngff_time_unit,
)
from core.progress import ProgressCallback, null_progress
from core.records import ConvertedImage
from core.settings import Settings

__all__ = ["ZarrOptions", "write_ome_zarr"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZarrOptions:
    """How arrays are chunked and compressed."""

    chunk_yx: int = 512
    shard_yx: int = 4096
    clevel: int = 5
    workers: int = 2
    ngff_version: str = "0.5"
    memory_limit_bytes: int = 1024**3
    scheduler_address: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ZarrOptions:
        """The configured layout, with explicit chunk/shard settings taking precedence."""
        layout = LAYOUTS[settings.layout]
        chunk = settings.chunk_yx or layout.chunk_yx
        shard = layout.shard_yx if settings.shard_yx is None else settings.shard_yx
        return cls(
            chunk_yx=chunk,
            shard_yx=shard,
            clevel=layout.clevel,
            workers=settings.workers,
            ngff_version=settings.ngff_version,
            memory_limit_bytes=settings.memory_limit_bytes,
            scheduler_address=settings.dask_scheduler_address,
        )

    @property
    def runner(self) -> Runner:
        """Where the conversion tasks run."""
        return Runner(workers=self.workers, scheduler_address=self.scheduler_address)


def _axes(image: Image) -> tuple[list[dict[str, str]], list[float]]:
    px = image.pixels

    def unit(value: float | None, symbol: Any) -> dict[str, str]:
        name = ngff_length_unit(symbol) if value else None
        return {"unit": name} if name else {}

    t_unit = ngff_time_unit(px.time_increment_unit) if px.time_increment else None
    axes = [
        {"name": "t", "type": "time", **({"unit": t_unit} if t_unit else {})},
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", **unit(px.physical_size_z, px.physical_size_z_unit)},
        {"name": "y", "type": "space", **unit(px.physical_size_y, px.physical_size_y_unit)},
        {"name": "x", "type": "space", **unit(px.physical_size_x, px.physical_size_x_unit)},
    ]
    scale = [
        float(px.time_increment or 1.0),
        1.0,
        float(px.physical_size_z or 1.0),
        float(px.physical_size_y or 1.0),
        float(px.physical_size_x or 1.0),
    ]
    return axes, scale


def _omero(image: Image, mins: np.ndarray, maxs: np.ndarray, dtype: np.dtype) -> dict[str, Any]:
    channels = []
    n = len(mins)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo, hi = float(info.min), float(info.max)
    else:
        lo, hi = float(np.nanmin(mins)), float(np.nanmax(maxs))
    for k in range(n):
        ch = image.pixels.channels[k] if k < len(image.pixels.channels) else None
        color = color_hex(ch.color) if ch is not None else None
        if color is None:
            color = default_color(k, n)
        channels.append(
            {
                "label": (ch.name if ch is not None and ch.name else f"Channel {k}"),
                "color": color,
                "active": True,
                "coefficient": 1.0,
                "family": "linear",
                "inverted": False,
                "window": {
                    "min": lo,
                    "max": hi,
                    "start": float(mins[k]),
                    "end": float(maxs[k]),
                },
            }
        )
    return {"channels": channels, "rdefs": {"model": "color" if n > 1 else "greyscale"}}


class _Written(NamedTuple):
    """One image written: the record, its group, its multiscale entry, channel extrema."""

    image: ConvertedImage
    group: zarr.Group
    multiscale: dict[str, Any]
    mins: np.ndarray
    maxs: np.ndarray


def _create_levels(
    img: zarr.Group,
    shape: tuple[int, ...],
    dtype: np.dtype,
    levels: list[Level],
    options: ZarrOptions,
) -> list[zarr.Array[Any]]:
    v2 = options.ngff_version == "0.4"
    compressor: Any = (
        Blosc(cname="zstd", clevel=options.clevel, shuffle=Blosc.SHUFFLE)
        if v2
        else BloscCodec(cname="zstd", clevel=options.clevel, shuffle="shuffle")
    )
    cy = min(options.chunk_yx, shape[3])
    cx = min(options.chunk_yx, shape[4])
    cz = z_chunk(cy * cx, options.chunk_yx)
    arrays: list[zarr.Array[Any]] = []
    for k, level in enumerate(levels):
        z, y, x = level.shape_zyx
        arrays.append(
            img.create_array(
                str(k),
                shape=(*shape[:2], z, y, x),
                dtype=dtype,
                chunks=(1, 1, min(cz, z), min(cy, y), min(cx, x)),
                shards=(
                    1,
                    1,
                    min(cz, z),
                    shard_for(y, cy, options.shard_yx),
                    shard_for(x, cx, options.shard_yx),
                )
                if options.shard_yx and not v2
                else None,
                compressors=compressor,
                fill_value=0,
                **(
                    {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
                    if v2
                    else {"dimension_names": ("t", "c", "z", "y", "x")}
                ),
            )
        )
    return arrays


def _write_image(
    group: zarr.Group,
    name: str,
    data: da.Array,
    image: Image,
    options: ZarrOptions,
    progress: ProgressCallback,
    *,
    labels: bool = False,
) -> _Written:
    """Write one image with its pyramid (attributes are the caller's: see _image_attrs)."""
    shape = tuple(int(n) for n in data.shape)
    axes, scale = _axes(image)
    px = image.pixels
    voxel = (px.physical_size_z, px.physical_size_y, px.physical_size_x)
    levels = plan_levels((shape[2], shape[3], shape[4]), options.chunk_yx, voxel)
    img = group.create_group(name) if name else group  # "" = the image is the group itself
    arrays = _create_levels(img, shape, data.dtype, levels, options)
    datasets = [
        {
            "path": str(k),
            "coordinateTransformations": [
                {
                    "type": "scale",
                    "scale": [
                        *scale[:2],
                        *(s * f for s, f in zip(scale[2:], lv.factor_zyx, strict=True)),
                    ],
                }
            ],
        }
        for k, lv in enumerate(levels)
    ]
    whole_planes = data.chunks[3] == (shape[3],) and data.chunks[4] == (shape[4],)
    runner = options.runner
    if whole_planes:
        mins, maxs = write_plane_groups(
            data,
            arrays,
            levels,
            labels=labels,
            runner=runner,
            memory_limit=options.memory_limit_bytes,
            label=name,
            progress=progress,
        )
    else:
        blocks = arrays[0].shards or arrays[0].chunks  # one task per shard: a single writer each
        mins, maxs = write_tiles(
            data.rechunk(blocks),
            arrays,
            levels,
            labels=labels,
            runner=runner,
            label=name,
            progress=progress,
        )
    z_halved = levels[-1].factor_zyx[0] > 1
    multiscale = {
        "name": image.name or name or "image",
        "axes": axes,
        "datasets": datasets,
        "type": "mode" if labels else "mean",
        "metadata": {
            "method": ("2x2 mode in y and x" if labels else "2x2 mean in y and x")
            + (", 2x in z where near-isotropic" if z_halved else ""),
            "library": "fairway",
        },
    }
    converted = ConvertedImage(
        path=name,
        shape=shape,
        dtype=str(data.dtype),
        axes="tczyx",
        levels=len(levels),
        scale=tuple(scale),
    )
    return _Written(converted, img, multiscale, mins, maxs)


def _image_attrs(
    img: zarr.Group, multiscale: dict[str, Any], extra: dict[str, Any], v2: bool
) -> None:
    """Put NGFF attributes on an image group: under ``ome`` (0.5) or at the top (0.4)."""
    if v2:
        img.attrs.update({"multiscales": [{**multiscale, "version": "0.4"}], **extra})
    else:
        img.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale], **extra}


def _write_labels(
    img: zarr.Group,
    image: Image,
    shape: tuple[int, ...],
    labels: Mapping[str, Path],
    options: ZarrOptions,
    settings: Settings,
    progress: ProgressCallback,
) -> None:
    """Write each label image under ``<image>/labels/<name>`` (NGFF image-label, mode pyramid).

    A label must be one channel of integers with the image's Z, Y and X (and its T, or one
    time point); anything else is a typed error naming the label file.
    """
    v2 = options.ngff_version == "0.4"
    group = img.create_group("labels")
    for name, path in sorted(labels.items()):
        with open_pixels(path, "tiff", settings) as series:
            data = series[0].data
            if data.dtype == np.bool_:
                data = data.astype(np.uint8)
            t, c, z, y, x = (int(n) for n in data.shape)
            if (
                len(series) != 1
                or data.dtype.kind not in "iu"
                or c != 1
                or (z, y, x) != tuple(shape[2:])
                or t not in (1, shape[0])
            ):
                raise CorruptInputError(
                    f"label image '{name}' holds {len(series)} series of {data.dtype} shaped "
                    f"{tuple(data.shape)} (t,c,z,y,x); it must be one channel of integers "
                    f"shaped like its image {tuple(shape)}",
                    where=path,
                    hint="export the segmentation as a single-channel integer TIFF of the "
                    "image's size",
                )
            out = _write_image(group, name, data, image, options, progress, labels=True)
            image_label: dict[str, Any] = {"source": {"image": "../../"}}
            if v2:
                image_label["version"] = "0.4"
            _image_attrs(out.group, out.multiscale, {"image-label": image_label}, v2)
    names = sorted(labels)
    if v2:
        group.attrs["labels"] = names
    else:
        group.attrs["ome"] = {"version": "0.5", "labels": names}


def _write_plate_groups(root: zarr.Group, layout: PlateLayout, v2: bool) -> None:
    """Plate metadata on the root and a group with ``well`` metadata for every well."""
    if v2:
        root.attrs["plate"] = {**layout.plate, "version": "0.4"}
    else:
        root.attrs["ome"] = {
            "version": "0.5",
            "bioformats2raw.layout": 3,
            "plate": {**layout.plate, "version": "0.5"},  # ome-zarr-models expects it here too
        }
    for well_path, well in layout.wells.items():
        group = root.require_group(well_path)
        if v2:
            group.attrs["well"] = {**well, "version": "0.4"}
        else:
            group.attrs["ome"] = {"version": "0.5", "well": well}


def write_ome_zarr(
    source: Path,
    kind: str,
    ome: OME,
    ome_xml: str,
    dest: Path,
    settings: Settings,
    *,
    labels: Mapping[str, Path] | None = None,
    members: Sequence[tuple[Path, str]] = (),
    progress: ProgressCallback = null_progress,
) -> list[ConvertedImage]:
    """Convert ``source`` to an OME-Zarr at ``dest`` (atomically; see module docs).

    ``ome`` supplies sizes, physical scales and channel names/colours for every series and
    ``ome_xml`` is stored verbatim as ``OME/METADATA.ome.xml``. ``labels`` (name -> label
    TIFF) are written as NGFF labels of the first image. A DICOM series (``kind`` 'dicom')
    is read from ``members`` (real path, derived name) and ``source`` is its derived name.

    Raises
    ------
    CorruptInputError
        The pixels disagree with the sizes the OME metadata declares.
    ConversionError
        Writing failed (disk full, permissions); the partial output is removed.
    """
    options = ZarrOptions.from_settings(settings)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f"{dest.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = dest.with_name(f"{dest.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with open_pixels(source, kind, settings, members) as series:
            if len(series) > len(ome.images):
                raise CorruptInputError(
                    f"file holds {len(series)} series but its metadata describes "
                    f"{len(ome.images)} images",
                    where=source,
                )
            v2 = options.ngff_version == "0.4"
            root = zarr.open_group(store=str(partial), mode="w", zarr_format=2 if v2 else 3)
            layout = plate_layout(ome)
            single = layout is None and len(series) == 1  # a plain image at the top level
            if not single:
                if v2:
                    root.attrs["bioformats2raw.layout"] = 3
                else:
                    root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
            if layout is not None:
                _write_plate_groups(root, layout, v2)
            written: list[ConvertedImage] = []
            for s in series:
                image = ome.images[s.index]
                expected = expected_tczyx(image.pixels)
                if tuple(s.data.shape) != expected:
                    raise CorruptInputError(
                        f"series {s.index} holds shape {tuple(s.data.shape)} (t,c,z,y,x) but the "
                        f"metadata declares {expected}",
                        where=source,
                        hint="the file is truncated or its metadata is wrong; it was not padded",
                    )
                path = layout.image_paths[s.index] if layout else "" if single else str(s.index)
                parent, _, leaf = path.rpartition("/")
                group = root[parent] if parent else root
                out = _write_image(group, leaf, s.data, image, options, progress)  # type: ignore[arg-type]
                omero = _omero(image, out.mins, out.maxs, s.data.dtype)
                _image_attrs(out.group, out.multiscale, {"omero": omero}, v2)
                if labels and not written:
                    shape = out.image.shape
                    _write_labels(out.group, image, shape, labels, options, settings, progress)
                written.append(out.image.model_copy(update={"path": path}))
            ome_group = root.create_group("OME")
            # bioformats2raw lists its image groups; a top-level image has none to list
            series_list = {} if single else {"series": [w.path for w in written]}
            if v2:
                ome_group.attrs.update(series_list)
            else:
                ome_group.attrs["ome"] = {"version": "0.5", **series_list}
            (partial / "OME" / "METADATA.ome.xml").write_text(ome_xml, encoding="utf-8")
        fsync_tree(partial)
        if dest.exists():
            shutil.rmtree(dest)
        partial.rename(dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ConversionError(
            f"writing the OME-Zarr failed: {exc}",
            where=dest,
            hint="check free space and permissions",
        ) from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return written
