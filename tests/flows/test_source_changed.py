"""What is archived is provably what was identified (issue 13.1).

A 150 MB OME-TIFF overwritten in the middle and appended to while it was converted was
archived with the modified pixels under the original SHA-256: a later delivery of the true
original would have been a "duplicate" of different pixels. Here a real multi-MB OME-TIFF is
changed the same way from the conversion's progress callback, while it is being read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from catalog import Catalog
from core.progress import Progress
from core.settings import Settings, load_settings
from flows.ingestion import IngestSummary, run_ingest
from flows.progress import PROGRESS_SINK
from tests.factories import age, make_ome_tiff

MiB = 1024 * 1024


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dataset_of(*file_hashes: str) -> str:
    """The dataset id fairway derives from its files' hashes (content identity)."""
    digest = hashlib.sha256(b"fairway-fingerprint-v1\n")
    for h in sorted(file_hashes):
        digest.update(h.encode() + b"\n")
    return f"fw-{digest.hexdigest()[:16]}"


@contextmanager
def _during_conversion(action: Callable[[], None]) -> Iterator[list[str]]:
    """Run ``action`` once, at the conversion's first progress report (mid-conversion)."""
    done: list[str] = []

    def sink(p: Progress) -> None:
        if p.task != "acquisitions" and not done:
            done.append(p.task)
            action()

    token = PROGRESS_SINK.set(sink)
    try:
        yield done
    finally:
        PROGRESS_SINK.reset(token)


def _overwrite_middle_and_append(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(size // 2)
        fh.write(os.urandom(MiB))
        fh.seek(0, os.SEEK_END)
        fh.write(os.urandom(MiB))


def _image(tmp_path: Path) -> tuple[Path, Settings]:
    inbox = tmp_path / "inbox"
    path = make_ome_tiff(inbox / "cells.ome.tif", c=2, z=16, y=512, x=512)  # 16 MiB
    assert path.stat().st_size > 8 * MiB
    age(path)
    return path, load_settings(tmp_path / "home", quiet_seconds=1, chunk_yx=128)


def _archived(settings: Settings) -> list[str]:
    root = settings.archive_root
    return (
        sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
        if root.exists()
        else []
    )


def _only(summary: IngestSummary) -> tuple[str, str | None, str | None]:
    (o,) = summary.outcomes
    return o.outcome, o.dataset, o.reason


def test_content_changed_during_conversion_is_not_archived_under_the_old_hash(
    tmp_path: Path,
) -> None:
    path, settings = _image(tmp_path)
    old = _dataset_of(_sha(path))
    with _during_conversion(lambda: _overwrite_middle_and_append(path)) as tampered:
        first = run_ingest([path.parent], settings)
    assert tampered, "the conversion reported no progress: the file was never changed"
    outcome, dataset, reason = _only(first)
    assert (outcome, dataset) == ("quarantined", old)
    assert reason is not None and "changed while being ingested" in reason
    assert str(path) in reason
    assert old not in _archived(settings)  # nothing archived under the old hash

    # once the file is quiet again, its new content is archived under its own hash
    new_sha = _sha(path)
    age(path)
    second = run_ingest([path.parent], settings)
    outcome, dataset, _ = _only(second)
    assert (outcome, dataset) == ("archived", _dataset_of(new_sha))
    assert dataset is not None and _archived(settings) == [dataset]
    record = json.loads(
        (settings.archive_root / dataset / "data" / "metadata" / "record.json").read_text()
    )
    assert record["fields"]["source.files[0].sha256"]["value"] == new_sha


def test_the_same_content_is_taken_again_once_quiet(tmp_path: Path) -> None:
    """Touched (mtime moved) but not changed: quarantined for now, archived on the next pass."""
    path, settings = _image(tmp_path)
    original = _sha(path)

    def touch() -> None:
        os.utime(path)

    with _during_conversion(touch):
        first = run_ingest([path.parent], settings)
    assert _only(first)[0] == "quarantined"
    age(path)
    second = run_ingest([path.parent], settings)
    assert _only(second)[:2] == ("archived", _dataset_of(original))
    catalog = Catalog.open(settings.catalog_url)
    try:
        (row,) = catalog.acquisitions()
        assert row.state == "archived" and row.dataset == _dataset_of(original)
    finally:
        catalog.close()


def test_a_file_deleted_during_conversion_is_archived_whole_or_not_at_all(tmp_path: Path) -> None:
    path, settings = _image(tmp_path)
    data = path.read_bytes()
    with _during_conversion(path.unlink):
        summary = run_ingest([path.parent], settings)
    outcome, dataset, reason = _only(summary)
    assert outcome in {"archived", "quarantined"}, reason
    if outcome == "archived":  # what was read came from the original, open before the delete
        assert dataset == _dataset_of(hashlib.sha256(data).hexdigest())
    else:
        assert _archived(settings) == []
