"""Fixity audit: detection of injected corruptions, and audit speed beside ``sha256sum``.

Builds D archived datasets (real bags: a sharded OME-Zarr of random 16-bit planes plus the
metadata files) in a primary archive and a folder copy, then

1. injects 100 corruptions (bit flips, truncations, deletions, extra files, in equal shares)
   into distinct files of both copies, audits, and counts how many were reported with the
   right copy and file (target: 100%);
2. audits the intact archive again and times it beside ``sha256sum`` over the same files, in
   MB/s (both read every byte once; fairway also compares with the manifests).

    python benchmarks/fixity.py [--datasets 8] [--mib 64]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import zarr

from core.settings import load_settings
from flows.fixity import PRIMARY, audit_copies
from targets import LocalArchive
from targets.copies import BagCopy, FolderStore

KINDS = ("bit-flip", "truncation", "deletion", "extra-file")


def _payload(root: Path, name: str, mib: int, seed: int) -> Path:
    """A payload folder: an OME-Zarr-like sharded zarr v3 array of ``mib`` MiB, metadata."""
    payload = root / name
    rng = np.random.default_rng(seed)
    planes = max(1, mib * 1024**2 // (1024 * 1024 * 2))
    arr = zarr.create_array(
        store=str(payload / f"{name}.ome.zarr" / "0"),
        shape=(planes, 1024, 1024),
        chunks=(1, 256, 256),
        shards=(1, 1024, 1024),
        dtype="uint16",
    )
    for z in range(planes):
        arr[z] = rng.integers(0, 4096, size=(1024, 1024), dtype=np.uint16)
    (payload / "metadata").mkdir()
    (payload / "metadata" / "record.json").write_text('{"fields": {}}', encoding="utf-8")
    return payload


def _corrupt(path: Path, kind: str, rng: random.Random) -> Path:
    if kind == "bit-flip":
        data = bytearray(path.read_bytes())
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
    elif kind == "truncation":
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.truncate(rng.randrange(size))
    elif kind == "deletion":
        path.unlink()
    else:
        path = path.with_name(path.name + ".extra")
        path.write_bytes(b"stray bytes")
    return path


def main() -> int:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=8)
    parser.add_argument("--mib", type=int, default=64, help="pixel MiB per dataset")
    parser.add_argument("--corruptions", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fairway-fixity-"))
    try:
        settings = load_settings(work / "home", workers=2)
        archive = LocalArchive(settings.archive_root, processes=2)
        copy = BagCopy("nas", FolderStore(work / "nas"), threads=2)
        names = [f"fw-bench{i:04d}" for i in range(args.datasets)]
        for i, name in enumerate(names):
            archive.publish(name, _payload(work / "payloads", name, args.mib, i), {})
            copy.sync(name, settings.archive_root / name)
        files = sorted(
            p
            for root in (settings.archive_root, work / "nas")
            for p in root.rglob("*")
            if p.is_file() and "/data/" in p.as_posix()
        )
        total = sum(p.stat().st_size for p in files)
        print(f"{len(names)} datasets x 2 copies, {len(files)} payload files, {total / 1e6:.0f} MB")

        # 2. speed, on the intact archive (run first so the page cache treats both alike)
        t0 = time.perf_counter()
        for name in names:
            assert all(a.ok for a in audit_copies(name, archive, [copy]))
        fairway_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(0, len(files), 500):
            subprocess.run(
                ["sha256sum", *map(str, files[start : start + 500])],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        sha_s = time.perf_counter() - t0
        print(
            f"audit: fairway {total / 1e6 / fairway_s:.0f} MB/s ({fairway_s:.1f} s), "
            f"sha256sum {total / 1e6 / sha_s:.0f} MB/s ({sha_s:.1f} s), "
            f"ratio {sha_s / fairway_s:.2f}"
        )

        # 1. detection
        rng = random.Random(7)
        victims = rng.sample(files, args.corruptions)
        injected = []
        for n, path in enumerate(victims):
            kind = KINDS[n % len(KINDS)]
            where = "nas" if path.is_relative_to(work / "nas") else PRIMARY
            dataset = next(part for part in path.parts if part.startswith("fw-bench"))
            hit = _corrupt(path, kind, rng)
            rel = hit.as_posix().split(f"/{dataset}/", 1)[1]
            injected.append((dataset, where, rel, kind))
        found = set()
        for name in names:
            for a in audit_copies(name, archive, [copy]):
                for f in a.findings:
                    found.add((name, a.copy_name, f.path))
        detected = {k: 0 for k in KINDS}
        for dataset, where, rel, kind in injected:
            if any(d == dataset and c == where and p.endswith(rel) for d, c, p in found):
                detected[kind] += 1
        per_kind = ", ".join(f"{k} {detected[k]}/{args.corruptions // len(KINDS)}" for k in KINDS)
        share = 100 * sum(detected.values()) / len(injected)
        print(f"detection: {sum(detected.values())}/{len(injected)} = {share:.0f}% ({per_kind})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
