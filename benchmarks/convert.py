"""Convert the same generated input with fairway and its peers, side by side.

Run: ``pip install -c requirements.lock -e ".[bench]"`` once, then
``python benchmarks/convert.py [--c 2 --z 128 --yx 2048]``. Each converter runs in its own
process on the same input; it prints wall time, MiB/s of input and peak RSS, and the speed-up
over the best peer. All write NGFF 0.5 (zarr v3), the same pyramid depth, Blosc-zstd level 5
with shuffle and the same chunk size. Still missing: the measured compression and disk bound,
and the 8 GiB case.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr

from converters import write_ome_zarr
from converters.pyramid import level_count
from core.settings import load_settings
from core.tiffio import open_tiff
from ingest.samples import blobs
from metadata.tiff import describe_tiff


def _available(name: str) -> bool:
    import importlib.util

    module = {
        "ome-zarr-py": "ome_zarr",
        "ngff-zarr": "ngff_zarr",
        "bioio-ome-zarr": "bioio_ome_zarr",
    }[name]
    return importlib.util.find_spec(module) is not None


@dataclass
class Run:
    """One converter's figures."""

    seconds: float
    rss_mib: float
    cpu_seconds: float
    output_bytes: int


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _measure(fn: Callable[[Path], None], out: Path) -> Run:
    """Run ``fn(out)`` in a child process and measure it."""
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=fn, args=(out,))
    t0 = time.perf_counter()
    proc.start()
    assert proc.pid is not None
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{out.name}: converter failed with status {status}")
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, _tree_bytes(out))


def compression_bound(src: Path, chunk: int, workers: int) -> float:
    """MiB/s at which Blosc-zstd 5 + shuffle compresses the input's chunks on all cores."""
    from concurrent.futures import ThreadPoolExecutor

    from numcodecs import Blosc

    codec = Blosc(cname="zstd", clevel=5, shuffle=Blosc.SHUFFLE)
    data = tifffile.imread(src)
    planes = data.reshape(-1, *data.shape[-2:])
    tiles = [
        np.ascontiguousarray(p[y : y + chunk, x : x + chunk])
        for p in planes
        for y in range(0, p.shape[0], chunk)
        for x in range(0, p.shape[1], chunk)
    ]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(codec.encode, tiles))
    return data.nbytes / 1024**2 / (time.perf_counter() - t0)


