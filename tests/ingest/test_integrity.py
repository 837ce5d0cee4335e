"""check_unchanged: the files read are the files identified (issue 13.1), as a library call."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.errors import RetryableError, SourceChangedError
from core.records import Acquisition
from ingest import check_unchanged, fingerprint, scan
from tests.factories import age, make_dicom_series, make_ome_tiff


def _identified(folder: Path) -> tuple[Path, Path, Acquisition]:
    image = make_ome_tiff(folder / "cells.ome.tif")
    side = folder / "fairway.yaml"
    side.write_text("study:\n  title: a study\n", encoding="utf-8")
    age(folder)
    (cand,) = scan([folder])
    return image, side, fingerprint(cand)


def test_untouched_files_pass(tmp_path: Path) -> None:
    _, _, acq = _identified(tmp_path)
    check_unchanged(acq)


def test_content_changed_with_size_and_mtime_put_back_is_caught(tmp_path: Path) -> None:
    image, _, acq = _identified(tmp_path)
    st = image.stat()
    with image.open("r+b") as fh:
        fh.seek(st.st_size // 2)
        fh.write(b"\xff" * 64)
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(SourceChangedError, match="no longer matches the hash") as err:
        check_unchanged(acq)
    assert isinstance(err.value, RetryableError)
    assert str(image) in str(err.value) and "taken again when quiet" in str(err.value)


def test_grown_file_and_changed_sidecar_are_caught(tmp_path: Path) -> None:
    image, _, acq = _identified(tmp_path)
    with image.open("ab") as fh:
        fh.write(b"\0" * 1024)
    with pytest.raises(SourceChangedError, match="size went from"):
        check_unchanged(acq)
    _, side2, acq2 = _identified(tmp_path / "again")
    side2.write_text("study:\n  title: another study\n", encoding="utf-8")
    with pytest.raises(SourceChangedError) as err:
        check_unchanged(acq2)
    assert str(side2) in str(err.value)


def test_a_file_replaced_by_another_is_caught(tmp_path: Path) -> None:
    image, _, acq = _identified(tmp_path)
    copy = tmp_path / "copy.tmp"
    shutil.copy2(image, copy)
    os.replace(copy, image)  # same bytes and mtime, another file
    with pytest.raises(SourceChangedError, match="replaced"):
        check_unchanged(acq)


def test_a_deleted_file_behaves_as_before(tmp_path: Path) -> None:
    image, _, acq = _identified(tmp_path)
    image.unlink()
    check_unchanged(acq)


def test_a_changed_dicom_file_is_named_by_its_derived_name(tmp_path: Path) -> None:
    """Scanner file names carry patient names: the refusal names the derived instance."""
    files, _, _ = make_dicom_series(tmp_path / "CANARY_DOE^JOHN", n=2)
    age(tmp_path)
    (cand,) = scan([tmp_path])
    acq = fingerprint(cand)
    with files[1].open("ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(SourceChangedError) as err:
        check_unchanged(acq)
    assert "CANARY" not in str(err.value) and "DOE" not in str(err.value)
    assert str(acq.source) in str(err.value)
