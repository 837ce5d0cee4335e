"""Resolution pyramids: 2x in Y and X until the smallest level fits one chunk; 2x in Z too.

Z halves where the voxels are fine enough in Z to stay near isotropic. Intensity images
average (mean); label images keep a label that is present (the mode of each 2x2 block, ties
to the first; in Z the first plane of a pair), so no label value is ever invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np

__all__ = [
    "MIN_PYRAMID_YX",
    "Level",
    "downsample_2x",
    "level_count",
    "plan_levels",
    "shrink_2x",
    "shrink_z2",
    "z_chunk",
]

#: images at least this large in Y and X always get one 2x level, even if they fit a chunk
MIN_PYRAMID_YX = 64


def level_count(shape_yx: tuple[int, int], chunk_yx: int) -> int:
    """Number of levels, counting the full resolution.

    Levels halve Y and X until the smallest fits in one chunk; an image of at least
    ``MIN_PYRAMID_YX`` pixels in both gets at least one downsampled level, so that every
    dataset has a real pyramid for viewers.
    """
    y, x = shape_yx
    levels = 1
    while max(y, x) > chunk_yx and min(y, x) >= 2:
        y, x = y // 2, x // 2
        levels += 1
    if levels == 1 and min(shape_yx) >= MIN_PYRAMID_YX:
        levels = 2
    return levels


@dataclass(frozen=True)
class Level:
    """One pyramid level: its (z, y, x) size and its (z, y, x) factor from level 0."""

    shape_zyx: tuple[int, int, int]
    factor_zyx: tuple[int, int, int]


def plan_levels(
    shape_zyx: tuple[int, int, int],
    chunk_yx: int,
    voxel_zyx: tuple[float | None, float | None, float | None] = (None, None, None),
) -> list[Level]:
    """The levels of a pyramid, level 0 first.

    Y and X halve at every level (:func:`level_count` levels). Z halves too at a level when
    the Z step after halving would still be no coarser than the new Y step, which keeps
    near-isotropic data near-isotropic and leaves anisotropic stacks (Z step >> XY) alone
    until XY has caught up. Without known Z and Y steps, Z is never halved.
    """
    nz, ny, nx = shape_zyx
    vz, vy, _ = voxel_zyx
    levels = [Level((nz, ny, nx), (1, 1, 1))]
    fz = 1
    for k in range(1, level_count((ny, nx), chunk_yx)):
        fy = 2**k
        z = levels[-1].shape_zyx[0]
        if vz and vy and z >= 2 and vz * fz * 2 <= vy * fy * (1 + 1e-6):
            fz *= 2
        levels.append(Level((nz // fz, ny // fy, nx // fy), (fz, fy, fy)))
    return levels


def z_chunk(plane_pixels: int, chunk_yx: int) -> int:
    """Planes per chunk in Z: 1, unless planes are small (XZ scans, thumbnails).

    Small planes are stacked in Z up to about one ``chunk_yx`` x ``chunk_yx`` chunk (a power
    of two), so that an image of 1 x 512 planes is not written as thousands of tiny chunks.
    """
    planes = max(1, chunk_yx * chunk_yx // max(plane_pixels, 1))
    return 1 << (planes.bit_length() - 1)


def shrink_2x(block: np.ndarray, *, labels: bool = False) -> np.ndarray:
    """Average 2x2 pixel blocks of the last two axes (an odd last row/column is dropped).

    Integers are summed in a wider integer type and rounded half up, keeping their dtype
    (ten times faster than a floating-point mean); floats average in their own precision;
    booleans (masks) take the majority (ties count as set).
    """
    h, w = block.shape[-2] // 2, block.shape[-1] // 2
    b = block[..., : 2 * h, : 2 * w]
    quads = (b[..., 0::2, 0::2], b[..., 1::2, 0::2], b[..., 0::2, 1::2], b[..., 1::2, 1::2])
    if labels:
        return _mode(quads)
    return _mean(quads)


def shrink_z2(a: np.ndarray, b: np.ndarray, *, labels: bool = False) -> np.ndarray:
    """Combine two neighbouring Z planes (mean for intensities, the first for labels)."""
    if labels:
        return a.copy()
    return _mean((a, b))


def _mode(parts: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per pixel, the value that occurs most often among ``parts`` (ties: the earliest)."""
    best = parts[0].copy()
    best_count = np.zeros(best.shape, dtype=np.uint8)
    for candidate in parts:
        count = sum((p == candidate).astype(np.uint8) for p in parts)
        better = count > best_count
        best[better] = candidate[better]
        best_count[better] = count[better]
    return best


def _mean(parts: tuple[np.ndarray, ...]) -> np.ndarray:
    """Mean of ``parts``, rounded half up for integers and kept in their dtype."""
    n = len(parts)
    block = parts[0]
    quads = parts
    if block.dtype == np.bool_:
        total = sum((q.astype(np.uint8) for q in quads[1:]), quads[0].astype(np.uint8))
        return total * 2 >= n
    if np.issubdtype(block.dtype, np.integer):
        wide = np.int64 if block.dtype.itemsize >= 4 else np.int32
        total = sum(quads[1:], quads[0].astype(wide))
        return ((total + n // 2) // n).astype(block.dtype)
    work = np.float32 if block.dtype.itemsize <= 4 else block.dtype
    total = sum(quads[1:], quads[0].astype(work))
    return (total * (1.0 / n)).astype(block.dtype)


def _shrink_block(block: np.ndarray, z: bool, labels: bool) -> np.ndarray:
    out = shrink_2x(block, labels=labels)
    if z:
        out = shrink_z2(out[..., 0::2, :, :], out[..., 1::2, :, :], labels=labels)
    return out


def downsample_2x(arr: da.Array, *, z: bool = False, labels: bool = False) -> da.Array:
    """:func:`shrink_2x` (and :func:`shrink_z2` with ``z``) over a (..., z, y, x) dask array.

    Blocks are made even in the halved axes first; an odd last row, column or plane is
    dropped, as in :func:`shrink_2x`.
    """
    axes = 3 if z else 2
    sizes = arr.chunksize[-axes:]
    even = arr.rechunk((*arr.chunks[:-axes], *(max(2, n - n % 2) for n in sizes)))
    trimmed = even[(..., *(slice(0, 2 * (n // 2)) for n in arr.shape[-axes:]))]
    out_chunks = trimmed.chunks[:-axes] + tuple(
        tuple(n // 2 for n in axis_chunks if n // 2) for axis_chunks in trimmed.chunks[-axes:]
    )
    return trimmed.map_blocks(_shrink_block, z, labels, chunks=out_chunks, dtype=arr.dtype)
