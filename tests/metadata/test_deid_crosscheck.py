"""fairway's PS3.15 Annex E de-identification against an independent one: dicognito.

Every corpus DICOM file (single instances, the DICOMDIR series, the PHI samples) is
de-identified by both. Every attribute dicognito removes or replaces, at any depth of
nesting, fairway must remove or replace too, except the reasoned exceptions in
:data:`EXCEPTIONS`, where dicognito replaces a value the standard says to keep (see
``schemas/dicom/CROSSCHECK.md``, which also lists where fairway is the stricter one).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from dicognito.anonymizer import Anonymizer
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from metadata.deid import DeidOptions, annex_e_rows, deidentify
from tests.conftest import CORPUS

# the corpus holds values longer than their VR allows; pydicom warns when they are read
pytestmark = pytest.mark.filterwarnings(
    "ignore:(The value length|Invalid value for VR):UserWarning"
)
Path_ = tuple[int, ...]  # tag, item index, tag, ... down to one element


def _well_known(value: str) -> bool:
    """A UID the DICOM standard itself defines (PS3.6 Annex A): a class, not an instance."""
    return value.startswith("1.2.840.10008.")


def _coding_scheme(value: str) -> bool:
    """A registered coding scheme (PS3.16 Table 8-1): DICOM's own, or HL7's OIDs (SNOMED CT)."""
    return _well_known(value) or value.startswith("2.16.840.1.113883.")


#: keyword -> (why fairway keeps what dicognito replaces, what every kept value must satisfy)
EXCEPTIONS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "ReferencedSOPClassUIDInFile": (
        "a DICOMDIR record's SOP Class: a well-known UID naming a class of object, not in "
        "Table E.1-1; replaced, the DICOMDIR no longer says what the file holds",
        _well_known,
    ),
    "ReferencedTransferSyntaxUIDInFile": (
        "a DICOMDIR record's transfer syntax: a well-known UID, not in Table E.1-1; replaced, "
        "the referenced file can no longer be decoded from its directory record",
        _well_known,
    ),
    "CodingSchemeUID": (
        "the UID of a coding scheme (DCM, SRT...): a well-known UID, not in Table E.1-1; "
        "replaced, the codes of the dataset lose their scheme",
        _coding_scheme,
    ),
    "CreatorVersionUID": (
        "names the software version that made the instance (the vendor's UID root), no "
        "patient, study or instance; not in Table E.1-1, kept as provenance",
        lambda value: value.count(".") >= 2,
    ),
}


def _flat(ds: Dataset, prefix: Path_ = ()) -> dict[Path_, str]:
    """Every element of ``ds`` (file meta included) by its path, with its value as text."""
    out: dict[Path_, str] = {}
    for elem in ds:
        key = (*prefix, int(elem.tag))
        if elem.VR == "SQ":
            out[key] = f"<{len(elem.value)} items>"
            for i, item in enumerate(elem.value):
                out |= _flat(item, (*key, i))
        else:
            out[key] = str(elem.value)
    meta = getattr(ds, "file_meta", None)
    if not prefix and meta is not None:
        out |= _flat(meta, (-1,))
    return out


def _name(path: Path_) -> str:
    return "/".join(
        str(k) if 0 <= k < 0x10000 else (keyword_for_tag(k) or f"{k:08X}") for k in path if k != -1
    )


def _read(path: Path, *, pixels: bool = True) -> Dataset | None:
    """The DICOM instance or directory in ``path``; None for anything else (a licence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=not pixels)
        except Exception:  # noqa: BLE001 - not a DICOM file: nothing to compare
            return None
    if "SOPClassUID" not in ds and "DirectoryRecordSequence" not in ds:
        return None
    return ds


def _corpus_files() -> list[Path]:
    root = CORPUS / "dicom"
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix not in (".txt", ".json", ".md") and _read(p, pixels=False)
    ]


def _both(ds: Dataset) -> tuple[dict[Path_, str], dict[Path_, str]]:
    """(dicognito's result, fairway's result), each of a copy of ``ds``."""
    theirs, ours = copy.deepcopy(ds), copy.deepcopy(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn about the corpus files' invalid values
        Anonymizer(seed="fairway-crosscheck").anonymize(theirs)
        deidentify(ours, DeidOptions(), key=b"k" * 32)
    return _flat(theirs), _flat(ours)


FILES = _corpus_files()


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(CORPUS).as_posix() for p in FILES])
def test_fairway_removes_or_replaces_all_that_dicognito_does(path: Path) -> None:
    ds = _read(path)
    assert ds is not None
    before = _flat(ds)
    theirs, ours = _both(ds)
    kept: dict[str, list[str]] = {}
    for key, value in before.items():
        touched = theirs.get(key) != value
        if touched and ours.get(key) == value and value not in ("", "0", "[]"):
            kept.setdefault(_name(key), []).append(value)
    unexplained = {
        name: values
        for name, values in kept.items()
        if name.rsplit("/", 1)[-1] not in EXCEPTIONS
        or not all(EXCEPTIONS[name.rsplit("/", 1)[-1]][1](v) for v in values)
    }
    assert unexplained == {}, "dicognito removes or replaces these, fairway keeps them"


def test_the_exceptions_are_outside_table_e1() -> None:
    """An exception may only be an attribute the profile's table does not name."""
    listed = {row["id"].upper() for row in annex_e_rows()}
    for keyword in EXCEPTIONS:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        assert tag is not None, keyword
        assert f"{tag:08X}" not in listed, keyword


def test_the_crosscheck_has_material(corpus: Path) -> None:
    """The corpus holds the series and the PHI samples (an empty list would prove nothing)."""
    names = {p.relative_to(corpus / "dicom").parts[0] for p in FILES}
    assert {"series_dicomdir", "phi"} <= names
    assert len(FILES) >= 100
