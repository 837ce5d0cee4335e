"""Leica LIF through liffile when bioio-lif cannot read a file.

bioio-lif fails on LAS X files whose frames are not Y/X planes (XZ and XZT scans) and on
lambda sweeps; liffile, the library under it, reads them all. fairway maps liffile's
dimensions to (t, c, z, y, x): ``T`` to t; ``C``, ``λ`` (emission sweep), ``Λ`` (excitation
sweep) and RGB samples together to c; ``Z`` to z; a missing ``Y`` (an XZ scan) becomes y = 1.
Pixels are memory-mapped (LIF stores them uncompressed), so a region read touches only its
bytes. A :class:`LifReader` holds plain data and reopens the file where it is used, so it can
be pickled to ``dask.distributed`` workers.
"""

from __future__ import annotations

import gc
import math
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.bioio_open import refuse_xml_declarations
from core.errors import CorruptInputError, FairwayError, InputTooLargeError, UnsupportedFormatError
from core.units import convert

__all__ = ["CHANNEL_DIMS", "LifReader", "LifScene", "bioio_failure", "open_lif"]

#: liffile dimensions that fairway folds into OME channels, in this order
CHANNEL_DIMS = ("C", "λ", "Λ", "S")
_MAPPED = frozenset({"T", "Z", "Y", "X", *CHANNEL_DIMS})


@dataclass(frozen=True)
class LifScene:
    """One LIF image: its liffile dimensions and sizes, and the (t, c, z, y, x) it maps to."""

    index: int
    name: str
    dims: tuple[str, ...]
    sizes: tuple[int, ...]
    dtype: str
    shape: tuple[int, int, int, int, int]
    #: step per pixel: X, Y, Z in micrometres, T in seconds (absent when not recorded)
    steps: dict[str, float]
    #: LUT name of each LIF channel (its display colour)
    luts: tuple[str, ...]
    #: wavelengths of a sweep in nanometres, per sweep dimension (λ emission, Λ excitation)
    sweeps: dict[str, tuple[float, ...]]

    @property
    def channel_dims(self) -> tuple[tuple[str, int], ...]:
        """The dimensions folded into c, with their sizes, outermost first."""
        return tuple(
            (d, n) for d, n in zip(self.dims, self.sizes, strict=True) if d in CHANNEL_DIMS
        )


def _scene(index: int, image: Any, path: Path) -> LifScene:
    sizes = dict(image.sizes)
    for dim, n in sizes.items():
        if dim not in _MAPPED and n > 1:
            raise UnsupportedFormatError(
                f"LIF image {index} ('{image.name}') has dimension '{dim}' of size {n}; "
                "fairway maps T, C, lambda sweeps, Z, Y and X",
                where=path,
                hint="export the image from LAS X as OME-TIFF",
            )
    nc = math.prod(n for d, n in sizes.items() if d in CHANNEL_DIMS)
    coords = dict(image.coords)
    steps: dict[str, float] = {}
    # liffile's coordinates are in metres and seconds; fairway's steps in µm and s
    for dim, unit in (("X", "µm"), ("Y", "µm"), ("Z", "µm"), ("T", "s")):
        values = np.asarray(coords.get(dim, ()), dtype=float)
        if values.size > 1:
            step = abs(float(values[-1] - values[0])) / (values.size - 1)
            if step > 0:
                steps[dim] = convert(step, "s" if dim == "T" else "m", unit)
    sweeps = {
        dim: tuple(
            round(convert(float(v), "m", "nm"), 3) for v in np.asarray(coords[dim], dtype=float)
        )
        for dim in ("λ", "Λ")
        if dim in coords
    }
    element = getattr(image, "xml_element", None)
    luts = tuple(
        str(ch.get("LUTName") or "")
        for ch in (element.iter("ChannelDescription") if element is not None else ())
    )
    shape = (sizes.get("T", 1), nc, sizes.get("Z", 1), sizes.get("Y", 1), sizes.get("X", 1))
    return LifScene(
        index=index,
        name=str(image.name),
        dims=tuple(sizes),
        sizes=tuple(sizes.values()),
        dtype=str(np.dtype(image.dtype)),
        shape=shape,
        steps=steps,
        luts=luts,
        sweeps=sweeps,
    )


