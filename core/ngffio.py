"""OME-Zarr (NGFF 0.4 and 0.5) delivered as input: its images, their axes and scales.

Instruments and pipelines increasingly write OME-Zarr themselves. Such a store is read, never
written: its image groups (a single multiscales image at the root, or the bioformats2raw
layout ``0``, ``1``, ... with its ``OME/METADATA.ome.xml``) are validated with
ome-zarr-models, and level 0 of each is opened lazily with zarr. Plates are refused for now
with the reason.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from ome_zarr_models import v04, v05
from pydantic import ValidationError
from zarr.errors import ZarrUserWarning

from core.errors import (
    CorruptInputError,
    InputTooLargeError,
    UnsafeInputError,
    UnsupportedFormatError,
    first_problem,
    third_party_damage,
)
from core.ngffdetect import NGFF_KIND, is_ngff
from core.xmlsafe import check_xml

__all__ = ["NGFF_KIND", "NgffImage", "NgffStore", "is_ngff", "level0", "open_ngff"]

#: root metadata documents larger than this are not NGFF attributes a scan should parse
#: image groups of a bioformats2raw store looked at, at most
MAX_SERIES = 10_000


@dataclass(frozen=True)
class NgffImage:
    """One multiscales image of a store, level 0 only."""

    path: str
    name: str | None
    axes: str
    units: tuple[str | None, ...]
    scale: tuple[float, ...]
    level0: str
    shape: tuple[int, ...]
    dtype: str
    channels: tuple[dict[str, Any], ...]
    #: what strict validation (ome-zarr-models) found, when the image was read leniently
    problem: str | None = None


@dataclass(frozen=True)
class NgffStore:
    """An OME-Zarr store given as input."""

    root: Path
    version: str
    images: tuple[NgffImage, ...]
    ome_xml: str | None
    attrs: dict[str, Any]


@contextlib.contextmanager
def _zarr_quiet() -> Iterator[None]:
    """Zarr warns about metadata other writers produce (an empty filter list in v2): not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZarrUserWarning)
        yield


def _ngff_attrs(group: Any) -> dict[str, Any]:
    attrs = dict(group.attrs)
    ome = attrs.get("ome")
    return dict(ome) if isinstance(ome, dict) else attrs


def _axis_letters(names: list[str], where: Path) -> str:
    letters = ""
    for name in names:
        letter = name.upper()
        if len(letter) != 1 or letter not in "TCZYX" or letter in letters:
            raise UnsupportedFormatError(
                f"NGFF axis '{name}' is not one of t, c, z, y, x (or repeats)",
                where=where,
                hint="fairway reads OME-Zarr images with axes named t, c, z, y and x",
            )
        letters += letter
    return letters


def _scale(transforms: Any) -> list[float] | None:
    for t in transforms if isinstance(transforms, list) else ():
        if isinstance(t, dict) and t.get("type") == "scale" and isinstance(t.get("scale"), list):
            return [float(v) for v in t["scale"]]
    return None


def _model_problem(group: Any, version: str) -> str | None:
    """What ome-zarr-models finds wrong with the image group, or ``None``."""
    models: Any = v05 if version == "0.5" else v04
    try:
        models.Image.from_zarr(group)
    except ValidationError as exc:
        loc, message = first_problem(exc)
        return f"{loc}: {message}" if loc else message
    except (KeyError, ValueError, FileNotFoundError) as exc:
        return str(exc)
    return None


def _image(root: Any, path: str, version: str, where: Path) -> NgffImage:
    """Read one image group; NGFF that breaks the schema in small ways is read leniently."""
    group = root[path] if path else root
    problem = _model_problem(group, version)
    label = path or "/"

    def refuse(what: str) -> CorruptInputError:
        because = f"; ome-zarr-models: {problem}" if problem else ""
        return CorruptInputError(
            f"OME-Zarr image '{label}' cannot be read: {what}{because}",
            where=where,
            hint="re-export the store, or check it with ome-zarr-models",
        )

    multiscales = _ngff_attrs(group).get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise refuse("no multiscales")
    ms = multiscales[0]
    raw_axes = ms.get("axes")
    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise refuse("multiscales without datasets")
    if raw_axes is None and str(ms.get("version", "")) in {"0.1", "0.2"}:
        raw_axes = list("tczyx")  # before 0.3 every image was 5-D in this order
    if not isinstance(raw_axes, list):
        raise refuse("multiscales without axes")
    names = [str(a.get("name") if isinstance(a, dict) else a) for a in raw_axes]
    units = tuple(
        str(a["unit"]) if isinstance(a, dict) and a.get("unit") else None for a in raw_axes
    )
    axes = _axis_letters(names, where)
    first = datasets[0]
    level = first.get("path") if isinstance(first, dict) else None
    if not isinstance(level, str) or not level or level.startswith("/") or ".." in level.split("/"):
        raise refuse(f"level 0 path {level!r} is not a relative path inside the image")
    scale = _scale(first.get("coordinateTransformations")) or [1.0] * len(axes)
    outer = _scale(ms.get("coordinateTransformations"))
    if outer is not None and len(outer) == len(scale):
        scale = [a * b for a, b in zip(scale, outer, strict=True)]
    try:
        array = group[level]
    except KeyError:
        raise refuse(f"level 0 array '{level}' is missing") from None
    except ValueError as exc:  # its metadata document is not JSON, or not zarr's
        raise refuse(f"level 0 array '{level}' has unreadable metadata ({exc})") from None
    shape = getattr(array, "shape", None)
    if shape is None or len(shape) != len(axes) or len(scale) != len(axes):
        raise refuse(f"level 0 has {len(shape or ())} dimensions for {len(axes)} axes")
    omero = _ngff_attrs(group).get("omero")
    channels = omero.get("channels", []) if isinstance(omero, dict) else []
    return NgffImage(
        path=path,
        name=str(ms["name"]) if ms.get("name") is not None else None,
        axes=axes,
        units=units,
        scale=tuple(scale),
        level0=f"{path}/{level}".lstrip("/"),
        shape=tuple(int(n) for n in shape),
        dtype=str(array.dtype),
        channels=tuple(c for c in channels if isinstance(c, dict)),
        problem=problem,
    )


