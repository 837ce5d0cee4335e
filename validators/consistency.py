"""Checks across sources: the record, the source OME-XML and the written NGFF must agree.

- Pixel size: the record's (what REMBI reports, possibly curated) vs the source OME-XML vs the
  level-0 ``scale`` of the OME-Zarr.
- Channels: the record's channel list vs ``SizeC`` vs ``omero.channels``.
- Imaging method: the FBbi term vs the channels' OME acquisition mode; a known FBbi id whose
  label says something else.
- Identifiers: ORCID check digits.
- Values a sidecar, the instrument registry or a profile offered that the file contradicts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import zarr

from core.omeutil import channel_count, parse_ome
from core.records import Finding, MetadataRecord, Severity
from metadata.suggest import fbbi_for_mode
from schemas import vocabulary
from validators.ngff import image_group, image_paths, ngff_attrs

__all__ = ["check_consistency", "orcid_ok"]


def _finding(path: str, module: str, message: str, fix: str, *, error: bool = False) -> Finding:
    return Finding(
        path=path,
        module=module,
        level="required" if error else "recommended",
        severity=Severity.ERROR if error else Severity.WARNING,
        message=message,
        fix_hint=fix,
        check="consistency",
        blocks="rembi" if error else None,
    )


def orcid_ok(orcid: str) -> bool:
    """Whether an ORCID iD's last character is its ISO 7064 11-2 check digit."""
    digits = orcid.replace("-", "")
    if len(digits) != 16 or not digits[:15].isdigit():
        return False
    total = 0
    for ch in digits[:15]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[15] == ("X" if check == 10 else str(check))


def _first_image(store: Path) -> dict[str, Any]:
    try:
        root = zarr.open_group(str(store), mode="r")
        paths = image_paths(root)
        return ngff_attrs(image_group(root, paths[0])) if paths else {}
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.GroupNotFoundError):
        return {}


def _pixel_sizes(record: MetadataRecord, store: Path) -> list[Finding]:
    out: list[Finding] = []
    ome, _ = parse_ome(record.ome_xml) if record.ome_xml else (None, [])
    px = ome.images[0].pixels if ome is not None and ome.images else None
    attrs = _first_image(store)
    ms = (attrs.get("multiscales") or [{}])[0]
    names = [a.get("name") for a in ms.get("axes", [])]
    scale: list[float] = []
    for t in (ms.get("datasets") or [{}])[0].get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [float(x) for x in t["scale"]]
    for axis in "xyz":
        path = f"pixels.physical_size_{axis}"
        mine = record.value(path)
        if not isinstance(mine, int | float):
            continue
        seen = {}
        if px is not None and getattr(px, f"physical_size_{axis}") is not None:
            seen["the source OME-XML"] = float(getattr(px, f"physical_size_{axis}"))
        if axis in names and scale:
            seen["the OME-Zarr scale"] = scale[names.index(axis)]
        for where, value in seen.items():
            if not math.isclose(float(mine), value, rel_tol=1e-6):
                out.append(
                    _finding(
                        path,
                        "Image Data",
                        f"{path} is {mine} in the record but {value} in {where}",
                        "check which is right; a curated pixel size is written to the OME "
                        "metadata and NGFF scale of the next metadata version",
                        error=True,
                    )
                )
    return out


def _channels(record: MetadataRecord, store: Path) -> list[Finding]:
    listed = {
        int(k.split("]", 1)[0].removeprefix("channels["))
        for k in record.fields
        if k.startswith("channels[")
    }
    size_c = record.value("pixels.size_c")
    counts: dict[str, int] = {}
    if listed:
        counts["channels in the record"] = max(listed) + 1
    if isinstance(size_c, int):
        counts["SizeC"] = size_c
    if record.ome_xml:
        ome, _ = parse_ome(record.ome_xml)
        if ome.images:
            counts["planes per time point and Z (SamplesPerPixel counted)"] = channel_count(
                ome.images[0].pixels
            )
    omero = (_first_image(store).get("omero") or {}).get("channels")
    if isinstance(omero, list):
        counts["omero.channels"] = len(omero)
    if len(set(counts.values())) <= 1:
        return []
    # an RGB image lists one channel of three samples: SizeC 1 or 3, three planes
    if (
        counts.get("omero.channels")
        == counts.get("planes per time point and Z (SamplesPerPixel counted)")
        and record.value("channels[0].samples_per_pixel", 1) > 1
    ):
        return []
    text = ", ".join(f"{n} {what}" for what, n in counts.items())
    return [
        _finding(
            "pixels.size_c",
            "Channel",
            f"channel counts disagree: {text}",
            "check the source metadata; a channel may be missing from the OME-XML",
        )
    ]