def disk_bound(work: Path, nbytes: int) -> float:
    """MiB/s of writing ``nbytes`` to ``work`` with fsync (the output's size, 4 MiB blocks)."""
    block = np.random.default_rng(0).integers(0, 255, 4 * 1024**2, dtype=np.uint8).tobytes()
    path = work / "disk-bound.bin"
    t0 = time.perf_counter()
    with path.open("wb") as fh:
        for _ in range(max(1, nbytes // len(block))):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - t0
    path.unlink()
    return max(1, nbytes // len(block)) * 4 / seconds


def make_input(path: Path, c: int, z: int, yx: int, slab: int = 32) -> None:
    """Write the input slab by slab (Z x C x YX uint16), never holding it whole in memory."""

    def pages() -> Any:
        for z0 in range(0, z, slab):
            n = min(slab, z - z0)
            data = np.stack(
                [
                    blobs((n, yx, yx), n=60 * n // 128 + 8, sigma=12.0, seed=k + z0)
                    for k in range(c)
                ],
                axis=1,
            )
            yield from data.reshape(-1, yx, yx)

    tifffile.imwrite(
        path,
        pages(),
        shape=(z, c, yx, yx),
        dtype=np.uint16,
        imagej=True,
        metadata={"axes": "ZCYX"},
    )


def run_fairway(src: Path, out: Path, chunk: int) -> None:
    settings = load_settings(out.parent / "home", chunk_yx=chunk, workers=2)
    with open_tiff(src, max_xml_bytes=10**8, max_input_bytes=10**12) as tif:
        d = describe_tiff(tif, src)
    write_ome_zarr(src, "tiff", d.ome, d.ome_xml, out, settings)


def run_ome_zarr_py(src: Path, out: Path, chunk: int, levels: int) -> None:
    import dask.array as da
    from ome_zarr.format import FormatV05
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image
    from zarr.codecs import BloscCodec

    with tifffile.TiffFile(src) as tif:
        source = zarr.open_array(tif.series[0].aszarr(), mode="r")
        arr = da.from_zarr(source).transpose(1, 0, 2, 3)  # type: ignore[no-untyped-call]
        root = zarr.open_group(str(out), mode="w", zarr_format=3)
        write_image(
            arr.rechunk((1, 1, chunk, chunk)),
            root,
            axes="czyx",
            fmt=FormatV05(),
            scale_factors=[2**i for i in range(1, levels)],
            method=Methods.LOCAL_MEAN,
            storage_options={
                "chunks": (1, 1, chunk, chunk),
                "compressors": BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),
            },
        )


def _source_czyx(src: Path) -> tuple[Any, Any]:
    import dask.array as da

    tif = tifffile.TiffFile(src)
    source = zarr.open_array(tif.series[0].aszarr(), mode="r")
    return tif, da.from_zarr(source).transpose(1, 0, 2, 3)  # type: ignore[no-untyped-call]


def run_ngff_zarr(src: Path, out: Path, chunk: int, levels: int) -> None:
    import ngff_zarr as nz
    from zarr.codecs import BloscCodec

    tif, arr = _source_czyx(src)
    with tif:
        image = nz.to_ngff_image(arr, dims=["c", "z", "y", "x"])
        multiscales = nz.to_multiscales(
            image,
            scale_factors=[{"z": 1, "y": 2**i, "x": 2**i} for i in range(1, levels)],
            method=nz.Methods.ITKWASM_BIN_SHRINK,
            chunks={"c": 1, "z": 1, "y": chunk, "x": chunk},
        )
        nz.to_ngff_zarr(
            str(out),
            multiscales,
            version="0.5",
            compressors=[BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")],
        )


def run_bioio_ome_zarr(src: Path, out: Path, chunk: int, levels: int) -> None:
    from bioio_ome_zarr.writers import OMEZarrWriter
    from zarr.codecs import BloscCodec

    tif, arr = _source_czyx(src)
    with tif:
        c, z, y, x = arr.shape
        shapes = [(c, z, y // 2**i, x // 2**i) for i in range(levels)]
        writer = OMEZarrWriter(
            store=str(out),
            level_shapes=shapes,
            dtype=arr.dtype,
            chunk_shape=[(1, 1, min(chunk, s[2]), min(chunk, s[3])) for s in shapes],
            compressor=BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),
            zarr_format=3,
            axes_names=["c", "z", "y", "x"],
            axes_types=["channel", "space", "space", "space"],
        )
        writer.write_full_volume(arr.rechunk((1, 1, chunk, chunk)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--c", type=int, default=2)
    ap.add_argument("--z", type=int, default=32)
    ap.add_argument("--yx", type=int, default=1024)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--size", help="input size instead of --z, e.g. 2G or 8G (C and YX kept)")
    args = ap.parse_args()
    if args.size:
        factor = {"G": 1024**3, "M": 1024**2}[args.size[-1].upper()]
        args.z = max(1, int(float(args.size[:-1]) * factor) // (args.c * args.yx * args.yx * 2))
    work = Path(tempfile.mkdtemp(prefix="fairway-bench-"))
    try:
        src = work / "input.tif"
        make_input(src, args.c, args.z, args.yx)
        gib = src.stat().st_size / 1024**3
        levels = level_count((args.yx, args.yx), args.chunk)
        print(
            f"input: C={args.c} Z={args.z} {args.yx}x{args.yx} uint16, {gib:.2f} GiB, "
            f"{levels} levels"
        )
        results: dict[str, Run] = {}
        for name, fn in (
            ("fairway", lambda out: run_fairway(src, out, args.chunk)),
            ("ome-zarr-py", lambda out: run_ome_zarr_py(src, out, args.chunk, levels)),
            ("ngff-zarr", lambda out: run_ngff_zarr(src, out, args.chunk, levels)),
            ("bioio-ome-zarr", lambda out: run_bioio_ome_zarr(src, out, args.chunk, levels)),
        ):
            if name != "fairway" and not _available(name):
                print(f"{name:14s} not installed (pip install -e '.[bench]')")
                continue
            results[name] = _measure(fn, work / f"{name}.ome.zarr")
            shutil.rmtree(work / f"{name}.ome.zarr", ignore_errors=True)
        # the bounds run last: their buffers would otherwise count in the forked children's RSS
        bound = compression_bound(src, args.chunk, os.cpu_count() or 2)
        disk = disk_bound(work, results["fairway"].output_bytes)
        peers = [n for n in ("ome-zarr-py", "ngff-zarr", "bioio-ome-zarr") if n in results]
        best: str | None = min(peers, key=lambda n: results[n].seconds) if peers else None
        print(
            f"bound: Blosc-zstd 5 on all cores {bound:.0f} MiB/s; disk write+fsync {disk:.0f} MiB/s"
        )
        print(
            "| converter | MiB/s | peak RSS MiB | CPU/wall | output MiB | of bound | vs best peer |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, r in results.items():
            mibs = gib * 1024 / r.seconds
            vs = f"{results[best].seconds / r.seconds:.2f}x" if best is not None else "-"
            print(
                f"| {name} | {mibs:.1f} | {r.rss_mib:.0f} | {r.cpu_seconds / r.seconds:.2f} | "
                f"{r.output_bytes / 1024**2:.0f} | {mibs / bound:.0%} | {vs} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
