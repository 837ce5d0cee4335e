from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.errors import IncompleteAcquisitionError
from ingest import CompletionPolicy, fingerprint, scan, split_complete
from tests.factories import age, make_plain_tiff, tree_snapshot


def test_grouping_sidecars_and_junk(tmp_path: Path) -> None:
    make_plain_tiff(tmp_path / "a" / "one.tif")
    make_plain_tiff(tmp_path / "a" / "two.ome.tiff", seed=5)
    (tmp_path / "a" / "fairway.yaml").write_text("study: {title: x}\n")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "a" / "Thumbs.db").write_bytes(b"junk")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "scan.czi").write_bytes(b"ZISRAW")
    (tmp_path / "b" / "scan.ims").write_bytes(b"\x89HDF")
    (tmp_path / "b" / "notes.txt").write_text("hello")
    found = {c.source.name: c for c in scan([tmp_path])}
    assert set(found) == {"one.tif", "two.ome.tiff", "scan.czi", "scan.ims", "notes.txt"}
    assert found["one.tif"].kind == "tiff"
    assert found["scan.czi"].kind == "czi"
    assert found["scan.ims"].kind == "unsupported"
    assert found["notes.txt"].kind == "unknown"
    assert [s.relpath for s in found["one.tif"].sidecars] == ["fairway.yaml"]
    assert found["scan.czi"].sidecars == ()


def test_scan_creates_nothing_and_follows_no_link(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "x.tif")
    outside = make_plain_tiff(tmp_path / "secret.tif")
    os.symlink(outside, inbox / "link.tif")
    before = tree_snapshot(inbox)
    found = scan([inbox])
    assert [c.source.name for c in found] == ["x.tif"]
    assert tree_snapshot(inbox) == before


def test_zarr_folder_is_one_unit(tmp_path: Path) -> None:
    (tmp_path / "img.ome.zarr" / "0").mkdir(parents=True)
    (tmp_path / "img.ome.zarr" / "zarr.json").write_text("{}")
    (tmp_path / "img.ome.zarr" / "0" / "zarr.json").write_text("{}")
    [cand] = scan([tmp_path])
    assert cand.source.name == "img.ome.zarr"
    assert len(cand.files) == 2


def test_quiet_window(tmp_path: Path) -> None:
    f = make_plain_tiff(tmp_path / "x.tif")
    cands = scan([tmp_path])
    now = f.stat().st_mtime
    complete, pending = split_complete(cands, CompletionPolicy(quiet_seconds=10), now=now + 5)
    assert not complete
    assert "quiet window" in pending[0].reason
    complete, pending = split_complete(cands, CompletionPolicy(quiet_seconds=10), now=now + 11)
    assert [c.source for c in complete] == [f]


def test_sentinel_rule(tmp_path: Path) -> None:
    make_plain_tiff(tmp_path / "x.tif")
    age(tmp_path)
    policy = CompletionPolicy(quiet_seconds=1, sentinel="DONE")
    complete, pending = split_complete(scan([tmp_path], sentinel="DONE"), policy)
    assert not complete and "sentinel" in pending[0].reason
    (tmp_path / "DONE").write_text("")
    complete, _ = split_complete(scan([tmp_path], sentinel="DONE"), policy)
    assert [c.source.name for c in complete] == ["x.tif"]  # the sentinel is not content


def test_transfer_marker_keeps_it_pending(tmp_path: Path) -> None:
    make_plain_tiff(tmp_path / "x.tif")
    (tmp_path / "x.tif.part").write_bytes(b"")
    age(tmp_path)
    complete, pending = split_complete(scan([tmp_path]), CompletionPolicy(quiet_seconds=1))
    assert not complete
    assert "marker" in pending[0].reason


def test_identity_is_content_not_path(tmp_path: Path) -> None:
    a = make_plain_tiff(tmp_path / "one" / "a.tif")
    (tmp_path / "two").mkdir()
    shutil.copy(a, tmp_path / "two" / "renamed.tif")
    make_plain_tiff(tmp_path / "three" / "a.tif", seed=99)
    prints = {
        c.source.relative_to(tmp_path).as_posix(): fingerprint(c).fingerprint
        for c in scan([tmp_path])
    }
    assert prints["one/a.tif"] == prints["two/renamed.tif"]
    assert prints["one/a.tif"] != prints["three/a.tif"]


def test_file_that_changes_while_read_is_incomplete(tmp_path: Path) -> None:
    f = make_plain_tiff(tmp_path / "x.tif")
    [cand] = scan([tmp_path])
    with f.open("ab") as fh:
        fh.write(b"more bytes arriving")
    with pytest.raises(IncompleteAcquisitionError, match="changed while it was read"):
        fingerprint(cand)


def test_known_hashes_are_reused(tmp_path: Path) -> None:
    make_plain_tiff(tmp_path / "x.tif")
    [cand] = scan([tmp_path])
    acq = fingerprint(cand, known=lambda p, s, m: "f" * 64)
    assert acq.files[0].sha256 == "f" * 64


def test_only_regular_files_are_candidates(tmp_path: Path) -> None:
    make_plain_tiff(tmp_path / "x.tif")
    os.mkfifo(tmp_path / "pipe.tif")  # reading it would block forever
    assert [c.source.name for c in scan([tmp_path])] == ["x.tif"]


