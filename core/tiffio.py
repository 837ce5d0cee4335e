"""Open TIFF files with limits, for every package that reads them.

The OME-XML or ImageJ description is checked (size, no DTD/entities) *before* tifffile parses
it, the declared pixel bytes of every series are compared with a cap before anything is
allocated, and any parser failure becomes a typed error naming the file.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from core.errors import CorruptInputError, InputTooLargeError, third_party_damage
from core.xmlsafe import check_xml

__all__ = [
    "COMPANION_SUFFIX",
    "declared_bytes",
    "open_tiff",
    "open_tiff_source",
    "read_companion",
    "referenced_files",
    "tifffile_heard_by",
]


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes that an array of ``shape`` and ``dtype`` needs uncompressed."""
    return math.prod(shape) * np.dtype(dtype).itemsize


COMPANION_SUFFIX = ".companion.ome"
_UUID_REF = re.compile(r'<(?:\w+:)?UUID\b[^>]*?FileName\s*=\s*"([^"]+)"[^>]*>\s*([^<\s]*)')
_OWN_UUID = re.compile(r'<(?:\w+:)?OME\b[^>]*?\sUUID\s*=\s*"([^"]+)"')


def referenced_files(ome_xml: str) -> list[str]:
    """File names an OME-XML document's TiffData elements point to, in order, without repeats.

    A reference carrying the document's own UUID is the file itself, whatever name it gives
    (a renamed single-file OME-TIFF still names its old file): it is not another file to wait
    for.
    """
    own = _OWN_UUID.search(ome_xml)
    seen: dict[str, None] = {}
    for name, uuid in _UUID_REF.findall(ome_xml):
        if own is not None and uuid == own.group(1):
            continue
        seen.setdefault(name, None)
    return list(seen)


def read_companion(path: Path, *, max_xml_bytes: int) -> str:
    """The text of a ``.companion.ome`` file, within the XML limits."""
    size = path.stat().st_size
    if size > max_xml_bytes:
        raise InputTooLargeError(
            f"companion OME-XML is {size} bytes, above the cap of {max_xml_bytes}", where=path
        )
    return check_xml(path.read_bytes(), where=path, max_bytes=max_xml_bytes)


@contextlib.contextmanager
def open_tiff_source(
    path: Path, *, max_xml_bytes: int, max_input_bytes: int
) -> Iterator[tuple[tifffile.TiffFile, str | None]]:
    """Open a TIFF acquisition's primary file; a ``.companion.ome`` opens its first TIFF.

    Yields the TIFF and, for a companion, the companion's OME-XML (which then describes the
    whole multi-file image).
    """
    if not path.name.lower().endswith(COMPANION_SUFFIX):
        with open_tiff(path, max_xml_bytes=max_xml_bytes, max_input_bytes=max_input_bytes) as tif:
            yield tif, None
        return
    xml = read_companion(path, max_xml_bytes=max_xml_bytes)
    members = referenced_files(xml)
    if not members:
        raise CorruptInputError("companion OME-XML references no TIFF file", where=path)
    first = path.parent / Path(members[0]).name
    with open_tiff(
        first, max_xml_bytes=max_xml_bytes, max_input_bytes=max_input_bytes, omexml=xml
    ) as tif:
        yield tif, xml


#: what tifffile only logs but that means the file cannot be trusted (it would pad or guess)
_DAMAGE = (
    "circular reference",
    "invalid page offset",
    "invalid offset to first page",
    "missing data",
    "Missing data are zeroed",
    "incorrect StripByteCounts",
    "incorrect StripOffsets",
    "is missing",
    "invalid data type",
    "invalid value offset",
)


