"""Test data: realistic files made on the fly, and snapshots for invariant checks."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import tifffile

from ingest.samples import SIDECAR_YAML, blobs, ome_tiff_bytes

__all__ = [
    "SIDECAR_YAML",
    "age",
    "make_imagej",
    "make_inbox",
    "make_ome_tiff",
    "make_plain_tiff",
    "tree_snapshot",
]


def age(path: Path, seconds: float = 3600.0) -> None:
    """Make a file (or every file under a folder) look finished long ago."""
    paths = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in paths:
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def make_ome_tiff(
    path: Path, *, seed: int = 1, c: int = 2, z: int = 4, y: int = 96, x: int = 80
) -> Path:
    """An OME-TIFF with instrument, objective and channel metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ome_tiff_bytes(path.stem, c=c, z=z, y=y, x=x, seed=seed))
    return path


def make_plain_tiff(path: Path, *, seed: int = 2, shape: tuple[int, int] = (150, 130)) -> Path:
    """A TIFF with no metadata at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path, blobs(shape, n=8, sigma=6.0, seed=seed), metadata=None, photometric="minisblack"
    )
    return path


def make_imagej(path: Path, *, seed: int = 3) -> Path:
    """An ImageJ hyperstack T=2 Z=3 C=2 with spacing, unit and frame interval."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack(
        [
            np.stack(
                [blobs((3, 64, 72), n=5, sigma=4.0, seed=seed + 10 * t + c) for c in range(2)],
                axis=1,
            )
            for t in range(2)
        ]
    )
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um", "finterval": 10.0},
    )
    return path


def make_inbox(root: Path, *, seed: int = 0) -> dict[str, Path]:
    """An inbox with one of each kind of file fairway meets, all finished long ago."""
    files = {
        "ome": make_ome_tiff(root / "sd" / "cells.ome.tif", seed=seed + 1),
        "plain": make_plain_tiff(root / "wf" / "plain.tif", seed=seed + 2),
        "imagej": make_imagej(root / "tl" / "stack.tif", seed=seed + 3),
    }
    (root / "sd" / "fairway.yaml").write_text(SIDECAR_YAML, encoding="utf-8")
    # a segmentation of the OME-TIFF delivered beside it: joins its acquisition as labels/
    first = tifffile.imread(files["ome"]).reshape(2, 4, 96, 80)[0]
    files["labels"] = root / "sd" / "cells.labels.nuclei.tif"
    tifffile.imwrite(
        files["labels"],
        (first > np.percentile(first, 80)).astype(np.uint16) * 5,
        photometric="minisblack",
    )
    good = io.BytesIO()
    tifffile.imwrite(good, blobs((200, 200), n=4, sigma=5.0, seed=seed + 4), metadata=None)
    files["truncated"] = root / "wf" / "cut.tif"
    files["truncated"].write_bytes(good.getvalue()[:30_000])
    files["unsupported"] = root / "wf" / "scan.ims"  # Imaris (HDF5): no reader yet
    files["unsupported"].write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    age(root)
    return files


def tree_snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under ``root`` with size, mtime and SHA-256 (folders: size -1)."""
    snap: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            snap[str(p.relative_to(root))] = (-1, p.lstat().st_mtime_ns, "")
        for f in filenames:
            p = Path(dirpath) / f
            st = p.lstat()
            snap[str(p.relative_to(root))] = (
                st.st_size,
                st.st_mtime_ns,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
    return snap
