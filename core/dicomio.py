"""Read a DICOM series: headers with limits, a completeness check, pixels region by region.

A series becomes one image (t, c, z, y, x):

* single-frame instances (CT, MR, CR...) are sorted along the slice normal by
  ImagePositionPatient (else by InstanceNumber) into Z;
* a multi-frame instance is Z, or T for cine (ultrasound, FrameTime); Enhanced objects keep
  their frame order;
* whole-slide microscopy (SM) tiles are placed into the total pixel matrix of the largest
  level (the other levels of the scanner's pyramid are not needed: fairway builds its own);
* colour samples become channels.

Errors name the series by its derived name (``dicom-<token>/instance-00001.dcm``), never by
the scanner's file or folder names, which can carry patient names.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import (
    CorruptInputError,
    FairwayError,
    InputTooLargeError,
    UnsafeInputError,
    UnsupportedFormatError,
)

__all__ = [
    "DicomInstance",
    "DicomReader",
    "DicomScene",
    "along_normal",
    "frame_positions",
    "quiet_pydicom",
    "read_series",
]

_NATIVE = {
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
}
_REQUIRED = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PixelRepresentation")
_NO_PIXELS = {"SR", "ECG", "ANN", "RTPLAN", "RTSTRUCT", "PR", "KO", "DOC"}


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Turn pydicom's value validation, warnings and log lines off.

    They quote header values, which can be PHI. pydicom's settings are process-wide, so the
    quiet holds while any thread is inside (nested and concurrent uses are counted) and the
    previous settings come back when the last one leaves.
    """
    with _QUIET.enter(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class _Quiet:
    """Reference-counted switch of pydicom's process-wide validation and log level."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: tuple[Any, Any, int] | None = None

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        from pydicom import config

        settings, log = config.settings, logging.getLogger("pydicom")
        with self._lock:
            if self._depth == 0:
                self._saved = (
                    settings.reading_validation_mode,
                    settings.writing_validation_mode,
                    log.level,
                )
                settings.reading_validation_mode = config.IGNORE
                settings.writing_validation_mode = config.IGNORE
                log.setLevel(logging.CRITICAL)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._saved is not None:
                    reading, writing, level = self._saved
                    settings.reading_validation_mode = reading
                    settings.writing_validation_mode = writing
                    log.setLevel(level)


#: one switch per process, as pydicom's settings are one per process
_QUIET = _Quiet()


@dataclass(frozen=True)
class DicomInstance:
    """One file of a series: its real path (in memory only) and its derived name."""

    path: Path
    name: str
    frames: int
    position: float | None
    number: int
    #: rows, columns, samples per pixel
    size: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class DicomScene:
    """The series as one image: (t, c, z, y, x), dtype and how planes map to files/frames."""

    shape: tuple[int, int, int, int, int]
    dtype: str
    samples: int
    #: per (t, z): (instance index, frame index)
    planes: dict[tuple[int, int], tuple[int, int]]
    #: whole-slide tiles: frame -> (y, x) offset in the total pixel matrix
    tiles: dict[int, tuple[int, int]] | None
    tile_shape: tuple[int, int] | None


#: what every instance after the first is read for: layout, geometry, the pixel data check
LAYOUT_TAGS = (
    "SOPInstanceUID",
    "SOPClassUID",
    "Modality",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "PixelRepresentation",
    "NumberOfFrames",
    "ImagesInAcquisition",
    "FrameTime",
    "TotalPixelMatrixRows",
    "TotalPixelMatrixColumns",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
    "BurnedInAnnotation",
    "PixelData",
    "FloatPixelData",
)


@functools.cache
def _required_tags() -> tuple[tuple[str, Any], ...]:
    from pydicom.tag import Tag

    return tuple((keyword, Tag(keyword)) for keyword in _REQUIRED)


@functools.cache
def _layout_tags() -> list[Any]:
    """:data:`LAYOUT_TAGS` as tags (pydicom would look every keyword up on every read)."""
    from pydicom.tag import Tag

    return [Tag(keyword) for keyword in LAYOUT_TAGS]


#: preamble starts that make a DICOM file also an executable (PS3.10 polyglots, CVE-2019-11687)
EXECUTABLE_PREAMBLES = (b"MZ", b"\x7fELF", b"#!", b"\xfe\xed\xfa", b"\xcf\xfa\xed\xfe")


def _check_preamble(path: Path, name: str) -> None:
    with path.open("rb") as fh:
        head = fh.read(132)
    if head[128:132] == b"DICM" and head.startswith(EXECUTABLE_PREAMBLES):
        raise UnsafeInputError(
            "DICOM preamble holds an executable header (a PE/ELF/script polyglot)",
            where=name,
            hint="quarantined unread; ask the sender why the file is also a program",
        )


def _read_header(path: Path, name: str, *, whole: bool = True) -> Any:
    import pydicom

    _check_preamble(path, name)
    try:  # called under quiet_pydicom() (read_series)
        ds = pydicom.dcmread(
            path,
            defer_size=1024,
            force=True,
            specific_tags=None if whole else _layout_tags(),
        )
        # pydicom decodes values lazily: decode them all now, so a damaged value is a
        # refusal here and not a surprise in de-identification or extraction
        for elem in ds.iterall():
            _ = elem.value
        if whole:
            ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda _e: "")
    except Exception as exc:  # noqa: BLE001 - bad input; not chained (its text may quote PHI)
        raise CorruptInputError(
            f"DICOM header cannot be read ({type(exc).__name__})",
            where=name,
            hint="the file is truncated or not DICOM; re-send it from the modality",
        ) from None
    return ds


def _pixel_bytes_ok(ds: Any, frames: int, size: tuple[int, int, int], bits: int) -> str | None:
    """Why the declared pixel data length does not match the header, or None."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "") or "1.2.840.10008.1.2")
    if syntax not in _NATIVE:
        return None  # encapsulated: checked when decoded
    try:
        elem = ds.get_item(0x7FE00010)  # PixelData
    except KeyError:
        return "no PixelData"
    length = getattr(elem, "length", None)
    if length is None:
        value = getattr(elem, "value", None)
        length = len(value) if value is not None else None
    expected = math.ceil(math.prod(size) * bits * frames / 8)
    if length is not None and length not in (expected, expected + 1):  # odd lengths are padded
        return (
            f"PixelData holds {length} bytes; Rows x Columns x Samples x Bits/8 x Frames "
            f"= {expected}"
        )
    return None


def frame_positions(ds: Any) -> list[float] | None:
    """Each frame's position along the slice normal (Enhanced objects), or None."""
    frames = ds.get("PerFrameFunctionalGroupsSequence")
    if not frames:
        return None
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    out = []
    for item in frames:
        pos_seq = item.get("PlanePositionSequence")
        orient_seq = item.get("PlaneOrientationSequence") or (
            shared.get("PlaneOrientationSequence") if shared is not None else None
        )
        if not pos_seq or not orient_seq:
            return None
        orient = orient_seq[0].get("ImageOrientationPatient")
        pos = pos_seq[0].get("ImagePositionPatient")
        if orient is None or pos is None or len(orient) != 6 or len(pos) != 3:
            return None
        out.append(along_normal(orient, pos))
    return out


def along_normal(orientation: Any, position: Any) -> float:
    """Position along the slice normal (row x column direction cosines)."""
    r0, r1, r2, c0, c1, c2 = (float(v) for v in orientation)
    p0, p1, p2 = (float(v) for v in position)
    return (r1 * c2 - r2 * c1) * p0 + (r2 * c0 - r0 * c2) * p1 + (r0 * c1 - r1 * c0) * p2


def _decimals(ds: Any, tag: int) -> list[float] | None:
    """A DS (decimal string) value as floats, parsed from the raw bytes when still raw.

    Every instance of a series is read for its slice position: pydicom's DS objects cost more
    than the rest of the layout read, and a DS is plain ASCII numbers separated by backslashes.
    """
    elem = ds.get_item(tag) if tag in ds else None
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return [float(part) for part in value.decode("ascii").split("\\") if part.strip()]
    if value is None or value == "":
        return None
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return [float(value)]
    return [float(v) for v in value]


def _position(ds: Any) -> float | None:
    pos, orient = _decimals(ds, 0x00200032), _decimals(ds, 0x00200037)
    if pos is None or orient is None or len(pos) != 3 or len(orient) != 6:
        return None
    return along_normal(orient, pos)


def read_series(
    files: list[tuple[Path, str]], *, max_input_bytes: int
) -> tuple[list[Any], list[DicomInstance], DicomScene, list[str]]:
    """Headers (not de-identified yet), instances, the image layout and notes for findings.

    The first header is whole; the others hold only :data:`LAYOUT_TAGS`.

    Raises
    ------
    CorruptInputError
        A header is unreadable, a required attribute is missing or invalid, or the pixel
        data length disagrees with the header (the series is quarantined with this reason).
    UnsupportedFormatError
        The series holds no image (structured report, waveform, annotations...).
    """
    try:
        with quiet_pydicom():
            return _read_series(files, max_input_bytes)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise CorruptInputError(
            f"a DICOM header value is invalid ({type(exc).__name__})",
            where=files[0][1] if files else None,
            hint="the modality wrote a malformed header; re-send or repair the series",
        ) from None


def _read_series(
    files: list[tuple[Path, str]], max_input_bytes: int
) -> tuple[list[Any], list[DicomInstance], DicomScene, list[str]]:
    notes: list[str] = []
    headers: list[Any] = []
    instances: list[DicomInstance] = []
    seen: dict[str, str] = {}
    for path, name in files:
        # the first header is read whole (it is de-identified and travels with the image);
        # the others only for layout and checks: their other values never leave memory
        ds = _read_header(path, name, whole=not headers)
        sop = str(ds.get("SOPInstanceUID", ""))
        if sop and sop in seen:
            notes.append(f"{name} repeats the SOP instance of {seen[sop]}; ignored")
            continue
        seen[sop] = name
        if 0x7FE00010 not in ds and 0x7FE00008 not in ds:  # (Float)PixelData
            modality = str(ds.get("Modality", ""))
            raise UnsupportedFormatError(
                f"DICOM object without pixel data (modality {modality or 'unknown'})",
                where=name,
                hint="reports, waveforms and annotations are not images; keep them in PACS",
            )
        missing = [k for k, tag in _required_tags() if tag not in ds]
        if missing:
            raise CorruptInputError(
                f"required attribute(s) missing: {', '.join(missing)}", where=name
            )
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        size = (int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel))
        problem = _pixel_bytes_ok(ds, frames, size, int(ds.BitsAllocated))
        if problem:
            raise CorruptInputError(
                problem, where=name, hint="re-send the series from the modality"
            )
        number = int(ds.get("InstanceNumber", 0) or 0)
        headers.append(ds)
        instances.append(DicomInstance(path, name, frames, _position(ds), number, size))
    first = headers[0]
    if "TotalPixelMatrixRows" in first:
        scene = _slide_scene(headers, instances, notes)
    else:
        scene = _volume_scene(headers, instances, notes)
    nbytes = math.prod(scene.shape) * np.dtype(scene.dtype).itemsize
    if nbytes > max_input_bytes:
        raise InputTooLargeError(
            f"series declares {nbytes} bytes, above the cap of {max_input_bytes}",
            where=instances[0].name,
            hint="raise FAIRWAY_MAX_INPUT_BYTES if the series is genuine",
        )
    return headers, instances, scene, notes


