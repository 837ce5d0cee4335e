"""Open Zeiss CZI files through czifile, with limits, and read them region by region.

czifile (BSD-3) parses the ZISRAW container and decodes subblocks; fairway indexes the
subblocks per scene and (t, c, z) plane so that a plane, or any Y/X region of it, is read by
decoding only the subblocks that overlap it. Mosaics are assembled tile by tile in the file's
mosaic order (later tiles win where they overlap, as in ZEN); pyramid subblocks are skipped.
BGR(A) pixels come out as RGB(A) samples.

A :class:`CziReader` holds only plain data and reopens the file lazily, so it can be pickled
to the workers of a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CorruptInputError, FairwayError, InputTooLargeError, UnsupportedFormatError
from core.xmlsafe import check_xml

__all__ = ["CziReader", "CziScene", "open_czi"]

#: axes a CZI may carry that fairway maps (S scene, T, C, Z, Y, X, 0 samples); B is legacy
_MAPPED = frozenset("STCZYXB0")


@dataclass(frozen=True)
class _Tile:
    """One subblock of a plane: its index in the filtered directory and its placement."""

    entry: int
    y: int
    x: int
    h: int
    w: int


@dataclass(frozen=True)
class CziScene:
    """One scene: its (t, c, z, y, x) shape (c counts samples) and tiles per plane."""

    index: int
    shape: tuple[int, int, int, int, int]
    samples: int
    dtype: str
    tiles: dict[tuple[int, int, int], tuple[_Tile, ...]] = field(repr=False)


def _czi_error(path: Path, exc: Exception) -> CorruptInputError:
    return CorruptInputError(
        f"cannot be read as CZI ({type(exc).__name__}: {exc})",
        where=path,
        hint="check that the transfer finished and the file is not truncated",
    )


def _level0(czi: Any) -> list[Any]:
    """The subblocks of full resolution (pyramid subblocks have pyramid_type != 0)."""
    entries = list(czi.filtered_subblock_directory)
    full = [e for e in entries if not e.pyramid_type]
    return full or entries


def _index(entries: list[Any], path: Path) -> list[CziScene]:
    axes = entries[0].axes
    extra = set(axes) - _MAPPED
    starts = np.array([e.start for e in entries], dtype=np.int64)
    for ax in sorted(extra):
        k = axes.index(ax)
        if len(set(starts[:, k])) > 1:
            raise UnsupportedFormatError(
                f"CZI dimension '{ax}' has {len(set(starts[:, k]))} values; fairway maps "
                "scenes, time, channels, Z and mosaics only",
                where=path,
                hint="export the file from ZEN as OME-TIFF",
            )

    def pos(e: Any, ax: str) -> int:
        return int(e.start[axes.index(ax)]) if ax in axes else 0

    def size(e: Any, ax: str) -> int:
        return int(e.shape[axes.index(ax)]) if ax in axes else 1

    origin = {ax: min(pos(e, ax) for e in entries) for ax in "STCZ"}
    by_scene: dict[int, list[Any]] = defaultdict(list)
    for i, e in enumerate(entries):
        by_scene[pos(e, "S") - origin["S"]].append((i, e))
    scenes = []
    dtype = np.dtype(entries[0].dtype)
    samples = int(dtype.shape[0]) if dtype.shape else 1
    base = dtype.base if dtype.shape else dtype
    for s in sorted(by_scene):
        members = by_scene[s]
        y0 = min(pos(e, "Y") for _, e in members)
        x0 = min(pos(e, "X") for _, e in members)
        y1 = max(pos(e, "Y") + size(e, "Y") for _, e in members)
        x1 = max(pos(e, "X") + size(e, "X") for _, e in members)
        tiles: dict[tuple[int, int, int], list[_Tile]] = defaultdict(list)
        for i, e in members:
            plane = tuple(pos(e, ax) - origin[ax] for ax in "TCZ")
            spans = [size(e, ax) for ax in "TCZ"]
            if spans != [1, 1, 1]:
                raise UnsupportedFormatError(
                    f"a CZI subblock spans {spans} (t, c, z) planes", where=path
                )
            tile = _Tile(i, pos(e, "Y") - y0, pos(e, "X") - x0, size(e, "Y"), size(e, "X"))
            tiles[plane].append(tile)  # type: ignore[index]
        nt, nc, nz = (max(p[k] for p in tiles) + 1 for k in range(3))
        shape = (nt, nc * samples, nz, y1 - y0, x1 - x0)
        scenes.append(
            CziScene(
                index=s,
                shape=shape,
                samples=samples,
                dtype=str(base),
                tiles={k: tuple(v) for k, v in tiles.items()},
            )
        )
    return scenes


class CziReader:
    """Region reads of one CZI file; picklable (the file is reopened where it is used)."""

    def __init__(self, path: Path, scenes: list[CziScene], xml: str) -> None:
        self.path = path
        self.scenes = scenes
        self.xml = xml
        self._czi: Any = None
        self._entries: list[Any] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "scenes": self.scenes, "xml": self.xml}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["scenes"], state["xml"])  # type: ignore[misc]

    def _open(self) -> list[Any]:
        if self._czi is None:
            import czifile

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._czi = czifile.CziFile(str(self.path), multifile=False)
                self._entries = _level0(self._czi)
        return self._entries

    def read(self, scene: int, t: int, c: int, z: int, ys: slice, xs: slice) -> np.ndarray:
        """Pixels of plane (t, c, z) of ``scene`` in the region ``ys`` x ``xs`` (y, x).

        ``c`` counts samples: channel ``c // samples``, sample ``c % samples``. Places no
        subblock covers are 0.
        """
        info = self.scenes[scene]
        s = info.samples
        y0, y1 = ys.start or 0, ys.stop if ys.stop is not None else info.shape[3]
        x0, x1 = xs.start or 0, xs.stop if xs.stop is not None else info.shape[4]
        out = np.zeros((y1 - y0, x1 - x0), dtype=info.dtype)
        for tile in info.tiles.get((t, c // s, z), ()):
            ty0, tx0 = max(tile.y, y0), max(tile.x, x0)
            ty1, tx1 = min(tile.y + tile.h, y1), min(tile.x + tile.w, x1)
            if ty0 >= ty1 or tx0 >= tx1:
                continue
            try:
                with self._lock:  # one file handle: decode calls seek and read
                    entry = self._open()[tile.entry]
                    data = entry.data_segment().data(resize=True)
            except Exception as exc:
                raise _czi_error(self.path, exc) from exc
            data = np.asarray(data).reshape(tile.h, tile.w, s)[..., c % s]
            out[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = data[
                ty0 - tile.y : ty1 - tile.y, tx0 - tile.x : tx1 - tile.x
            ]
        return out

    def __enter__(self) -> CziReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if this process opened it."""
        if self._czi is not None:
            self._czi.close()
            self._czi = None


