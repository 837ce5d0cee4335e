"""Pixel sources: an input file as lazy 5-D (t, c, z, y, x) dask arrays, one per series."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dask.array as da
import numpy as np
import zarr
from dask.delayed import delayed

from core.bioio_open import open_bioio, scene_bytes
from core.cziio import open_czi
from core.errors import CorruptInputError, UnsupportedFormatError
from core.lifio import lif_fallback
from core.settings import Settings
from core.tiffio import axes_plan, open_tiff_source, to_tczyx_shape, transpose_order

__all__ = ["PixelSeries", "RegionReader", "open_pixels", "region_series"]


class _GuardedArray:
    """Array-like over a reader's zarr view that turns decoding failures into typed errors.

    A truncated or damaged file often parses fine and fails only when a strip or tile is
    decoded, deep inside dask; the error then names the file and the chunk.
    """

    def __init__(self, arr: zarr.Array[Any], where: Path) -> None:
        self._arr = arr
        self._where = where
        self.shape = arr.shape
        self.dtype = arr.dtype
        self.ndim = arr.ndim

    def __getitem__(self, key: Any) -> Any:
        try:
            return self._arr[key]
        except Exception as exc:
            raise CorruptInputError(
                f"pixel data cannot be decoded ({type(exc).__name__}: {exc})",
                where=self._where,
                hint="the file is truncated or damaged; re-transfer it from the instrument",
            ) from exc


@dataclass(frozen=True)
class PixelSeries:
    """One series of an input file as a lazy 5-D array in t, c, z, y, x order."""

    index: int
    data: da.Array
    source_axes: str


def _tczyx(arr: da.Array, axes: str, where: Path) -> da.Array:
    plan = axes_plan(axes, where=where)
    order = transpose_order(plan)
    arr = arr.transpose(order)
    return arr.reshape(to_tczyx_shape(tuple(arr.shape), tuple(plan[i] for i in order)))


def _bioio_series(img: Any, path: Path, memory_limit: int) -> list[PixelSeries]:
    """Every scene as a lazy (t, c, z, y, x) array of planes read through the plugin.

    Plugins are not all thread-safe: reads of one file are serialised by a lock, while
    compression and writing of the planes run in parallel. Plugins whose frames span more
    than one plane (Leica XZ scans) are read a whole scene at a time, within the memory limit.
    """
    lock = threading.Lock()
    whole: dict[int, np.ndarray] = {}

    def read_whole(scene: int, order: str) -> np.ndarray:
        if scene not in whole:
            nbytes = scene_bytes(img)
            if nbytes > memory_limit:
                raise UnsupportedFormatError(
                    f"scene {scene} can only be read whole ({nbytes} bytes), which exceeds "
                    f"the memory limit of {memory_limit}",
                    where=path,
                    hint="raise FAIRWAY_MEMORY_LIMIT_BYTES or export the scene as OME-TIFF",
                )
            whole.clear()
            whole[scene] = np.asarray(img.get_image_data(order))
        return whole[scene]

    def read_plane(scene: int, t: int, c: int, z: int, sample: int | None) -> np.ndarray:
        order = "YX" if sample is None else "YXS"
        try:
            with lock:
                img.set_scene(scene)
                try:
                    plane = np.asarray(img.get_image_data(order, T=t, C=c, Z=z))
                except ValueError:
                    plane = read_whole(scene, "TCZ" + order)[t, c, z]
        except UnsupportedFormatError:
            raise
        except Exception as exc:
            plugin = type(img.reader).__module__.split(".")[0]
            raise CorruptInputError(
                f"{plugin} cannot decode scene {scene} plane t={t} c={c} z={z} "
                f"({type(exc).__name__}: {exc})",
                where=path,
                hint="the file may be truncated (re-transfer it) or use a layout the plugin "
                "does not read (export it as OME-TIFF)",
            ) from exc
        return plane if sample is None else plane[..., sample]

    out: list[PixelSeries] = []
    for scene in range(len(img.scenes)):
        img.set_scene(scene)
        dims = img.dims
        samples = dims.S if "S" in dims.order else 0
        dtype = np.dtype(img.dtype)
        planes_c = []
        for c in range(dims.C * max(samples, 1)):
            src_c, sample = (c // samples, c % samples) if samples else (c, None)
            stack = [
                da.stack(
                    [
                        da.from_delayed(
                            delayed(read_plane)(scene, t, src_c, z, sample),
                            shape=(dims.Y, dims.X),
                            dtype=dtype,
                        )
                        for z in range(dims.Z)
                    ]
                )
                for t in range(dims.T)
            ]
            planes_c.append(da.stack(stack))  # t, z, y, x
        data = da.stack(planes_c, axis=1)  # t, c, z, y, x
        out.append(PixelSeries(index=scene, data=data, source_axes=dims.order))
    img.set_scene(0)
    return out


class RegionReader(Protocol):
    """A source that reads any Y/X region of a (t, c, z) plane (CZI, LIF fallback)."""

    @property
    def scenes(self) -> Sequence[RegionScene]:
        """The scenes, in order."""
        ...

    def read(self, scene: int, t: int, c: int, z: int, ys: slice, xs: slice) -> np.ndarray:
        """Pixels of the region, shape (len(ys), len(xs))."""
        ...


class RegionScene(Protocol):
    """Shape (t, c, z, y, x) and dtype of one scene of a :class:`RegionReader`."""

    @property
    def shape(self) -> tuple[int, int, int, int, int]: ...

    @property
    def dtype(self) -> str: ...


#: Y/X block edge for planes too large to be read whole within the memory limit
REGION_BLOCK_YX = 4096


def _region_plane(
    reader: RegionReader, scene: int, tcz: tuple[int, int, int], yx: tuple[int, int], block: int
) -> da.Array:
    """One (y, x) plane as blocks of at most ``block`` pixels, each a delayed region read."""
    ny, nx = yx
    dtype = np.dtype(reader.scenes[scene].dtype)
    rows = []
    for y0 in range(0, ny, block):
        row = []
        for x0 in range(0, nx, block):
            ys, xs = slice(y0, min(y0 + block, ny)), slice(x0, min(x0 + block, nx))
            row.append(
                da.from_delayed(
                    delayed(reader.read)(scene, *tcz, ys, xs),
                    shape=(ys.stop - ys.start, xs.stop - xs.start),
                    dtype=dtype,
                )
            )
        rows.append(row)
    return da.block(rows)


def region_series(
    reader: RegionReader, memory_limit: int, block_yx: int = REGION_BLOCK_YX
) -> list[PixelSeries]:
    """Every scene of ``reader`` as a lazy (t, c, z, y, x) array of region reads.

    A plane is one block when it fits an eighth of the memory limit, else blocks of
    ``block_yx``: only the source tiles overlapping a block are decoded for it.
    """
    out = []
    for index, scene in enumerate(reader.scenes):
        nt, nc, nz, ny, nx = scene.shape
        whole = ny * nx * np.dtype(scene.dtype).itemsize <= memory_limit // 8
        block = max(ny, nx) if whole else block_yx
        data = da.stack(
            [
                da.stack(
                    [
                        da.stack(
                            [
                                _region_plane(reader, index, (t, c, z), (ny, nx), block)
                                for z in range(nz)
                            ]
                        )
                        for c in range(nc)
                    ]
                )
                for t in range(nt)
            ]
        )
        out.append(PixelSeries(index=index, data=data, source_axes="TCZYX"))
    return out


@contextlib.contextmanager
def open_pixels(path: Path, kind: str, settings: Settings) -> Iterator[list[PixelSeries]]:
    """Open ``path`` and yield its series; file handles close when the context ends."""
    if kind == "czi":
        reader = open_czi(
            path, max_input_bytes=settings.max_input_bytes, max_xml_bytes=settings.max_xml_bytes
        )
        try:
            yield region_series(reader, settings.memory_limit_bytes)
        finally:
            reader.close()
        return
    fallback = (
        lif_fallback(
            path,
            max_input_bytes=settings.max_input_bytes,
            memory_limit=settings.memory_limit_bytes,
        )
        if kind == "bioio" and path.suffix.lower() == ".lif"
        else None
    )
    if fallback is not None:
        lif = fallback[0]
        try:
            yield region_series(lif, settings.memory_limit_bytes)
        finally:
            lif.close()
        return
    if kind == "bioio":
        img = open_bioio(path, max_input_bytes=settings.max_input_bytes)
        try:
            yield _bioio_series(img, path, settings.memory_limit_bytes)
        finally:
            close = getattr(img, "close", None)
            if callable(close):
                close()
        return
    if kind != "tiff":
        raise UnsupportedFormatError(f"no pixel reader for kind '{kind}'", where=path)
    with open_tiff_source(
        path, max_xml_bytes=settings.max_xml_bytes, max_input_bytes=settings.max_input_bytes
    ) as (tif, _companion):
        out: list[PixelSeries] = []
        image = 0  # OME image index; a position axis (R) holds several images
        for i, series in enumerate(tif.series):
            try:
                # one zarr chunk per plane for strip-organised pages (one read, not one per
                # strip); tiled pages keep their tiles so huge planes stay out of memory
                page = series.keyframe
                plane_bytes = (
                    page.imagewidth
                    * page.imagelength
                    * page.samplesperpixel
                    * series.dtype.itemsize
                )
                per_page = not page.is_tiled and plane_bytes <= settings.memory_limit_bytes // 8
                store = series.aszarr(level=0, chunkmode="page" if per_page else None)
                arr = zarr.open_array(store=store, mode="r")
            except Exception as exc:
                raise CorruptInputError(
                    f"series {i} cannot be read ({type(exc).__name__}: {exc})", where=path
                ) from exc
            # one task per plane (strip files) or per output tile (tiled files): never a task
            # per TIFF strip
            chunks = tuple(
                (n if per_page else min(settings.chunk_yx or 512, n))
                if ax in "YX"
                else (n if ax == "S" else 1)
                for ax, n in zip(series.axes, arr.shape, strict=True)
            )
            data = da.from_array(
                _GuardedArray(arr, path),
                chunks=chunks,
                asarray=True,
                name=f"read-{path.name}-{i}-{uuid.uuid4().hex[:8]}",
            )
            axes = series.axes
            if tif.is_ome and "R" in axes:
                # Micro-Manager and others store positions as one series with an R axis;
                # OME describes each position as its own image
                r_axis = axes.index("R")
                rest = axes.replace("R", "")
                for r in range(data.shape[r_axis]):
                    part = data[(slice(None),) * r_axis + (r,)]
                    out.append(
                        PixelSeries(index=image, data=_tczyx(part, rest, path), source_axes=rest)
                    )
                    image += 1
                continue
            out.append(PixelSeries(index=image, data=_tczyx(data, axes, path), source_axes=axes))
            image += 1
        yield out