def _dtype(ds: Any) -> str:
    bits = int(ds.BitsAllocated)
    if bits == 1:
        return "uint8"
    signed = int(ds.PixelRepresentation) == 1
    size = {8: 1, 16: 2, 32: 4}.get(bits, 2)
    return f"{'int' if signed else 'uint'}{8 * size}"


def _volume_scene(
    headers: list[Any], instances: list[DicomInstance], notes: list[str]
) -> DicomScene:
    first = headers[0]
    rows, cols, samples = instances[0].size
    for inst in instances:
        if inst.size != (rows, cols, samples):
            raise CorruptInputError(
                f"instances differ in size ({inst.size[0]}x{inst.size[1]} vs {rows}x{cols})",
                where=inst.name,
                hint="a series must hold images of one size",
            )
    order = list(range(len(instances)))
    if all(i.position is not None for i in instances):
        order.sort(key=lambda k: (instances[k].position, instances[k].number))
    else:
        order.sort(key=lambda k: instances[k].number)
    numbers = sorted(i.number for i in instances if i.number)
    if numbers and numbers[-1] - numbers[0] + 1 != len(numbers):
        notes.append(
            f"InstanceNumber runs {numbers[0]}..{numbers[-1]} but {len(numbers)} instances arrived"
        )
    cine = str(first.get("Modality", "")) == "US" or "FrameTime" in first
    planes: dict[tuple[int, int], tuple[int, int]] = {}
    if len(instances) == 1 and instances[0].frames > 1:
        positions = None if cine else frame_positions(first)
        frames = list(range(instances[0].frames))
        if positions is not None and len(positions) == len(frames):
            frames.sort(key=lambda f: positions[f])  # Enhanced CT/MR: along the slice normal
        for i, f in enumerate(frames):
            planes[(i, 0) if cine else (0, i)] = (0, f)
        nt, nz = (instances[0].frames, 1) if cine else (1, instances[0].frames)
    else:
        z = 0
        for k in order:
            for f in range(instances[k].frames):
                planes[(0, z)] = (k, f)
                z += 1
        nt, nz = 1, z
    expected = first.get("ImagesInAcquisition")
    if expected and int(expected) != nz and len(instances) > 1:
        notes.append(f"ImagesInAcquisition says {expected}, the series holds {nz} images")
    return DicomScene((nt, samples, nz, rows, cols), _dtype(first), samples, planes, None, None)