class LifReader:
    """Region reads of the images of one LIF file; picklable."""

    def __init__(self, path: Path, scenes: list[LifScene], memory_limit: int) -> None:
        self.path = path
        self.scenes = scenes
        self.memory_limit = memory_limit
        self._lif: Any = None
        self._arrays: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "scenes": self.scenes, "memory_limit": self.memory_limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["scenes"], state["memory_limit"])  # type: ignore[misc]

    def _array(self, scene: int) -> np.ndarray:
        with self._lock:
            if scene not in self._arrays:
                import liffile

                if self._lif is None:
                    self._lif = liffile.LifFile(self.path)
                image = self._lif.images[scene]
                try:
                    arr = image.asarray(out="memmap")
                except (ValueError, TypeError, OSError):
                    # not mappable in place (BGR samples): read it whole, within the limit
                    if image.nbytes > self.memory_limit:
                        raise UnsupportedFormatError(
                            f"LIF image {scene} cannot be memory-mapped and holds "
                            f"{image.nbytes} bytes, above the memory limit",
                            where=self.path,
                            hint="raise FAIRWAY_MEMORY_LIMIT_BYTES",
                        ) from None
                    arr = image.asarray()
                self._arrays[scene] = arr
            return self._arrays[scene]

    def read(self, scene: int, t: int, c: int, z: int, ys: slice, xs: slice) -> np.ndarray:
        """Pixels of plane (t, c, z) of ``scene`` in the region ``ys`` x ``xs`` (y, x)."""
        info = self.scenes[scene]
        folded = info.channel_dims
        parts = dict(
            zip(
                (d for d, _ in folded),
                np.unravel_index(c, tuple(n for _, n in folded)) if folded else (),
                strict=True,
            )
        )
        index: list[Any] = []
        for dim in info.dims:
            if dim == "T":
                index.append(t)
            elif dim == "Z":
                index.append(z)
            elif dim == "Y":
                index.append(ys)
            elif dim == "X":
                index.append(xs)
            elif dim in parts:
                index.append(int(parts[dim]))
            else:
                index.append(0)
        try:
            region = np.asarray(self._array(scene)[tuple(index)])
        except FairwayError:
            raise
        except Exception as exc:
            raise CorruptInputError(
                f"LIF image {scene} cannot be read ({type(exc).__name__}: {exc})",
                where=self.path,
                hint="the file may be truncated; re-transfer it",
            ) from exc
        if "Y" not in info.dims:
            region = region[np.newaxis, :]
        elif info.dims.index("X") < info.dims.index("Y"):
            region = region.T
        return region

    def __enter__(self) -> LifReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if this process opened it."""
        self._arrays.clear()
        if self._lif is not None:
            self._lif.close()
            self._lif = None


def open_lif(path: Path, *, max_input_bytes: int, memory_limit: int) -> tuple[LifReader, str]:
    """Index the images of ``path``; return the reader and the LIF XML header.

    Raises
    ------
    CorruptInputError, InputTooLargeError, UnsupportedFormatError, UnsafeInputError
        The file cannot be parsed, declares too much, uses unmapped dimensions, or declares
        XML entities.
    """
    import liffile

    refuse_xml_declarations(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with liffile.LifFile(path) as lif:
                images = list(lif.images)
                scenes = [_scene(i, im, path) for i, im in enumerate(images)]
                header = str(lif.xml_header)
    except FairwayError:
        raise
    except Exception as exc:
        raise CorruptInputError(
            f"cannot be read by liffile ({type(exc).__name__}: {exc})",
            where=path,
            hint="check that the transfer finished and the file is not truncated",
        ) from exc
    if not scenes:
        raise CorruptInputError("LIF file holds no images", where=path)
    for s in scenes:
        nbytes = math.prod(s.shape) * np.dtype(s.dtype).itemsize
        if nbytes > max_input_bytes:
            raise InputTooLargeError(
                f"image {s.index} declares {nbytes} bytes, above the cap of {max_input_bytes}",
                where=path,
                hint="raise FAIRWAY_MAX_INPUT_BYTES if the file is genuine",
            )
    return LifReader(path, scenes, memory_limit), header


def bioio_failure(img: Any) -> str | None:
    """Why bioio's plugin cannot deliver the first plane of every scene, or ``None``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(len(img.scenes)):
                img.set_scene(i)
                np.asarray(img.get_image_data("YX", T=0, C=0, Z=0))
            img.set_scene(0)
    except Exception as exc:  # noqa: BLE001 - any plugin failure means: use liffile
        return f"{type(exc).__name__}: {exc}"
    return None


def lif_fallback(
    path: Path, *, max_input_bytes: int, memory_limit: int
) -> tuple[LifReader, str, str] | None:
    """Whether ``path`` must be read with liffile, because bioio-lif cannot read it faithfully.

    Returns ``None`` when bioio-lif opens the file, decodes the first plane of every scene and
    agrees with liffile on every scene's shape; otherwise liffile's reader, the LIF XML header
    and the reason bioio-lif was not used.

    Raises
    ------
    FairwayError
        Neither bioio-lif nor liffile can read the file (liffile's error).
    """
    from core.bioio_open import open_bioio

    reason: str | None
    img: Any = None
    try:
        img = open_bioio(path, max_input_bytes=max_input_bytes)
        reason = bioio_failure(img)
    except (CorruptInputError, UnsupportedFormatError) as exc:
        reason = str(exc)
    try:
        return _compare(path, img, reason, max_input_bytes, memory_limit)
    finally:
        img = None
        _collect_plugin_handles()


def _collect_plugin_handles() -> None:
    """Collect, here and quietly, the file handle bioio-lif leaves in a reference cycle.

    After a failed read, bioio-lif's objects keep the LIF file open until the garbage
    collector breaks their cycle, at some unrelated later moment (seen in the test suite as
    an unclosed-file warning). BioImage has no ``close``; collecting right after it is
    dropped releases the handle deterministically.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _compare(
    path: Path, img: Any, reason: str | None, max_input_bytes: int, memory_limit: int
) -> tuple[LifReader, str, str] | None:
    try:
        reader, header = open_lif(path, max_input_bytes=max_input_bytes, memory_limit=memory_limit)
    except FairwayError:
        if reason is None:
            return None
        raise
    if reason is None:
        for i, scene in enumerate(reader.scenes):
            img.set_scene(i)
            d = img.dims
            samples = d.S if "S" in d.order else 1
            plugin = (d.T, d.C * samples, d.Z, d.Y, d.X)
            if plugin != scene.shape:
                reason = (
                    f"bioio-lif delivers scene {i} as {plugin} (t, c, z, y, x) but the file "
                    f"holds {scene.shape}"
                )
                break
        img.set_scene(0)
    if reason is None:
        return None
    return reader, header, reason
