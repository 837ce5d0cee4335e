"""PS3.15 Annex E de-identification: every table attribute, nested sequences, private tags."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from catalog.pseudonyms import PseudonymStore
from metadata.deid import ANNEX_E_EDITION, DeidOptions, annex_e_rows, deidentify
from tests.factories import canary_dataset, scrub_identifiers

KEY = b"k" * 32


def _serialised(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_the_table_is_the_2024b_edition_with_621_rows() -> None:
    assert ANNEX_E_EDITION == "2024b"
    assert len(annex_e_rows()) == 621


def test_no_canary_survives_the_basic_profile() -> None:
    ds, canaries, covered = canary_dataset()
    assert covered > 400  # every exact-tag attribute that can hold text, a date or items
    report = deidentify(ds, DeidOptions(), key=KEY)
    data = scrub_identifiers(_serialised(ds))
    leaked = [c for c in canaries if c.encode() in data]
    assert leaked == []
    assert report.private_removed == 2
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100"]


def test_uids_become_consistent_pseudonyms_linked_only_in_the_store(tmp_path: Path) -> None:
    store = PseudonymStore(f"sqlite:///{tmp_path / 'phi' / 'p.sqlite'}")
    key = store.key()
    study = generate_uid()
    pseudonyms = []
    for _ in range(2):  # two instances of one study
        ds = Dataset()
        ds.StudyInstanceUID = study
        ds.SOPInstanceUID = generate_uid()
        ds.PatientID = "MRN-0042"
        deidentify(ds, DeidOptions(), key=key, record=store.record)
        pseudonyms.append((ds.StudyInstanceUID, ds.PatientID))
    store.flush()
    assert pseudonyms[0] == pseudonyms[1]
    assert pseudonyms[0][0] != study and pseudonyms[0][0].startswith("2.25.")
    assert store.original(pseudonyms[0][0]) == study
    assert store.original(pseudonyms[0][1]) == "MRN-0042"
    assert PseudonymStore(f"sqlite:///{tmp_path / 'phi' / 'p.sqlite'}").key() == key
    assert oct((tmp_path / "phi").stat().st_mode & 0o777) == "0o700"
    store.close()


def test_options_retain_what_the_facility_chose() -> None:
    ds = Dataset()
    ds.PatientID = "P1"
    ds.StudyDate = "20240315"
    ds.StationName = "SCANNER-7"
    ds.DeviceSerialNumber = "SN123"
    ds.StudyDescription = "Knee MRI for P1 Smith"
    ds.PatientName = "Smith^John"
    ds.PatientSex = "F"
    options = DeidOptions(
        retain_device_identity=True,
        retain_patient_characteristics=True,
        clean_descriptors=True,
        longitudinal_dates="modified",
    )
    deidentify(ds, options, key=KEY)
    assert ds.StationName == "SCANNER-7" and ds.DeviceSerialNumber == "SN123"
    assert ds.PatientSex == "F"
    assert ds.StudyDate != "20240315" and len(ds.StudyDate) == 8  # shifted, still a date
    assert "Smith" not in ds.StudyDescription and "Knee MRI" in ds.StudyDescription
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113109", "113108", "113105", "113107"]


@pytest.mark.parametrize(
    "name",
    [
        "deb-heudiconv_phantom.dcm",
        "highdicom_dx_image.dcm",
        "pydicom_MR_small.dcm",
        "highdicom_sm_image.dcm",
    ],
)
def test_corpus_headers_lose_their_identifiers(corpus: Path, name: str) -> None:
    ds = pydicom.dcmread(corpus / "dicom" / name, stop_before_pixels=True)
    before = {
        k: str(ds.get(k, ""))
        for k in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName")
    }
    report = deidentify(ds, DeidOptions(), key=KEY)
    values = {str(elem.value) for elem in ds.iterall() if elem.VR != "SQ"}
    for value in before.values():
        if len(value) > 3:
            assert value not in values, value
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert report.actions
