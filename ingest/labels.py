"""Attach label images (``<stem>.labels.<name>.tif``) to the acquisition of their image.

A label file joins the candidate of the image with the same stem in the same folder: the
acquisition's fingerprint covers it and it is only complete when the label is too. A label
whose image has not arrived stays pending (its image is reported missing), so it is never
archived as an image of its own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.labels import image_stem, label_parts
from core.records import Acquisition
from ingest.scan import Candidate

__all__ = ["attach_labels", "label_files"]


def attach_labels(cands: list[Candidate]) -> list[Candidate]:
    """Merge each label candidate into its image's candidate (see module docs)."""
    images: dict[tuple[str, str], int] = {}
    out: list[Candidate] = []
    labels: list[tuple[Candidate, str, str]] = []
    for cand in cands:
        parts = label_parts(cand.source.name) if len(cand.files) == 1 else None
        if parts is not None:
            labels.append((cand, *parts))
            continue
        stem = image_stem(cand.source.name)
        if stem is not None:
            images[(str(cand.source.parent), stem)] = len(out)
        out.append(cand)
    for label, stem, _name in labels:
        key = (str(label.source.parent), stem)
        if key in images:
            i = images[key]
            host = out[i]
            out[i] = replace(
                host,
                files=(*host.files, *label.files),
                in_progress_markers=host.in_progress_markers + label.in_progress_markers,
            )
        else:
            out.append(replace(label, missing=(f"{stem}.* (the image of this label)",)))
    return out


def label_files(acq: Acquisition) -> dict[str, Path]:
    """The acquisition's label images (``<stem>.labels.<name>.tif``) by label name."""
    stem = image_stem(acq.primary.path.name)
    found = {}
    for f in acq.files:
        parts = label_parts(f.path.name)
        if parts is not None and parts[0] == stem and f.path.parent == acq.primary.path.parent:
            found[parts[1]] = f.path
    return found
