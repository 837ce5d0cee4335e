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
import tifffile
import zarr
from dask.delayed import delayed

from core.bioio_open import open_bioio, scene_bytes
from core.cziio import open_czi
from core.dicomio import DicomReader, read_series
from core.errors import CorruptInputError, UnsupportedFormatError
from core.lifio import lif_fallback
from core.ngffio import NGFF_KIND, level0, open_ngff
from core.settings import Settings
from core.tiffio import axes_plan, open_tiff_source, to_tczyx_shape, transpose_order

__all__ = ["PixelSeries", "RegionReader", "open_pixels", "region_series"]


class _GuardedArray:
    """Array-like over tifffile's zarr view that turns decoding failures into typed errors.

    A truncated or damaged file often parses fine and fails only when a strip or tile is
    decoded, deep inside dask; the error then names the file and the chunk. Pickled (to a
    ``dask.distributed`` worker) it keeps only how to reopen the series, and reopens it there.
    """

    def __init__(
        self,
        arr: zarr.Array[Any] | None,
        where: Path,
        reopen: tuple[str, str | None, int, str | None],
    ) -> None:
        self._arr = arr
        self._tif: Any = None
        self._where = where
        self._reopen = reopen  # tiff path, OME-XML override, series index, chunk mode
        self._lock = threading.Lock()
        if arr is not None:
            self.shape, self.dtype, self.ndim = arr.shape, arr.dtype, arr.ndim

    def __getstate__(self) -> dict[str, Any]:
        return {
            "where": self._where,
            "reopen": self._reopen,
            "shape": self.shape,
            "dtype": self.dtype,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(None, state["where"], state["reopen"])  # type: ignore[misc]
        self.shape, self.dtype, self.ndim = state["shape"], state["dtype"], len(state["shape"])

    def _array(self) -> zarr.Array[Any]:
        with self._lock:
            if self._arr is None:
                path, omexml, series, chunkmode = self._reopen
                self._tif = (
                    tifffile.TiffFile(path, omexml=omexml) if omexml else tifffile.TiffFile(path)
                )
                store = self._tif.series[series].aszarr(level=0, chunkmode=chunkmode)
                self._arr = zarr.open_array(store=store, mode="r")
            return self._arr

    def __getitem__(self, key: Any) -> Any:
        try:
            return self._array()[key]
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


class _BioioPlanes:
    """Plane reads through a bioio plugin; picklable (reopened where it is used).

    Plugins are not all thread-safe: reads of one file are serialised by a lock, while
    compression and writing of the planes run in parallel. Plugins whose frames span more
    than one plane (Leica XZ scans) are read a whole scene at a time, within the memory limit.
    """

    def __init__(self, img: Any, path: Path, max_input_bytes: int, memory_limit: int) -> None:
        self._img = img
        self.path = path
        self.max_input_bytes = max_input_bytes
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._whole: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "max_input_bytes": self.max_input_bytes,
            "memory_limit": self.memory_limit,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(None, **state)  # type: ignore[misc]

    @property
    def img(self) -> Any:
        """The open image (opened on first use after unpickling)."""
        if self._img is None:
            self._img = open_bioio(self.path, max_input_bytes=self.max_input_bytes)
        return self._img

    def _read_whole(self, scene: int, order: str) -> np.ndarray:
        if scene not in self._whole:
            nbytes = scene_bytes(self.img)
            if nbytes > self.memory_limit:
                raise UnsupportedFormatError(
                    f"scene {scene} can only be read whole ({nbytes} bytes), which exceeds "
                    f"the memory limit of {self.memory_limit}",
                    where=self.path,
                    hint="raise FAIRWAY_MEMORY_LIMIT_BYTES or export the scene as OME-TIFF",
                )
            self._whole.clear()
            self._whole[scene] = np.asarray(self.img.get_image_data(order))
        return self._whole[scene]

    def read(self, scene: int, t: int, c: int, z: int, sample: int | None) -> np.ndarray:
        """Plane (t, c, z) of ``scene`` (one sample of it for RGB) as (y, x)."""
        order = "YX" if sample is None else "YXS"
        try:
            with self._lock:
                img = self.img
                img.set_scene(scene)
                try:
                    plane = np.asarray(img.get_image_data(order, T=t, C=c, Z=z))
                except ValueError:
                    plane = self._read_whole(scene, "TCZ" + order)[t, c, z]
        except UnsupportedFormatError:
            raise
        except Exception as exc:
            plugin = type(self.img.reader).__module__.split(".")[0]
            raise CorruptInputError(
                f"{plugin} cannot decode scene {scene} plane t={t} c={c} z={z} "
                f"({type(exc).__name__}: {exc})",
                where=self.path,
                hint="the file may be truncated (re-transfer it) or use a layout the plugin "
                "does not read (export it as OME-TIFF)",
            ) from exc
        return plane if sample is None else plane[..., sample]


def _bioio_series(planes: _BioioPlanes) -> list[PixelSeries]:
    """Every scene as a lazy (t, c, z, y, x) array of planes read through the plugin."""
    img = planes.img
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
                            delayed(planes.read)(scene, t, src_c, z, sample),
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


class _RegionArray:
    """Array-like (t, c, z, y, x) over one scene of a :class:`RegionReader` (for dask)."""

    def __init__(self, reader: RegionReader, scene: int) -> None:
        self.reader = reader
        self.scene = scene
        info = reader.scenes[scene]
        self.shape = tuple(info.shape)
        self.dtype = np.dtype(info.dtype)
        self.ndim = 5

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        ranges = [range(*k.indices(n)) for k, n in zip(key[:3], self.shape[:3], strict=True)]
        ys, xs = (slice(*k.indices(n)[:2]) for k, n in zip(key[3:], self.shape[3:], strict=True))
        out = np.empty(
            (*(len(r) for r in ranges), ys.stop - ys.start, xs.stop - xs.start), self.dtype
        )
        for i, t in enumerate(ranges[0]):
            for j, c in enumerate(ranges[1]):
                for k, z in enumerate(ranges[2]):
                    out[i, j, k] = self.reader.read(self.scene, t, c, z, ys, xs)
        return out


def region_series(
    reader: RegionReader, memory_limit: int, block_yx: int = REGION_BLOCK_YX
) -> list[PixelSeries]:
    """Every scene of ``reader`` as a lazy (t, c, z, y, x) array of region reads.

    A plane is one block when it fits an eighth of the memory limit, else blocks of
    ``block_yx``: only the source tiles overlapping a block are decoded for it. Small planes
    are read many to a block (up to about a 512 x 512 plane's worth).
    """
    out = []
    for index, scene in enumerate(reader.scenes):
        _, _, nz, ny, nx = scene.shape
        plane_bytes = ny * nx * np.dtype(scene.dtype).itemsize
        whole = plane_bytes <= memory_limit // 8
        by, bx = (ny, nx) if whole else (block_yx, block_yx)
        bz = max(1, min(nz, (512 * 512 * 2) // max(plane_bytes, 1))) if whole else 1
        data = da.from_array(
            _RegionArray(reader, index),
            chunks=(1, 1, bz, by, bx),
            asarray=True,
            name=f"region-{uuid.uuid4().hex[:12]}",
        )
        out.append(PixelSeries(index=index, data=data, source_axes="TCZYX"))
    return out


@contextlib.contextmanager
def open_pixels(
    path: Path,
    kind: str,
    settings: Settings,
    members: Sequence[tuple[Path, str]] = (),
) -> Iterator[list[PixelSeries]]:
    """Open ``path`` and yield its series; file handles close when the context ends.

    A DICOM series is read from ``members`` (real path, derived name); ``path`` is then its
    derived name, the only one errors show.
    """
    if kind == "dicom":
        _, instances, scene, _ = read_series(
            list(members), max_input_bytes=settings.max_input_bytes
        )
        dicom = DicomReader(instances, scene, settings.memory_limit_bytes)
        try:
            yield region_series(dicom, settings.memory_limit_bytes)
        finally:
            dicom.close()
        return
    if kind == NGFF_KIND:
        ngff = open_ngff(
            path, max_xml_bytes=settings.max_xml_bytes, max_input_bytes=settings.max_input_bytes
        )
        yield [
            PixelSeries(index=i, data=_tczyx(level0(ngff, im), im.axes, path), source_axes=im.axes)
            for i, im in enumerate(ngff.images)
        ]
        return
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
            yield _bioio_series(
                _BioioPlanes(img, path, settings.max_input_bytes, settings.memory_limit_bytes)
            )
        finally:
            close = getattr(img, "close", None)
            if callable(close):
                close()
        return
    if kind != "tiff":
        raise UnsupportedFormatError(f"no pixel reader for kind '{kind}'", where=path)
    with open_tiff_source(
        path, max_xml_bytes=settings.max_xml_bytes, max_input_bytes=settings.max_input_bytes
    ) as (tif, companion):
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
                chunkmode = "page" if per_page else None
                store = series.aszarr(level=0, chunkmode=chunkmode)
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
                _GuardedArray(arr, path, (str(tif.filehandle.path), companion, i, chunkmode)),
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
