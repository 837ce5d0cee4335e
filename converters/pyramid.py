"""Resolution pyramids: 2x averaging in Y and X until the smallest level fits one chunk."""

from __future__ import annotations

import dask.array as da
import numpy as np

__all__ = ["MIN_PYRAMID_YX", "downsample_2x", "level_count", "shrink_2x"]

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


def shrink_2x(block: np.ndarray) -> np.ndarray:
    """Average 2x2 pixel blocks of the last two axes (an odd last row/column is dropped).

    Integers are summed in a wider integer type and rounded half up, keeping their dtype
    (ten times faster than a floating-point mean); floats average in their own precision;
    booleans (masks) take the majority (ties count as set).
    """
    h, w = block.shape[-2] // 2, block.shape[-1] // 2
    b = block[..., : 2 * h, : 2 * w]
    quads = (b[..., 0::2, 0::2], b[..., 1::2, 0::2], b[..., 0::2, 1::2], b[..., 1::2, 1::2])
    if block.dtype == np.bool_:
        total = quads[0].astype(np.uint8) + quads[1] + quads[2] + quads[3]
        return total >= 2
    if np.issubdtype(block.dtype, np.integer):
        wide = np.int64 if block.dtype.itemsize >= 4 else np.int32
        total = quads[0].astype(wide) + quads[1] + quads[2] + quads[3]
        return ((total + 2) // 4).astype(block.dtype)
    work = np.float32 if block.dtype.itemsize <= 4 else block.dtype
    total = quads[0].astype(work) + quads[1] + quads[2] + quads[3]
    return (total * 0.25).astype(block.dtype)


def downsample_2x(arr: da.Array) -> da.Array:
    """:func:`shrink_2x` over a dask array whose Y/X chunks are even (but maybe the last)."""
    cy, cx = arr.chunksize[-2:]
    even = arr.rechunk((*arr.chunks[:-2], max(2, cy - cy % 2), max(2, cx - cx % 2)))
    out_chunks = even.chunks[:-2] + tuple(
        tuple(n // 2 for n in axis_chunks if n // 2) for axis_chunks in even.chunks[-2:]
    )
    trimmed = even[..., : 2 * (arr.shape[-2] // 2), : 2 * (arr.shape[-1] // 2)]
    return trimmed.map_blocks(shrink_2x, chunks=out_chunks, dtype=arr.dtype)