def open_czi(path: Path, *, max_input_bytes: int, max_xml_bytes: int) -> CziReader:
    """Index ``path``'s subblocks and read its metadata XML, within the limits.

    Raises
    ------
    CorruptInputError
        Not a CZI file, or its directory cannot be read (truncated transfer).
    InputTooLargeError
        A scene declares more pixel bytes than ``max_input_bytes``, or the XML is too large.
    UnsafeInputError
        The metadata XML declares a DTD or entities.
    UnsupportedFormatError
        The file uses dimensions fairway does not map (views, phases, rotations...).
    """
    import czifile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            czi = czifile.CziFile(str(path), multifile=False)
    except Exception as exc:
        raise _czi_error(path, exc) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = czi.metadata(raw=True) or ""
            entries = _level0(czi)
        xml = check_xml(raw, where=path, max_bytes=max_xml_bytes)
        if not entries:
            raise CorruptInputError("CZI holds no image subblocks", where=path)
        size = path.stat().st_size
        beyond = [e.file_position for e in entries if e.file_position + 32 > size]
        if beyond:
            raise CorruptInputError(
                f"{len(beyond)} of {len(entries)} subblocks lie beyond the end of the file "
                f"({size} bytes; first at offset {min(beyond)})",
                where=path,
                hint="the transfer was cut off; re-transfer the file from the instrument",
            )
        scenes = _index(entries, path)
    except FairwayError:
        raise
    except Exception as exc:
        raise _czi_error(path, exc) from exc
    finally:
        czi.close()
    for scene in scenes:
        nbytes = int(np.prod(scene.shape)) * np.dtype(scene.dtype).itemsize
        if nbytes > max_input_bytes:
            raise InputTooLargeError(
                f"scene {scene.index} declares {nbytes} bytes, above the cap of {max_input_bytes}",
                where=path,
                hint="raise FAIRWAY_MAX_INPUT_BYTES if the file is genuine",
            )
    return CziReader(path, scenes, xml)
