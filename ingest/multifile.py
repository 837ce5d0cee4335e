"""Group multi-file OME-TIFF acquisitions into one candidate each.

A multi-file image is a master OME-TIFF or a ``.companion.ome`` plus the TIFF files its
OME-XML references.
Only the first IFD's description of each ``*.ome.tif(f)`` is read (read-only, size-capped, no
DTD); file names from the XML are reduced to names in the same folder, so a reference cannot
point outside it. A group whose referenced files are not all there yet stays pending.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import tifffile

from core.errors import FairwayError
from core.tiffio import COMPANION_SUFFIX, read_companion, referenced_files, tifffile_heard_by
from core.xmlsafe import check_xml
from ingest.scan import Candidate

__all__ = ["group_multifile"]

_BINARY_ONLY = re.compile(r'<BinaryOnly[^>]*MetadataFile\s*=\s*"([^"]+)"')
_OME_TIFF = (".ome.tif", ".ome.tiff")


_OWN_UUID = re.compile(r'<(?:\w+:)?OME\b[^>]*?\sUUID\s*=\s*"')
_UUID_TEXT = re.compile(r"<(?:\w+:)?UUID\b[^>]*>\s*([^<\s]*)")
_TIFF_DATA = re.compile(r"<(?:\w+:)?TiffData\b([^>]*)>")
_IFD = re.compile(r'\bIFD\s*=\s*"(\d{1,9})"')
_PLANES = re.compile(r'\bPlaneCount\s*=\s*"(\d{1,9})"')


def _description(path: Path, max_xml_bytes: int) -> tuple[str, int] | None:
    """The first IFD's description (within the XML limits) and the number of IFDs."""
    try:
        with tifffile_heard_by(), tifffile.TiffFile(path) as tif:
            text = tif.pages.first.description
            pages = len(tif.pages)
        return (check_xml(text, where=path, max_bytes=max_xml_bytes), pages) if text else None
    except Exception:  # noqa: BLE001 - unreadable here: the reader will say why, later
        return None


def _names_only_itself(header: str, pages: int) -> bool:
    """Whether an OME-TIFF that has no UUID of its own describes only itself, renamed.

    Its TiffData all carry the same UUID (one file), and every IFD they place lies in this file:
    that file is this one under its old name (tifffile reads every plane from here), not
    another file to wait for.
    """
    if _OWN_UUID.search(header):
        return False  # with a UUID of its own, core.tiffio.referenced_files knows itself
    uuids = _UUID_TEXT.findall(header)
    blocks = _TIFF_DATA.findall(header)
    if len(set(uuids)) != 1 or len(uuids) != len(blocks):
        return False  # a TiffData without a UUID is this file: the UUID then names another
    needed = 0
    for attrs in blocks:
        ifd, planes = _IFD.search(attrs), _PLANES.search(attrs)
        needed = max(
            needed, (int(ifd.group(1)) if ifd else 0) + (int(planes.group(1)) if planes else 1)
        )
    return 0 < needed <= pages


def _references(cand: Candidate, max_xml_bytes: int) -> tuple[list[str], str | None]:
    """(files this candidate's OME-XML references, the metadata file a stub points to)."""
    name = cand.source.name.lower()
    if name.endswith(COMPANION_SUFFIX):
        try:
            xml = read_companion(cand.source, max_xml_bytes=max_xml_bytes)
        except FairwayError:
            return [], None
        return [Path(f).name for f in referenced_files(xml)], None
    if not name.endswith(_OME_TIFF):
        return [], None
    described = _description(cand.source, max_xml_bytes)
    if not described:
        return [], None
    header, pages = described
    stub = _BINARY_ONLY.search(header)
    if stub:
        return [], Path(stub.group(1)).name
    if _names_only_itself(header, pages):
        return [], None
    return [Path(f).name for f in referenced_files(header)], None


def group_multifile(cands: list[Candidate], *, max_xml_bytes: int) -> list[Candidate]:
    """Merge multi-file OME-TIFFs of each folder into one candidate; others pass through."""
    by_folder: dict[Path, list[Candidate]] = {}
    for c in cands:
        by_folder.setdefault(c.source.parent, []).append(c)
    out: list[Candidate] = []
    for folder_cands in by_folder.values():
        tiffs = [c for c in folder_cands if c.kind == "tiff" and len(c.files) == 1]
        if not any(c.source.name.lower().endswith((*_OME_TIFF, COMPANION_SUFFIX)) for c in tiffs):
            out.extend(folder_cands)
            continue
        by_name = {c.source.name: c for c in tiffs}
        refs = {c.source.name: _references(c, max_xml_bytes) for c in tiffs}
        consumed: set[str] = set()
        groups: list[Candidate] = []
        for c in tiffs:
            members, _stub = refs[c.source.name]
            others = [m for m in members if m != c.source.name]
            if not others:
                continue
            present = [by_name[m] for m in others if m in by_name]
            missing = tuple(m for m in others if m not in by_name)
            consumed |= {c.source.name, *(p.source.name for p in present)}
            groups.append(
                replace(
                    c,
                    files=(c.files[0], *(p.files[0] for p in present)),
                    in_progress_markers=tuple(
                        sorted(
                            {
                                *c.in_progress_markers,
                                *(m for p in present for m in p.in_progress_markers),
                            }
                        )
                    ),
                    missing=missing,
                )
            )
        for c in folder_cands:
            if c.source.name in consumed:
                continue
            stub_of = refs.get(c.source.name, ([], None))[1]
            if stub_of is not None and stub_of != c.source.name:
                # a BinaryOnly part whose master or companion has not arrived (yet)
                out.append(replace(c, missing=(stub_of,)))
            else:
                out.append(c)
        out.extend(groups)
    return out