def _method(record: MetadataRecord) -> list[Finding]:
    terms = vocabulary("fbbi")["terms"]

    def ancestors(term: str) -> list[str]:
        chain = []
        while term in terms and term not in chain:
            chain.append(term)
            term = terms[term]["parent"] or ""
        return chain

    out: list[Finding] = []
    methods = sorted(
        k
        for k in record.fields
        if k.startswith("acquisition.imaging_method[") and k.endswith("term_id")
    )
    given = {k: str(record.value(k)).rsplit("/", 1)[-1].replace(":", "_") for k in methods}
    for key, term in given.items():
        label = record.value(key.replace("term_id", "label"))
        if term in terms and label is not None:
            known = terms[term]["label"]
            words = {w for w in str(known).lower().replace("-", " ").split() if len(w) > 3}
            if not words & set(str(label).lower().replace("-", " ").split()):
                out.append(
                    _finding(
                        key.replace("term_id", "label"),
                        "Image Acquisition",
                        f"label '{label}' does not match {term} ('{known}')",
                        "use the FBbi label of the term, or the term of the label",
                    )
                )
    modes = {
        str(record.value(k))
        for k in record.fields
        if k.startswith("channels[") and k.endswith("].acquisition_mode")
    }
    for mode in sorted(modes):
        expected = {
            t for t in (fbbi_for_mode(mode, True), fbbi_for_mode(mode, False)) if t is not None
        }
        if not expected or not given:
            continue
        fits = any(
            term in ancestors(e) or e in ancestors(term)
            for term in given.values()
            for e in expected
        )
        if not fits:
            out.append(
                _finding(
                    "acquisition.imaging_method",
                    "Image Acquisition",
                    f"imaging method {', '.join(sorted(given.values()))} does not fit the OME "
                    f"acquisition mode '{mode}' (expected {' or '.join(sorted(expected))})",
                    "correct the FBbi term or the acquisition mode in the instrument software",
                )
            )
    return out


def _identifiers(record: MetadataRecord) -> list[Finding]:
    return [
        _finding(
            key,
            "Study",
            f"ORCID iD {record.value(key)} has a wrong check digit",
            "copy the iD from the person's ORCID record",
            error=True,
        )
        for key in sorted(k for k in record.fields if k.endswith(".orcid"))
        if isinstance(record.value(key), str)
        and len(str(record.value(key))) == 19
        and not orcid_ok(str(record.value(key)))
    ]


def _conflicts(record: MetadataRecord) -> list[Finding]:
    out = []
    for path, entry in sorted(record.unmapped.get("fairway.conflicts", {}).items()):
        if not isinstance(entry, dict):
            continue
        kept_entry = entry.get("kept")
        kept = kept_entry if isinstance(kept_entry, dict) else {}
        other_kind, other = next(
            ((k, v) for k, v in entry.items() if k != "kept" and isinstance(v, dict)), ("", {})
        )
        out.append(
            _finding(
                path,
                "record",
                f"{path}: {kept.get('source')} says {kept.get('value')!r}, "
                f"{other.get('source', other_kind)} says {other.get('value')!r}; the first is kept",
                "if the file is wrong, set the value with `fairway fix`",
            )
        )
    return out


def check_consistency(record: MetadataRecord, store: Path) -> list[Finding]:
    """Every disagreement between the record's sources and the written OME-Zarr."""
    return [
        *_pixel_sizes(record, store),
        *_channels(record, store),
        *_method(record),
        *_identifiers(record),
        *_conflicts(record),
    ]