def _tag_damage(page: Any) -> list[str]:
    """Violations of the TIFF structure in one IFD that tifffile tolerates silently."""
    damage = []
    codes = [tag.code for tag in page.tags.values()]
    # ImageDescription twice is normal: Micro-Manager writes OME-XML and ImageJ descriptions
    doubled = sorted({c for c in codes if codes.count(c) > 1 and c != 270})
    if doubled:
        damage.append(f"tag(s) {doubled} appear more than once in the first IFD")
    bits = page.tags.get("BitsPerSample")
    spp = int(getattr(page, "samplesperpixel", 1) or 1)
    if bits is not None and spp > 1 and bits.count != spp:
        damage.append(f"BitsPerSample has {bits.count} value(s) for {spp} samples")
    return damage


class _TiffLog(logging.Handler):
    """Collects tifffile's warnings about damaged structure while a file is opened."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.damage: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(mark in message for mark in _DAMAGE) and message not in self.damage:
            self.damage.append(message)


@contextlib.contextmanager
def open_tiff(
    path: Path, *, max_xml_bytes: int, max_input_bytes: int, omexml: str | None = None
) -> Iterator[tifffile.TiffFile]:
    """Open ``path`` with tifffile after the safety checks; close it on exit.

    Raises
    ------
    CorruptInputError
        tifffile cannot parse the file.
    UnsafeInputError, InputTooLargeError
        The description or the declared size break a limit.
    """
    heard = _TiffLog()
    with tifffile_heard_by(heard):
        tif = _checked_tiff(path, omexml, max_xml_bytes, max_input_bytes, heard)
    try:
        yield tif
    finally:
        tif.close()


@contextlib.contextmanager
def tifffile_heard_by(handler: logging.Handler | None = None) -> Iterator[None]:
    """Send what tifffile logs (warnings up) to ``handler`` only, not to the console.

    tifffile logs what it finds wrong in a damaged file before it raises; fairway makes that
    the refusal's reason, and printed as well it is only noise.
    """
    log = logging.getLogger("tifffile")
    level, propagate = log.level, log.propagate
    if not log.isEnabledFor(logging.WARNING):
        log.setLevel(logging.WARNING)  # its warnings are how damage is reported
    log.propagate = False
    # a logger without handlers would print through logging's last resort
    handler = handler if handler is not None else logging.NullHandler()
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def _checked_tiff(
    path: Path, omexml: str | None, max_xml_bytes: int, max_input_bytes: int, heard: _TiffLog
) -> tifffile.TiffFile:
    try:
        tif = tifffile.TiffFile(path, omexml=omexml) if omexml else tifffile.TiffFile(path)
    except Exception as exc:
        raise CorruptInputError(
            f"not a readable TIFF ({type(exc).__name__}: {exc})",
            where=path,
            hint="check that the transfer finished and the file is not truncated",
        ) from exc
    try:
        _check_structure(tif, path, max_xml_bytes, max_input_bytes, heard)
    except BaseException:
        tif.close()
        raise
    return tif


def _check_structure(
    tif: tifffile.TiffFile, path: Path, max_xml_bytes: int, max_input_bytes: int, heard: _TiffLog
) -> None:
    try:
        first = tif.pages.first
        description = first.description if hasattr(first, "description") else ""
    except Exception as exc:
        raise CorruptInputError(
            f"first IFD unreadable ({type(exc).__name__}: {exc})", where=path
        ) from exc
    # what the first IFD declares is judged against the size cap before anything else: a
    # file declaring terabytes is over-size, whatever else is also wrong with it
    _check_declared("the first image", tuple(first.shape), first.dtype, path, max_input_bytes)
    heard.damage.extend(_tag_damage(first))
    if description:
        check_xml(description, where=path, max_bytes=max_xml_bytes)
        if not tif.is_ome and "<OME" in description[:4096]:
            raise CorruptInputError(
                "the embedded OME-XML is not well-formed; the file would be read as a plain "
                "TIFF and lose its dimensions and metadata",
                where=path,
                hint="re-export it from the acquisition software",
            )
    try:
        series = tif.series
        if tif.is_ome and any(p is None for s in series for p in s.pages):
            heard.damage.append("the OME-XML declares planes the file does not hold")
    except Exception as exc:
        raise CorruptInputError(
            f"image series unreadable ({type(exc).__name__}: {exc})",
            where=path,
            hint="the embedded metadata may contradict the file's layout",
        ) from exc
    if heard.damage:
        raise CorruptInputError(
            f"damaged TIFF structure: {'; '.join(heard.damage[:3])}",
            where=path,
            hint="the file was not padded or guessed at; re-transfer or re-export it",
        )
    if not series:
        raise CorruptInputError("TIFF holds no image", where=path)
    for i, s in enumerate(series):
        _check_declared(f"series {i}", tuple(s.shape), s.dtype, path, max_input_bytes)
    _check_pixel_extents(tif, series, path)


def _check_declared(
    what: str, shape: tuple[int, ...], dtype: Any, path: Path, max_input_bytes: int
) -> None:
    """Refuse an image whose declared pixels exceed ``max_input_bytes`` (over-size).

    A dimension that is not a whole number (a tag of the wrong type) is damage, not a size.
    """
    if not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in shape):
        raise CorruptInputError(
            f"{what} declares a size that is not a whole number ({shape!r})",
            where=path,
            hint="a TIFF tag has the wrong type; re-export the file from its software",
        )
    nbytes = declared_bytes(shape, np.dtype(dtype if dtype is not None else np.uint8))
    if nbytes > max_input_bytes:
        dims = " x ".join(str(n) for n in shape)
        raise InputTooLargeError(
            f"{what} declares {nbytes:,} bytes of pixels ({dims} {dtype}), above the cap "
            f"of {max_input_bytes:,} bytes",
            where=path,
            hint="raise FAIRWAY_MAX_INPUT_BYTES if the file is genuine",
        )


#: declared pixel bytes per stored byte above which a compressed file is not believed
MAX_COMPRESSION_RATIO = 1_000_000
#: pages whose strips and tiles are checked against the file (the rest share their layout)
PAGES_CHECKED = 4096


def _check_pixel_extents(tif: tifffile.TiffFile, series: Any, path: Path) -> None:
    """Strips and tiles must lie inside the file and hold what the tags declare.

    Catches inflated ImageWidth/ImageLength/SamplesPerPixel and cut transfers before a
    reader plans a read of terabytes from kilobytes.
    """
    size = path.stat().st_size if path.exists() else 0
    stored = 0
    declared = 0
    checked = 0
    for s in series:
        declared += declared_bytes(tuple(s.shape), s.dtype)
        with third_party_damage(path):
            pages = list(itertools.islice(s.pages, PAGES_CHECKED))
        for page in pages:
            if page is None or checked >= PAGES_CHECKED:
                continue
            checked += 1
            offsets = getattr(page, "dataoffsets", ()) or ()
            counts = getattr(page, "databytecounts", ()) or ()
            if size and any(o + c > size for o, c in zip(offsets, counts, strict=False) if c):
                raise CorruptInputError(
                    "pixel data runs past the end of the file", where=path,
                    hint="the transfer was cut off; re-transfer the file",
                )  # fmt: skip
            held = sum(counts)
            stored += held
            bits = int(getattr(page, "bitspersample", 8) or 8)  # bilevel images pack 8 per byte
            need = math.prod(page.shape) * bits // 8
            if getattr(page, "compression", 1) == 1 and held and held < need:
                raise CorruptInputError(
                    f"an uncompressed page declares {need} bytes of pixels but holds {held}",
                    where=path,
                    hint="its size tags are damaged or the file was cut off",
                )
    if stored and declared / stored > MAX_COMPRESSION_RATIO:
        raise CorruptInputError(
            f"declares {declared} bytes of pixels in {stored} stored bytes (a compression "
            f"ratio above {MAX_COMPRESSION_RATIO:,})",
            where=path,
            hint="the size tags are not believable; re-export the file",
        )


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
