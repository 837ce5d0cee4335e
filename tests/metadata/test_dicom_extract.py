"""DICOM series: grouping, header checks, fields from the de-identified header only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from catalog.pseudonyms import PseudonymStore
from core.errors import CorruptInputError
from core.settings import Settings
from ingest import fingerprint, scan
from metadata import extract
from metadata.dicom_source import describe_dicom
from tests.factories import make_dicom_series


@pytest.fixture
def store(settings: Settings) -> Iterator[PseudonymStore]:
    s = PseudonymStore.from_settings(settings)
    yield s
    s.close()


def test_series_are_grouped_under_derived_names(
    tmp_path: Path, settings: Settings, store: PseudonymStore
) -> None:
    make_dicom_series(tmp_path / "in" / "SMITH^ANNA", n=4)
    make_dicom_series(tmp_path / "in" / "other", n=2, prefix="OTHER")
    found = [c for c in scan([tmp_path / "in"], dicom_key=store.key()) if c.kind == "dicom"]
    assert sorted(len(c.files) for c in found) == [2, 4]
    for cand in found:
        assert cand.source.parent == tmp_path / "in" and cand.source.name.startswith("dicom-")
        assert all(f.relpath.startswith("instance-") for f in cand.files)
    [four] = [c for c in found if len(c.files) == 4]
    record = extract(fingerprint(four), settings, store)
    assert record.value("image_acquisition.modality") == "CT"
    assert record.value("pixels.size_z") == 4
    assert record.value("pixels.physical_size_z") == pytest.approx(2.5)
    assert record.value("deidentification.patient_identity_removed") == "YES"
    text = record.model_dump_json()
    assert "SMITH" not in text and "DOE" not in text and "CANARY" not in text


def test_missing_instances_and_burned_in_text_become_notes(
    tmp_path: Path, settings: Settings, store: PseudonymStore
) -> None:
    files, _, _ = make_dicom_series(tmp_path / "s", n=3)
    files[1].unlink()  # instance 2 never arrived
    ds = pydicom.dcmread(files[0])
    ds.BurnedInAnnotation = "YES"
    ds.save_as(files[0])
    desc, fields = describe_dicom(
        tmp_path / "dicom-x", [(f, f.name) for f in (files[0], files[2])], settings, store
    )
    assert any("InstanceNumber runs 1..3" in n for n in desc.notes)
    assert fields["deidentification.burned_in_annotation"].value == "YES"


def test_pixel_data_shorter_than_declared_quarantines(
    tmp_path: Path, settings: Settings, store: PseudonymStore
) -> None:
    files, _, _ = make_dicom_series(tmp_path / "s", n=1)
    ds = pydicom.dcmread(files[0])
    ds.Rows = 32  # header now declares twice the pixels
    ds.save_as(files[0])
    with pytest.raises(CorruptInputError, match=r"dicom-x/s.*PixelData holds 640 bytes"):
        describe_dicom(tmp_path / "dicom-x", [(files[0], "s")], settings, store)


def test_whole_slide_optical_paths(corpus: Path, settings: Settings, store: PseudonymStore) -> None:
    _, fields = describe_dicom(
        Path("dicom-x"), [(corpus / "dicom" / "highdicom_sm_image.dcm", "i.dcm")], settings, store
    )
    assert fields["image_acquisition.optical_paths[0].illumination_type"].value == (
        "Brightfield illumination"
    )
