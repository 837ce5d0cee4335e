"""Resolution pyramids: 2x averaging in Y and X until the smallest level fits one chunk."""

from __future__ import annotations

import dask.array as da
import numpy as np

__all__ = ["MIN_PYRAMID_YX", "downsample_2x", "level_count"]


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


def downsample_2x(arr: da.Array) -> da.Array:
    """Average 2x2 blocks of the last two axes (odd edges trimmed), keeping the dtype."""
    dtype = arr.dtype
    cy, cx = arr.chunksize[-2:]
    even = arr.rechunk((*arr.chunks[:-2], max(2, cy - cy % 2), max(2, cx - cx % 2)))
    if dtype == np.bool_:
        mean = da.coarsen(
            np.mean, even.astype(np.float32), {arr.ndim - 2: 2, arr.ndim - 1: 2}, trim_excess=True
        )
        return mean >= 0.5
    mean = da.coarsen(
        np.mean, even.astype(np.float64), {arr.ndim - 2: 2, arr.ndim - 1: 2}, trim_excess=True
    )
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        mean = da.clip(da.round(mean), info.min, info.max)
    return mean.astype(dtype)
