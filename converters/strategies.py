"""How the pixels of one image reach its pyramid arrays, in one pass over the source.

Two strategies, chosen by whether a plane fits in memory:

* **plane groups** — one task per (t, c) and group of Z planes: the task reads its planes
  once and writes them and every pyramid level from memory. A group holds the planes of one
  Z chunk times the planes the deepest level combines in Z (1 for large planes never halved
  in Z), so every chunk of every level is written by one task.
* **tiles** — planes too large for memory: level 0 is written block by block (one task per
  shard), then each level is computed from the level before it.

Either way every zarr shard has exactly one writer. The tasks run on threads in this process,
or on a ``dask.distributed`` cluster when a scheduler address is configured (the readers and
zarr arrays the tasks hold are picklable; the output folder must be shared with the workers).
Minimum and maximum per channel are gathered while writing, for the ``omero`` windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import zarr
from dask.base import compute
from dask.callbacks import Callback
from dask.delayed import Delayed, delayed
from dask.threaded import ContextAwareThreadPoolExecutor

from converters.pyramid import Level, downsample_2x, shrink_2x, shrink_z2
from core.failpoints import failpoint
from core.progress import Progress, ProgressCallback

__all__ = ["Runner", "group_workers", "write_plane_groups", "write_tiles"]


class _DaskProgress(Callback):
    def __init__(self, progress: ProgressCallback, label: str) -> None:
        super().__init__()
        self._progress = progress
        self._label = label
        self._done = 0
        self._total: int | None = None

    def _start_state(self, dsk: Any, state: Any) -> None:
        self._total = sum(len(state[k]) for k in ("ready", "waiting", "running"))

    def _posttask(self, *_: Any) -> None:
        self._done += 1
        if self._total and (self._done % 16 == 0 or self._done == self._total):
            self._progress(Progress(self._label, self._done, self._total))


@dataclass(frozen=True)
class Runner:
    """Where tasks run: ``workers`` threads here, or the cluster at ``scheduler_address``."""

    workers: int = 2
    scheduler_address: str | None = None

    def run(
        self, tasks: Sequence[Delayed], label: str, progress: ProgressCallback, workers: int
    ) -> tuple[Any, ...]:
        """Compute ``tasks`` (at most ``workers`` at once locally); report each completion."""
        if self.scheduler_address is None:
            # a pool of this call's own: when one task fails (a full disk) or the acquisition
            # is stopped, the tasks still running finish before the error leaves this call, so
            # none writes into a staging folder already cleaned up (dask's shared pools do not
            # wait for them)
            pool = ContextAwareThreadPoolExecutor(workers)
            try:
                with _DaskProgress(progress, label):
                    return tuple(compute(*tasks, scheduler="threads", pool=pool))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        from distributed import Client, as_completed

        with Client(self.scheduler_address, set_as_default=False) as client:
            futures = client.compute(list(tasks))
            total = len(futures)
            for done, _ in enumerate(as_completed(futures, loop=client.loop), start=1):
                if done % 16 == 0 or done == total:
                    progress(Progress(label, done, total))
            return tuple(client.gather(futures))


def _extrema(plane: np.ndarray) -> tuple[float, float]:
    finite = plane if plane.dtype.kind in "biu" else plane[np.isfinite(plane)]
    if not finite.size:
        return float("nan"), float("nan")
    return float(finite.min()), float(finite.max())


def _write_group(
    block: np.ndarray,
    index: tuple[int, int, int],
    arrays: list[zarr.Array[Any]],
    levels: list[Level],
    labels: bool,
) -> tuple[float, float]:
    """Write planes z0.. of (t, c) into every level; return their minimum and maximum."""
    t, c, z0 = index
    stack = list(block.reshape(-1, *block.shape[-2:]))
    extrema = [_extrema(p) for p in stack]
    fz = 1
    for level, arr in zip(levels, arrays, strict=True):
        if level.factor_zyx[1] > 1:
            stack = [shrink_2x(p, labels=labels) for p in stack]
        while fz < level.factor_zyx[0]:
            stack = [
                shrink_z2(stack[i], stack[i + 1], labels=labels)
                for i in range(0, len(stack) - 1, 2)
            ]
            fz *= 2
        if stack:  # whole Z chunks at once: a chunk is encoded once, not once per plane
            failpoint("convert")
            arr[t, c, z0 // fz : z0 // fz + len(stack)] = np.stack(stack)
    return min(e[0] for e in extrema), max(e[1] for e in extrema)


def _per_channel(
    results: Sequence[tuple[float, float]], channels: Sequence[int], nc: int
) -> tuple[np.ndarray, np.ndarray]:
    mins = np.full(nc, np.inf)
    maxs = np.full(nc, -np.inf)
    for c, (lo, hi) in zip(channels, results, strict=True):
        mins[c] = np.fmin(mins[c], lo)
        maxs[c] = np.fmax(maxs[c], hi)
    return mins, maxs


def group_workers(workers: int, memory_limit: int, group_bytes: int) -> int:
    """Tasks at once that fit the memory limit; never fewer than one.

    Each task holds its planes, their levels and compressed copies: 4x the group's bytes.
    """
    return max(1, min(workers, memory_limit // max(4 * group_bytes, 1)))


def write_plane_groups(
    data: da.Array,
    arrays: list[zarr.Array[Any]],
    levels: list[Level],
    *,
    labels: bool,
    runner: Runner,
    memory_limit: int,
    label: str,
    progress: ProgressCallback,
) -> tuple[np.ndarray, np.ndarray]:
    """Plane-group strategy (see module docs); ``data`` holds whole planes."""
    nt, nc, nz, ny, nx = data.shape
    # a task writes whole Z chunks of every level: planes per chunk x the deepest Z factor
    group = arrays[0].chunks[2] * levels[-1].factor_zyx[0]
    workers = group_workers(runner.workers, memory_limit, ny * nx * data.dtype.itemsize * group)
    blocks = data.rechunk((1, 1, group, ny, nx)).to_delayed()
    tasks, channels = [], []
    for t in range(nt):
        for c in range(nc):
            for zi, z0 in enumerate(range(0, nz, group)):
                block = blocks[t, c, zi, 0, 0]
                tasks.append(delayed(_write_group)(block, (t, c, z0), arrays, levels, labels))
                channels.append(c)
    results = runner.run(tasks, label, progress, workers)
    return _per_channel(results, channels, nc)


def write_tiles(
    data: da.Array,
    arrays: list[zarr.Array[Any]],
    levels: list[Level],
    *,
    labels: bool,
    runner: Runner,
    label: str,
    progress: ProgressCallback,
) -> tuple[np.ndarray, np.ndarray]:
    """Tile strategy (see module docs); ``data`` is chunked one block per level-0 shard."""
    store0 = da.store(data, arrays[0], lock=False, compute=False)  # type: ignore[arg-type]
    _, mins, maxs = runner.run(
        [store0, data.min(axis=(0, 2, 3, 4)), data.max(axis=(0, 2, 3, 4))],
        f"{label} level 0",
        progress,
        runner.workers,
    )
    for k in range(1, len(levels)):
        # one dask block per zarr shard: two blocks sharing a shard would race on its write
        target = arrays[k]
        halve_z = levels[k].factor_zyx[0] > levels[k - 1].factor_zyx[0]
        smaller = downsample_2x(da.from_zarr(arrays[k - 1]), z=halve_z, labels=labels)
        store = da.store(
            smaller.rechunk(target.shards or target.chunks),
            target,  # type: ignore[arg-type]
            lock=False,
            compute=False,
        )
        runner.run([store], f"{label} level {k}", progress, runner.workers)
    return np.asarray(mins, dtype=float), np.asarray(maxs, dtype=float)
