"""Group DICOM files into series: one acquisition per (StudyInstanceUID, SeriesInstanceUID).

Only the header up to the series UIDs is read (never pixel data). File and folder names
written by scanners can carry patient names, so a series is known by a derived name only:
``<watched folder>/dicom-<token>`` where the token is a keyed hash of its UIDs, and its files
by ``instance-00001.dcm``...; the real paths stay in memory for reading. DICOMDIR files are
indexes, not images: the instances they list are grouped by their own UIDs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.dicomio import quiet_pydicom

if TYPE_CHECKING:
    from ingest.scan import Candidate

__all__ = ["DICOM_KIND", "group_dicom", "looks_like_dicom"]

log = logging.getLogger(__name__)

DICOM_KIND = "dicom"
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
_DIRECTORY_SOP = "1.2.840.10008.1.3.10"


def looks_like_dicom(path: Path) -> bool:
    """A ``.dcm`` suffix, or the ``DICM`` magic after the 128-byte preamble."""
    if path.name.lower().endswith(_DICOM_SUFFIXES) or path.name.upper().startswith("DICOMDIR"):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _series_uids(path: Path) -> tuple[str, str, str] | None:
    """(study UID, series UID, SOP class UID) of a file, or ``None`` if it has no header."""
    import pydicom

    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(
                path,
                stop_before_pixels=True,
                force=True,
                specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"],
            )
        # values are decoded lazily: a damaged one fails here, not later in the scan
        meta_class = getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "")
        sop_class = str(ds.get("SOPClassUID", "") or meta_class or "")
        study, series = str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))
    except Exception:  # noqa: BLE001 - unreadable: quarantined later with the reader's reason
        return None
    if not (study or series or sop_class):
        return None
    return study, series, sop_class


def _token(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()[:16]


def group_dicom(cands: list[Candidate], root: Path, key: bytes) -> list[Candidate]:
    """Merge the DICOM candidates found under ``root`` into one candidate per series."""
    series: dict[tuple[str, str], list[Candidate]] = {}
    out: list[Candidate] = []
    for cand in cands:
        if cand.kind != DICOM_KIND:
            out.append(cand)
            continue
        uids = _series_uids(cand.source)
        if uids is not None and uids[2] == _DIRECTORY_SOP:
            log.info("DICOMDIR index skipped (its instances are grouped by their own UIDs)")
            continue
        if uids is None or not (uids[0] and uids[1]):
            # no series: an acquisition of its own, named by its position in the listing
            uids = ("", f"unreadable-{_token(key, str(cand.source))}", "")
        series.setdefault((uids[0], uids[1]), []).append(cand)
    for (study, uid), members in series.items():
        files = tuple(
            f.model_copy(update={"relpath": f"instance-{i:05d}.dcm"})
            for i, f in enumerate(
                sorted((f for m in members for f in m.files), key=lambda f: str(f.path)), start=1
            )
        )
        out.append(
            replace(
                members[0],
                source=root / f"dicom-{_token(key, study, uid)}",
                files=files,
                sidecars=(),
                # marker names are scanner file names too: say only that there are some
                in_progress_markers=("transfer marker",)
                if any(m.in_progress_markers for m in members)
                else (),
            )
        )
    return out
