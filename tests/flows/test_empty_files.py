"""Zero-byte files are refused as empty, each on its own (issue 13.4).

Every empty file has the same SHA-256, so an empty ``.dcm`` was reported as a duplicate of
an empty TIFF. Empty input has no content to identify: it is refused with "empty file", once
per file, whatever other empty files exist.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import load_settings
from flows.ingestion import run_ingest
from tests.factories import age, make_ome_tiff


def test_empty_files_are_each_refused_as_empty_never_duplicates(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "ct").mkdir(parents=True)
    (inbox / "ct" / "slice.dcm").touch()
    (inbox / "wf").mkdir()
    (inbox / "wf" / "empty.tif").touch()
    (inbox / "wf" / "also-empty.ome.tif").touch()
    (inbox / "sd").mkdir()
    make_ome_tiff(inbox / "sd" / "cells.ome.tif")
    (inbox / "sd" / "fairway.yaml").touch()  # an empty sidecar
    age(inbox)
    settings = load_settings(tmp_path / "home", quiet_seconds=1, chunk_yx=64)
    summary = run_ingest([inbox], settings)
    assert summary.internal_errors == 0
    assert len(summary.outcomes) == 4
    assert len({o.id for o in summary.outcomes}) == 4  # four acquisitions, no shared identity
    for o in summary.outcomes:
        assert o.outcome in {"rejected", "quarantined"}, o
        assert o.reason is not None and "empty file" in o.reason, o
    by_name = {Path(o.source).name: o.reason or "" for o in summary.outcomes}
    assert str(inbox / "wf" / "empty.tif") in by_name["empty.tif"]
    assert str(inbox / "wf" / "also-empty.ome.tif") in by_name["also-empty.ome.tif"]
    assert str(inbox / "sd" / "fairway.yaml") in by_name["cells.ome.tif"]
    # the DICOM file is named by its derived series name (a scanner's file names can carry
    # patient names), never by the real path
    (dicom,) = [o for o in summary.outcomes if o.source.startswith(str(inbox / "dicom-"))]
    assert dicom.source in (dicom.reason or "") and "slice.dcm" not in (dicom.reason or "")

    # met again, each is the same refusal, still no duplicate of another file
    again = run_ingest([inbox], settings)
    assert {o.id for o in again.outcomes} == {o.id for o in summary.outcomes}