def test_unreadable_file_is_retried_not_fatal(tmp_path: Path) -> None:
    from core.errors import UnreadableInputError

    make_plain_tiff(tmp_path / "x.tif")
    [cand] = scan([tmp_path])
    (tmp_path / "x.tif").unlink()
    (tmp_path / "x.tif").mkdir()  # same name, now unreadable as a file
    with pytest.raises(UnreadableInputError, match="cannot read"):
        fingerprint(cand)


@pytest.mark.parametrize("variant", ["master", "companion"])
def test_multifile_ome_tiff_is_one_acquisition(corpus: Path, tmp_path: Path, variant: str) -> None:
    inbox = tmp_path / variant
    shutil.copytree(corpus / "ome-tiff-multifile" / variant, inbox)
    [cand] = scan([inbox])
    assert len(cand.files) == (6 if variant == "companion" else 5)
    assert cand.missing == ()
    first = cand.files[0].relpath
    assert first.endswith(".companion.ome" if variant == "companion" else "Z1.ome.tiff")


def test_multifile_waits_for_missing_parts(corpus: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    shutil.copytree(corpus / "ome-tiff-multifile" / "companion", inbox)
    os.chmod(inbox, 0o755)
    (inbox / "multifile-Z4.ome.tiff").unlink()
    age(inbox)
    [cand] = scan([inbox])
    assert cand.missing == ("multifile-Z4.ome.tiff",)
    complete, pending = split_complete([cand], CompletionPolicy(quiet_seconds=1))
    assert not complete and "multifile-Z4.ome.tiff" in pending[0].reason
    (inbox / "multifile.companion.ome").unlink()
    stubs = scan([inbox])  # parts without their companion: each waits for it
    assert {c.missing for c in stubs} == {("multifile.companion.ome",)}


def test_label_images_join_their_image(tmp_path: Path) -> None:
    make_plain_tiff(tmp_path / "cells.ome.tif")
    make_plain_tiff(tmp_path / "cells.labels.nuclei.tif", seed=9)
    make_plain_tiff(tmp_path / "orphan.labels.cells.tif", seed=10)
    found = {c.source.name: c for c in scan([tmp_path])}
    assert set(found) == {"cells.ome.tif", "orphan.labels.cells.tif"}
    assert [f.relpath for f in found["cells.ome.tif"].files] == [
        "cells.ome.tif",
        "cells.labels.nuclei.tif",
    ]
    assert found["orphan.labels.cells.tif"].missing  # waits for its image, never archived alone


def test_a_renamed_single_file_ome_tiff_is_not_waiting_for_its_old_name(
    corpus: Path, tmp_path: Path
) -> None:
    """Its OME-XML still names the old file, with the file's own UUID: that is itself."""
    shutil.copy(corpus / "ome-tiff" / "single-channel.ome.tif", tmp_path / "renamed.ome.tif")
    age(tmp_path)
    complete, pending = split_complete(scan([tmp_path]), CompletionPolicy(quiet_seconds=0))
    assert pending == [] and [c.source.name for c in complete] == ["renamed.ome.tif"]


def test_a_renamed_file_without_its_own_uuid_is_not_waiting_for_its_old_name(
    corpus: Path, tmp_path: Path
) -> None:
    """No UUID of its own, one file named, every plane in this file: it is itself (13.16).

    It waited 24 hours for ``181003_multi_pos_time_course_1_MMStack.ome.tif``.
    """
    name = "renamed_internalfilenames.ome.tif"
    shutil.copy(corpus / "ome-tiff" / "edge" / name, tmp_path / name)
    age(tmp_path)
    complete, pending = split_complete(scan([tmp_path]), CompletionPolicy(quiet_seconds=0))
    assert pending == [] and [c.source.name for c in complete] == [name]
    assert complete[0].missing == ()


def test_empty_files_do_not_share_an_identity(tmp_path: Path) -> None:
    """Every empty file hashes alike; each empty acquisition is still its own (issue 13.4)."""
    for name in ("a/empty.tif", "b/empty.tif", "b/other.ome.tif", "c/slice.dcm"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    found = scan([tmp_path])
    assert len(found) == 4
    ids = {fingerprint(c).id for c in found}
    assert len(ids) == 4
    assert {fingerprint(c).id for c in scan([tmp_path])} == ids  # stable from pass to pass


def test_a_file_without_its_own_uuid_still_waits_for_the_other_file_it_names() -> None:
    """TiffData without a UUID are this file; a UUID beside them names another one."""
    from ingest.multifile import _names_only_itself

    def ome(*blocks: str) -> str:
        return '<OME xmlns="x"><Image><Pixels>' + "".join(blocks) + "</Pixels></Image></OME>"

    other = (
        '<TiffData IFD="0" PlaneCount="2"><UUID FileName="b.ome.tif">urn:uuid:b</UUID></TiffData>'
    )
    assert _names_only_itself(ome(other), pages=2)  # renamed: all planes here
    assert not _names_only_itself(ome(other), pages=1)  # planes this file does not hold
    assert not _names_only_itself(ome('<TiffData IFD="0" PlaneCount="2"/>', other), pages=2)
    two = other.replace("urn:uuid:b", "urn:uuid:c")
    assert not _names_only_itself(ome(other, two), pages=4)
