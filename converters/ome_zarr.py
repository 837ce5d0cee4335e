"""Write OME-Zarr (NGFF 0.5, zarr v3) in the bioformats2raw layout.

Layout written::

    <name>.ome.zarr/            zarr.json  ome: {version 0.5, bioformats2raw.layout: 3}
        OME/                    zarr.json  ome: {version 0.5, series: ["0", ...]}
            METADATA.ome.xml    the full OME-XML of the source (or generated from it)
        0/                      one multiscale image per series: levels 0..n, omero channels
        1/ ...

Output is built under ``<dest>.partial-<token>``, every file is fsync'd, and only then is the
folder renamed to ``dest``: a reader never sees a half-written store under the final name.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from dask.base import compute
from dask.callbacks import Callback
from dask.delayed import delayed
from numcodecs import Blosc
from ome_types import OME
from ome_types.model import Image
from zarr.codecs import BloscCodec

from converters.hcs import PlateLayout, plate_layout
from converters.policy import LAYOUTS, shard_for
from converters.pyramid import downsample_2x, level_count, shrink_2x
from converters.readers import open_pixels
from core.errors import ConversionError, CorruptInputError
from core.files import fsync_dir, fsync_tree
from core.omeutil import (
    color_hex,
    default_color,
    expected_tczyx,
    ngff_length_unit,
    ngff_time_unit,
)
from core.progress import Progress, ProgressCallback, null_progress
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
        )

    def plane_workers(self, plane_bytes: int) -> int:
        """Workers that fit the memory limit: each holds a plane, its pyramid and buffers."""
        per_worker = 4 * plane_bytes  # the plane, the compressed copy, the levels, headroom
        return max(1, min(self.workers, self.memory_limit_bytes // max(per_worker, 1)))


class _DaskProgress(Callback):
    def __init__(self, progress: ProgressCallback, label: str) -> None:
        super().__init__()
        self._progress = progress
        self._label = label
        self._done = 0
        self._total: int | None = None

    def _start_state(self, dsk: Any, state: Any) -> None:
        self._total = sum(len(state[k]) for k in ("ready", "waiting", "running"))

    def _posttask(self, *_: Any) -> None:
        self._done += 1
        if self._total and (self._done % 16 == 0 or self._done == self._total):
            self._progress(Progress(self._label, self._done, self._total))


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


def _write_plane(
    block: np.ndarray, index: tuple[int, int, int], arrays: list[zarr.Array[Any]]
) -> tuple[float, float]:
    """Write one (t, c, z) plane into every level; return its minimum and maximum."""
    plane = block.reshape(block.shape[-2:])
    t, c, z = index
    finite = plane if plane.dtype.kind in "biu" else plane[np.isfinite(plane)]
    lo = float(finite.min()) if finite.size else float("nan")
    hi = float(finite.max()) if finite.size else float("nan")
    for level, arr in enumerate(arrays):
        if level:
            plane = shrink_2x(plane)
        arr[t, c, z] = plane
    return lo, hi


def _write_planewise(
    data: da.Array,
    arrays: list[zarr.Array[Any]],
    options: ZarrOptions,
    label: str,
    progress: ProgressCallback,
) -> tuple[np.ndarray, np.ndarray]:
    """One task per plane: read it once, write it and all its pyramid levels from memory."""
    plane_bytes = data.shape[3] * data.shape[4] * data.dtype.itemsize
    blocks = data.to_delayed()
    tasks = [
        delayed(_write_plane)(blocks[t, c, z, 0, 0], (t, c, z), arrays)
        for t in range(data.shape[0])
        for c in range(data.shape[1])
        for z in range(data.shape[2])
    ]
    with _DaskProgress(progress, label):
        results = compute(
            *tasks, scheduler="threads", num_workers=options.plane_workers(plane_bytes)
        )
    nc = data.shape[1]
    mins = np.full(nc, np.inf)
    maxs = np.full(nc, -np.inf)
    per_plane = data.shape[2]
    for i, (lo, hi) in enumerate(results):
        c = (i // per_plane) % nc
        mins[c] = np.fmin(mins[c], lo)
        maxs[c] = np.fmax(maxs[c], hi)
    return mins, maxs


def _write_tilewise(
    data: da.Array,
    arrays: list[zarr.Array[Any]],
    options: ZarrOptions,
    label: str,
    progress: ProgressCallback,
) -> tuple[np.ndarray, np.ndarray]:
    """For planes too large for memory: level 0 by tiles, each level from the one before."""
    store0 = da.store(data, arrays[0], lock=False, compute=False)  # type: ignore[arg-type]
    with _DaskProgress(progress, f"{label} level 0"):
        _, mins, maxs = compute(
            store0,
            data.min(axis=(0, 2, 3, 4)),
            data.max(axis=(0, 2, 3, 4)),
            scheduler="threads",
            num_workers=options.workers,
        )
    for level in range(1, len(arrays)):
        # one dask block per zarr chunk: two blocks sharing a chunk would race on its write
        target = arrays[level]
        smaller = downsample_2x(da.from_zarr(arrays[level - 1])).rechunk(
            target.shards or target.chunks
        )
        with _DaskProgress(progress, f"{label} level {level}"):
            da.store(
                smaller,
                arrays[level],  # type: ignore[arg-type]
                lock=False,
                scheduler="threads",
                num_workers=options.workers,
            )
    return np.asarray(mins, dtype=float), np.asarray(maxs, dtype=float)


def _write_image(
    group: zarr.Group,
    name: str,
    data: da.Array,
    image: Image,
    options: ZarrOptions,
    progress: ProgressCallback,
) -> ConvertedImage:
    shape = tuple(int(n) for n in data.shape)
    cy = min(options.chunk_yx, shape[3])
    cx = min(options.chunk_yx, shape[4])
    axes, scale = _axes(image)
    levels = level_count((shape[3], shape[4]), options.chunk_yx)
    img = group.create_group(name)
    v2 = options.ngff_version == "0.4"
    compressor: Any = (
        Blosc(cname="zstd", clevel=options.clevel, shuffle=Blosc.SHUFFLE)
        if v2
        else BloscCodec(cname="zstd", clevel=options.clevel, shuffle="shuffle")
    )
    arrays: list[zarr.Array[Any]] = []
    datasets = []
    y, x = shape[3], shape[4]
    for level in range(levels):
        arrays.append(
            img.create_array(
                str(level),
                shape=(*shape[:3], y, x),
                dtype=data.dtype,
                chunks=(1, 1, 1, min(cy, y), min(cx, x)),
                shards=(
                    1,
                    1,
                    1,
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
        factor = 2.0**level
        lscale = [*scale[:3], scale[3] * factor, scale[4] * factor]
        datasets.append(
            {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": lscale}]}
        )
        y, x = y // 2, x // 2
    whole_planes = data.chunks[3] == (shape[3],) and data.chunks[4] == (shape[4],)
    if whole_planes:
        planes = data.rechunk((1, 1, 1, shape[3], shape[4]))  # RGB samples: one per channel
        mins, maxs = _write_planewise(planes, arrays, options, name, progress)
    else:
        blocks = arrays[0].shards or arrays[0].chunks  # one task per shard: a single writer each
        mins, maxs = _write_tilewise(data.rechunk(blocks), arrays, options, name, progress)
    ome_attrs: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": image.name or name,
                "axes": axes,
                "datasets": datasets,
                "type": "mean",
                "metadata": {"method": "2x2 mean in y and x", "library": "fairway"},
            }
        ],
        "omero": _omero(image, mins, maxs, data.dtype),
    }
    if v2:  # NGFF 0.4: attributes at the top level, version inside each multiscale
        ome_attrs.pop("version")
        ome_attrs["multiscales"][0]["version"] = "0.4"
        img.attrs.update(ome_attrs)
    else:
        img.attrs["ome"] = ome_attrs
    return ConvertedImage(
        path=name,
        shape=shape,
        dtype=str(data.dtype),
        axes="tczyx",
        levels=levels,
        scale=tuple(scale),
    )


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
    progress: ProgressCallback = null_progress,
) -> list[ConvertedImage]:
    """Convert ``source`` to an OME-Zarr at ``dest`` (atomically; see module docs).

    ``ome`` supplies sizes, physical scales and channel names/colours for every series and
    ``ome_xml`` is stored verbatim as ``OME/METADATA.ome.xml``.

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
        with open_pixels(source, kind, settings) as series:
            if len(series) > len(ome.images):
                raise CorruptInputError(
                    f"file holds {len(series)} series but its metadata describes "
                    f"{len(ome.images)} images",
                    where=source,
                )
            v2 = options.ngff_version == "0.4"
            root = zarr.open_group(store=str(partial), mode="w", zarr_format=2 if v2 else 3)
            if v2:
                root.attrs["bioformats2raw.layout"] = 3
            else:
                root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
            layout = plate_layout(ome)
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
                path = layout.image_paths[s.index] if layout else str(s.index)
                parent, _, leaf = path.rpartition("/")
                group = root[parent] if parent else root
                done = _write_image(group, leaf, s.data, image, options, progress)  # type: ignore[arg-type]
                written.append(done.model_copy(update={"path": path}))
            ome_group = root.create_group("OME")
            series_list = [w.path for w in written]
            if v2:
                ome_group.attrs["series"] = series_list
            else:
                ome_group.attrs["ome"] = {"version": "0.5", "series": series_list}
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