def _refuse_links(root: Path) -> None:
    """Zarr follows links: a linked chunk or folder could pull any file into the archive."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                raise UnsafeInputError(
                    f"OME-Zarr store holds a symbolic link ({path.relative_to(root)})",
                    where=root,
                    hint="copy the store with links resolved (cp -rL) if the target belongs to it",
                )


def open_ngff(root: Path, *, max_xml_bytes: int, max_input_bytes: int) -> NgffStore:
    """Read the structure of the OME-Zarr at ``root`` (no pixels).

    Raises
    ------
    CorruptInputError
        The store or one of its images is not valid NGFF; the message names the group.
    UnsupportedFormatError
        A plate, or axes other than t, c, z, y, x.
    UnsafeInputError
        The store holds a symbolic link, or its OME-XML declares entities.
    InputTooLargeError
        Its level-0 pixels or its OME-XML are above the caps.
    """
    _refuse_links(root)
    try:
        with _zarr_quiet():
            group = zarr.open_group(store=str(root), mode="r")
    except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError) as exc:
        raise CorruptInputError(f"not a readable zarr group ({exc})", where=root) from None
    attrs = _ngff_attrs(group)
    version = "0.5" if isinstance(group.attrs.get("ome"), dict) else "0.4"
    if "plate" in attrs:
        raise UnsupportedFormatError(
            "OME-Zarr plates are not read as input yet",
            where=root,
            hint="deliver the plate's source files (OME-TIFF or vendor format) instead",
        )
    if "bioformats2raw.layout" in attrs:
        paths = []
        for k in range(MAX_SERIES):
            if str(k) not in group:
                break
            paths.append(str(k))
    else:
        paths = [""]
    if not paths:
        raise CorruptInputError("bioformats2raw layout without image groups 0, 1, ...", where=root)
    with third_party_damage(root), _zarr_quiet():
        images = tuple(_image(group, p, version, root) for p in paths)
    decoded = sum(math.prod(i.shape) * np.dtype(i.dtype).itemsize for i in images)
    if decoded > max_input_bytes:
        raise InputTooLargeError(
            f"OME-Zarr holds {decoded} bytes of level-0 pixels (cap {max_input_bytes})",
            where=root,
            hint="raise FAIRWAY_MAX_INPUT_BYTES if this store is expected",
        )
    ome_xml = None
    xml_path = root / "OME" / "METADATA.ome.xml"
    if xml_path.is_file() and not xml_path.is_symlink():
        ome_xml = check_xml(xml_path.read_bytes(), where=xml_path, max_bytes=max_xml_bytes)
    return NgffStore(root=root, version=version, images=images, ome_xml=ome_xml, attrs=attrs)


class _Level0:
    """Array-like over a level-0 zarr array: a chunk that cannot be decoded is a typed error."""

    def __init__(self, path: Path, where: Path) -> None:
        self._path, self._where = path, where
        with _zarr_quiet():
            self._array: Any = zarr.open_array(store=str(path), mode="r")
        self.shape, self.dtype, self.ndim = self._array.shape, self._array.dtype, self._array.ndim
        self.chunks = self._array.chunks

    def __getstate__(self) -> dict[str, Any]:  # a dask.distributed worker reopens it
        return {"path": self._path, "where": self._where}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["where"])  # type: ignore[misc]

    def __getitem__(self, key: Any) -> Any:
        with third_party_damage(self._where):
            return self._array[key]


def level0(store: NgffStore, image: NgffImage) -> da.Array:
    """Level 0 of ``image`` as a lazy array in the store's own axis order."""
    array = _Level0(store.root / image.level0, store.root)
    name = f"ngff-{uuid.uuid4().hex[:12]}"
    return da.from_array(array, chunks=array.chunks, asarray=True, name=name)  # type: ignore[no-untyped-call,no-any-return]