def _slide_scene(
    headers: list[Any], instances: list[DicomInstance], notes: list[str]
) -> DicomScene:
    sizes = [int(ds.TotalPixelMatrixRows) * int(ds.TotalPixelMatrixColumns) for ds in headers]
    k = int(np.argmax(sizes))
    if len(headers) > 1:
        notes.append(f"whole-slide series: the largest of {len(headers)} levels was converted")
    ds = headers[k]
    rows, cols = int(ds.Rows), int(ds.Columns)
    total_r, total_c = int(ds.TotalPixelMatrixRows), int(ds.TotalPixelMatrixColumns)
    samples = int(ds.SamplesPerPixel)
    across = math.ceil(total_c / cols)
    per_plane = across * math.ceil(total_r / rows)
    frames = instances[k].frames
    planes_z = max(1, frames // per_plane)
    tiles = {}
    planes = {}
    for f in range(frames):
        z, tile = divmod(f, per_plane)
        if z >= planes_z:
            break
        ty, tx = divmod(tile, across)
        tiles[f] = (ty * rows, tx * cols)
        planes[(0, z)] = (k, -1)
    return DicomScene(
        (1, samples, planes_z, total_r, total_c), _dtype(ds), samples, planes, tiles, (rows, cols)
    )


class DicomReader:
    """Region reads of a DICOM series (see module docs); picklable."""

    def __init__(
        self, instances: list[DicomInstance], scene: DicomScene, memory_limit: int
    ) -> None:
        self.instances = instances
        self.scene = scene
        self.memory_limit = memory_limit
        self._cache: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def scenes(self) -> list[DicomScene]:
        """The series is one image."""
        return [self.scene]

    def __getstate__(self) -> dict[str, Any]:
        return {"instances": self.instances, "scene": self.scene, "memory_limit": self.memory_limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["instances"], state["scene"], state["memory_limit"])  # type: ignore[misc]

    def _pixels(self, k: int) -> np.ndarray:
        """All frames of instance ``k`` as (frames, rows, cols, samples)."""
        with self._lock:
            if k not in self._cache:
                import pydicom

                inst = self.instances[k]
                ds: Any = None
                try:
                    with quiet_pydicom():
                        ds = pydicom.dcmread(inst.path, force=True)
                        decoded = int(ds.Rows) * int(ds.Columns) * self.scene.samples * 8
                        if decoded * inst.frames > self.memory_limit:
                            raise UnsupportedFormatError(
                                "instance too large to decode within the memory limit",
                                where=inst.name,
                                hint="raise FAIRWAY_MEMORY_LIMIT_BYTES",
                            )
                        arr = np.asarray(ds.pixel_array)
                except FairwayError:
                    raise
                except Exception as exc:  # noqa: BLE001 - bad input; not chained (may quote PHI)
                    # the decoder's own text is not repeated: it is not ours to vouch for
                    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
                    name = getattr(syntax, "name", None) or "unknown transfer syntax"
                    raise CorruptInputError(
                        f"pixel data cannot be decoded ({type(exc).__name__}; {name})",
                        where=inst.name,
                        hint="install the decoder for its transfer syntax or re-send the series",
                    ) from None
                samples = self.scene.samples
                arr = arr.reshape(inst.frames, int(ds.Rows), int(ds.Columns), samples)
                self._cache.clear()  # one instance at a time: memory stays bounded
                self._cache[k] = arr.astype(self.scene.dtype, copy=False)
            return self._cache[k]

    def read(self, scene: int, t: int, c: int, z: int, ys: slice, xs: slice) -> np.ndarray:
        """Pixels of plane (t, c, z) in the region ``ys`` x ``xs``."""
        k, frame = self.scene.planes[(t, z)]
        pixels = self._pixels(k)
        if self.scene.tiles is None:
            return np.ascontiguousarray(pixels[frame, ys, xs, c])
        y0, y1 = ys.start or 0, ys.stop
        x0, x1 = xs.start or 0, xs.stop
        out = np.zeros((y1 - y0, x1 - x0), dtype=self.scene.dtype)
        th, tw = self.scene.tile_shape or (0, 0)
        per_plane = len(self.scene.tiles) // max(self.scene.shape[2], 1)
        for f, (ty, tx) in self.scene.tiles.items():
            if f // max(per_plane, 1) != z:
                continue
            a0, a1 = max(ty, y0), min(ty + th, y1)
            b0, b1 = max(tx, x0), min(tx + tw, x1)
            if a0 < a1 and b0 < b1:
                out[a0 - y0 : a1 - y0, b0 - x0 : b1 - x0] = pixels[
                    f, a0 - ty : a1 - ty, b0 - tx : b1 - tx, c
                ]
        return out

    def close(self) -> None:
        """Drop decoded pixels."""
        self._cache.clear()
