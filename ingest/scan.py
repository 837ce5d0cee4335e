"""Find candidate acquisitions under watched folders without touching them.

Scanning only lists and stats: it opens no file for writing, creates nothing, follows no
symbolic link. Grouping rules:

* a directory named ``*.zarr`` is one unit;
* every other image file is one unit;
* sidecar files (``fairway.yaml|yml|json|csv``) belong to every unit in their folder;
* hidden files, editor/OS junk and the configured sentinel are never content.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.failpoints import failpoint
from core.ngffdetect import NGFF_KIND, is_ngff
from core.records import SourceFile
from ingest.dicom import looks_like_dicom

__all__ = [
    "SIDECAR_NAMES",
    "SUPPORTED_KINDS",
    "Candidate",
    "classify",
    "scan",
]

log = logging.getLogger(__name__)

SIDECAR_NAMES = frozenset({"fairway.yaml", "fairway.yml", "fairway.json", "fairway.csv"})
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
#: suffixes of files that are, by convention, still being written
IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".filepart", ".!sync")

_TIFF = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".btf", ".tf8", ".tf2")
_BIOIO = (".nd2", ".lif", ".dv", ".r3d")
_KNOWN_UNSUPPORTED = (
    ".lsm",
    ".oib",
    ".oif",
    ".ims",
    ".vsi",
    ".svs",
    ".spe",
    ".sld",
    ".lei",
    ".zvi",
    ".ndpi",
    ".scn",
    ".mrc",
    ".nii",
    ".nii.gz",
)

#: kinds that a reader of fairway converts today
SUPPORTED_KINDS = frozenset({"tiff", "bioio", "czi", "dicom", NGFF_KIND})


def classify(name: str) -> str:
    """Return the reader family: 'tiff', 'bioio', 'czi', 'unsupported' or 'unknown'."""
    lower = name.lower()
    if lower.endswith(".czi"):
        return "czi"
    if lower.endswith((".dcm", ".dicom")):
        return "dicom"
    if lower.endswith(_TIFF) or lower.endswith(".companion.ome"):
        return "tiff"
    if lower.endswith(_BIOIO):
        return "bioio"
    if lower.endswith(_KNOWN_UNSUPPORTED):
        return "unsupported"
    return "unknown"


def _is_junk(name: str) -> bool:
    return name.startswith((".", "~$")) or name.lower() in JUNK_NAMES


@dataclass(frozen=True)
class Candidate:
    """A group of files that may form one acquisition once it is complete."""

    source: Path
    kind: str
    files: tuple[SourceFile, ...]
    sidecars: tuple[SourceFile, ...] = ()
    folder_has_sentinel: bool = False
    in_progress_markers: tuple[str, ...] = field(default=())
    #: files the acquisition's metadata references that are not there (yet)
    missing: tuple[str, ...] = field(default=())


def _stat_file(path: Path, root: Path) -> SourceFile | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None  # vanished between listing and stat: seen again next pass
    if not stat.S_ISREG(st.st_mode):
        log.warning("skipping %s: not a regular file (link, FIFO, socket or device)", path)
        return None
    return SourceFile(
        path=path,
        relpath=path.relative_to(root).as_posix() if path != root else path.name,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
    )


def _zarr_unit(folder: Path) -> tuple[SourceFile, ...]:
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink():
                log.warning("skipping symbolic link inside %s: %s", folder, p)
                continue
            sf = _stat_file(p, folder)
            if sf is not None:
                files.append(sf)
    return tuple(files)


def _zarr_candidate(unit: Path) -> Candidate:
    """A ``*.zarr`` folder: OME-Zarr (read as input) when it has NGFF metadata at its root."""
    kind = NGFF_KIND if is_ngff(unit) else "unsupported"
    return Candidate(source=unit, kind=kind, files=_zarr_unit(unit))


def _scan_folder(
    folder: Path, filenames: Iterable[str], sentinel: str | None
) -> Iterable[Candidate]:
    names = sorted(filenames)
    sidecars = tuple(
        sf
        for n in names
        if n.lower() in SIDECAR_NAMES
        if (sf := _stat_file(folder / n, folder)) is not None
    )
    has_sentinel = sentinel is not None and sentinel in names
    markers = tuple(n for n in names if n.lower().endswith(IN_PROGRESS_SUFFIXES))
    for name in names:
        path = folder / name
        if _is_junk(name) or name.lower() in SIDECAR_NAMES or name == sentinel:
            continue
        if name.lower().endswith(IN_PROGRESS_SUFFIXES):
            continue  # reported through `in_progress_markers` of its siblings
        if path.is_symlink():
            log.warning("skipping symbolic link (fairway never follows links): %s", path)
            continue
        sf = _stat_file(path, folder)
        if sf is None:
            continue
        kind = classify(name)
        if kind == "unknown" and looks_like_dicom(path):
            kind = "dicom"
        yield Candidate(
            source=path,
            kind=kind,
            files=(sf,),
            sidecars=sidecars,
            folder_has_sentinel=has_sentinel,
            in_progress_markers=tuple(m for m in markers if m.startswith(name)),
        )


def scan(
    sources: Sequence[Path],
    *,
    sentinel: str | None = None,
    max_xml_bytes: int = 64 * 1024**2,
    dicom_key: bytes = b"fairway-unkeyed",
) -> list[Candidate]:
    """List candidate acquisitions under each source (a folder or a single file).

    Nothing is written and no symbolic link is followed; only the OME-XML headers of OME-TIFF
    and companion files are read, to group multi-file images, and DICOM headers up to the
    series UIDs, to group instances into series (``dicom_key`` keys their derived names).
    Label images (``<stem>.labels.<name>.tif``) join their image's acquisition.
    """
    from ingest.dicom import group_dicom
    from ingest.labels import attach_labels
    from ingest.multifile import group_multifile

    found: list[Candidate] = []
    for root in sources:
        failpoint("scan")
        listed = group_multifile(_list([root], sentinel), max_xml_bytes=max_xml_bytes)
        found.extend(group_dicom(attach_labels(listed), Path(root), dicom_key))
    return found


def _list(sources: Sequence[Path], sentinel: str | None) -> list[Candidate]:
    found: list[Candidate] = []
    for source in sources:
        source = Path(source)
        if source.is_file():
            found.extend(_scan_folder(source.parent, [source.name], sentinel))
            continue
        if source.is_dir() and source.name.lower().endswith(".zarr"):
            found.append(_zarr_candidate(source))
            continue
        for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
            here = Path(dirpath)
            zarrs = [d for d in dirnames if d.lower().endswith(".zarr")]
            for d in sorted(zarrs):
                unit = here / d
                found.append(_zarr_candidate(unit))
            dirnames[:] = sorted(d for d in dirnames if d not in zarrs and not _is_junk(d))
            found.extend(_scan_folder(here, filenames, sentinel))
    return found
