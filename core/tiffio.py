"""Open TIFF files with limits, for every package that reads them.

The OME-XML or ImageJ description is checked (size, no DTD/entities) *before* tifffile parses
it, the declared pixel bytes of every series are compared with a cap before anything is
allocated, and any parser failure becomes a typed error naming the file.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from core.errors import CorruptInputError, InputTooLargeError
from core.xmlsafe import check_xml

__all__ = ["declared_bytes", "open_tiff"]


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes that an array of ``shape`` and ``dtype`` needs uncompressed."""
    return math.prod(shape) * np.dtype(dtype).itemsize


@contextlib.contextmanager
def open_tiff(
    path: Path, *, max_xml_bytes: int, max_input_bytes: int
) -> Iterator[tifffile.TiffFile]:
    """Open ``path`` with tifffile after the safety checks; close it on exit.

    Raises
    ------
    CorruptInputError
        tifffile cannot parse the file.
    UnsafeInputError, InputTooLargeError
        The description or the declared size break a limit.
    """
    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise CorruptInputError(
            f"not a readable TIFF ({type(exc).__name__}: {exc})",
            where=path,
            hint="check that the transfer finished and the file is not truncated",
        ) from exc
    try:
        try:
            first = tif.pages.first
            description = first.description if hasattr(first, "description") else ""
        except Exception as exc:
            raise CorruptInputError(
                f"first IFD unreadable ({type(exc).__name__}: {exc})", where=path
            ) from exc
        if description:
            check_xml(description, where=path, max_bytes=max_xml_bytes)
        try:
            series = tif.series
        except Exception as exc:
            raise CorruptInputError(
                f"image series unreadable ({type(exc).__name__}: {exc})",
                where=path,
                hint="the embedded metadata may contradict the file's layout",
            ) from exc
        if not series:
            raise CorruptInputError("TIFF holds no image", where=path)
        for i, s in enumerate(series):
            nbytes = declared_bytes(tuple(s.shape), s.dtype)
            if nbytes > max_input_bytes:
                raise InputTooLargeError(
                    f"series {i} declares {nbytes} bytes ({s.shape} {s.dtype}), above the cap "
                    f"of {max_input_bytes}",
                    where=path,
                    hint="raise FAIRWAY_MAX_INPUT_BYTES if the file is genuine",
                )
        yield tif
    finally:
        tif.close()


#: canonical NGFF axis order written by fairway
TCZYX = "tczyx"
_DIRECT = {"T": "t", "C": "c", "Z": "z", "Y": "y", "X": "x", "S": "c"}


def axes_plan(axes: str, *, where: Path | str = "") -> tuple[str, ...]:
    """Map each axis letter of a tifffile series to one of ``t, c, z, y, x``.

    Samples (``S``, RGB) join the channel axis. Generic page axes (``Q``, ``I`` and the like)
    become ``z`` if the file has no Z, else ``t``. Several source axes may share a target;
    they are merged (C-order) by :func:`to_tczyx_shape`.
    """
    plan: list[str] = []
    used = {_DIRECT[a] for a in axes if a in _DIRECT}
    for a in axes:
        if a in _DIRECT:
            plan.append(_DIRECT[a])
        elif "z" not in used:
            plan.append("z")
            used.add("z")
        elif "t" not in used:
            plan.append("t")
            used.add("t")
        else:
            plan.append("t")
    if "y" not in plan or "x" not in plan:
        raise CorruptInputError(f"series axes {axes!r} have no Y and X", where=where)
    return tuple(plan)


def to_tczyx_shape(shape: tuple[int, ...], plan: tuple[str, ...]) -> tuple[int, int, int, int, int]:
    """The 5-D shape an array of ``shape`` gets once its axes follow ``plan``."""
    sizes = dict.fromkeys(TCZYX, 1)
    for n, target in zip(shape, plan, strict=True):
        sizes[target] *= n
    return (sizes["t"], sizes["c"], sizes["z"], sizes["y"], sizes["x"])


def transpose_order(plan: tuple[str, ...]) -> list[int]:
    """Source-axis permutation that sorts axes into t, c, z, y, x (stable within a target)."""
    return sorted(range(len(plan)), key=lambda i: (TCZYX.index(plan[i]), i))
