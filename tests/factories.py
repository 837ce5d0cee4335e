"""Test data: realistic files made on the fly, and snapshots for invariant checks."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from core.records import Acquisition, SourceFile
from ingest.samples import REGISTRY_YAML, SIDECAR_YAML, blobs, ome_tiff_bytes

__all__ = [
    "REGISTRY_YAML",
    "SIDECAR_YAML",
    "acquisition_of",
    "age",
    "make_imagej",
    "make_inbox",
    "make_ome_tiff",
    "make_plain_tiff",
    "tree_snapshot",
]


def acquisition_of(path: Path, kind: str = "tiff", sidecars: tuple[Path, ...] = ()) -> Acquisition:
    """An acquisition of one file (and its sidecars), as the scanner would hand it over."""

    def sf(p: Path) -> SourceFile:
        st = p.stat()
        return SourceFile(
            path=p, relpath=p.name, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256="0" * 64
        )

    return Acquisition(
        fingerprint="ab" * 32,
        source=path,
        kind=kind,
        files=(sf(path),),
        sidecars=tuple(sf(s) for s in sidecars),
    )


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


#: value representations that can carry a canary (text, names, dates, times, UIDs, numbers)
CANARY_VRS = {
    "LO",
    "SH",
    "ST",
    "LT",
    "UT",
    "UC",
    "PN",
    "CS",
    "AE",
    "DA",
    "DT",
    "TM",
    "UI",
    "AS",
    "DS",
    "IS",
    "UR",
}


def canary_value(i: int, vr: str, prefix: str = "CANARY") -> str:
    """A value unique to attribute ``i`` (and ``prefix``) that is valid for ``vr``."""
    if vr == "DA":
        return f"1{i:03d}0101"[:8]
    if vr == "DT":
        return f"1{i:03d}0101120000"
    if vr == "TM":
        return f"{i % 24:02d}{i % 60:02d}{(i * 7) % 60:02d}.{i:06d}"
    if vr == "UI":
        return f"1.2.826.0.1.3680043.9.7777.{i}"
    if vr == "AS":
        return f"{i % 999:03d}Y"
    if vr == "IS":
        return f"98765{i:07d}"
    if vr == "DS":
        return f"98765.{i:07d}"
    if vr in ("CS", "AE"):
        return f"{prefix}{i:04d}"[:16]
    return f"{prefix}-{i:04d}-PHI"


def canary_dataset(depth: int = 3, prefix: str = "CANARY") -> tuple[Any, list[str], int]:
    """A dataset with a canary in every exact-tag Annex E attribute that can hold one.

    Sequences hold items nested ``depth`` deep with canaries at every level; private tags
    (top level and nested) carry canaries too. Returns the dataset, the canaries and the
    number of Annex E attributes covered.
    """
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    from metadata.deid import annex_e_rows

    ds = Dataset()
    meta = FileMetaDataset()
    canaries: list[str] = []
    covered = 0

    def nested(i: int, level: int) -> Any:
        item = Dataset()
        item.PatientName = f"{prefix}-NEST-{i:04d}-D{level}"
        item.StudyDate = f"2{i:03d}0101"[:8]
        canaries.extend([str(item.PatientName), item.StudyDate])
        if level > 1:
            item.ReferencedImageSequence = Sequence([nested(i, level - 1)])
        return item

    for i, row in enumerate(annex_e_rows()):
        tag = row["tag"].strip("()").replace(",", "")
        if not all(ch in "0123456789ABCDEFabcdef" for ch in tag) or tag.startswith("0000"):
            continue  # repeating groups, the private row, and network command elements
        try:
            vr = dictionary_VR(int(tag, 16))
        except KeyError:
            continue
        if vr in CANARY_VRS:
            value = canary_value(i, vr, prefix)
            (meta if tag.startswith("0002") else ds).add_new(int(tag, 16), vr, value)
            canaries.append(value)
            covered += 1
        elif vr == "SQ":
            ds.add_new(int(tag, 16), vr, Sequence([nested(i, depth)]))
            covered += 1
    block = ds.private_block(0x0009, f"{prefix} CORP", create=True)
    block.add_new(0x10, "LO", f"{prefix}-PRIVATE-TOP")
    ds.ReferencedStudySequence[0].add_new(0x00191001, "LO", f"{prefix}-PRIVATE-NESTED")
    canaries += [f"{prefix}-PRIVATE-TOP", f"{prefix}-PRIVATE-NESTED", f"{prefix} CORP"]
    ds.Modality = "CT"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    ds.file_meta = meta
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds, canaries, covered


def make_dicom_series(
    folder: Path, *, n: int = 3, prefix: str = "CANARY", rows: int = 16, cols: int = 20
) -> tuple[list[Path], list[str], int]:
    """A CT series of ``n`` instances carrying canaries everywhere (see canary_dataset).

    Returns the files, every canary (values, and the file and folder names) and the number
    of Annex E attributes covered.
    """
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    files, canaries, covered = [], [], 0
    for k in range(n):
        ds, found, covered = canary_dataset(prefix=prefix)
        canaries += found
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, 2.5 * k]
        ds.PixelSpacing = [0.5, 0.5]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = (np.arange(rows * cols, dtype=np.uint16) * (k + 1)).tobytes()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"{prefix}_DOE^JOHN_{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    canaries += [folder.name, f"{prefix}_DOE^JOHN"]
    return files, canaries, covered


#: identifiers and digests (UUIDs, hashes, pseudonym UIDs) are long hex or decimal runs: an
#: 8-digit date canary can occur inside one by chance, a leaked value never stands inside one
_ID_RUNS = re.compile(
    rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    rb"|[0-9a-fA-F]{16,}"
)


def scrub_identifiers(data: bytes) -> bytes:
    """``data`` with UUIDs and long hex/decimal runs masked, before searching for canaries."""
    return _ID_RUNS.sub(b"#", data)
