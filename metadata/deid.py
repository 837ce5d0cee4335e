"""De-identify DICOM headers with the PS3.15 Annex E Basic Profile, loaded as data.

The profile is Table E.1-1 of the edition in ``schemas/dicom`` (621 rows in 2024b). Each
attribute gets the action of the basic profile, or of an option the facility chose:

* ``X`` remove, ``Z`` empty, ``D`` dummy value, ``K`` keep, ``U`` consistent pseudonym UID,
  ``C`` clean (free text: kept only with every token of the identifying attributes of the
  same dataset removed; dates: shifted).
* Conditional codes depend on the attribute's type in its IOD, which a header alone does
  not tell; fairway takes the form that both removes the content and keeps the dataset
  valid: ``Z/D``, ``X/D``, ``X/Z/D`` -> ``D``; ``X/Z`` -> ``Z``; ``X/Z/U*`` -> ``U``.

Sequences are recursed (an item's attributes get the same rules); private attributes are
removed; curve and overlay groups (50xx, 60xx) follow their repeating-group rows. UIDs and
the patient become pseudonyms derived with a key from the :class:`PseudonymStore`, which is
the only place where the link back is kept. The profile, options and edition are recorded
in the dataset (PatientIdentityRemoved, DeidentificationMethod and its code sequence).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal, Protocol

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

__all__ = [
    "ANNEX_E_EDITION",
    "DeidOptions",
    "DeidReport",
    "PseudonymSink",
    "annex_e_rows",
    "deidentify",
]

ANNEX_E_EDITION = "2024b"

#: option -> (column of Table E.1-1, CID 7050 code, meaning)
_OPTIONS = {
    "retain_device_identity": ("rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    "retain_institution_identity": ("rtnInstIdOpt", "113112", "Retain Institution Identity Option"),
    "retain_patient_characteristics": (
        "rtnPatCharsOpt",
        "113108",
        "Retain Patient Characteristics Option",
    ),
    "clean_descriptors": ("cleanDescOpt", "113105", "Clean Descriptors Option"),
}
_DATES = {
    "full": (
        "rtnLongFullDatesOpt",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "modified": (
        "rtnLongModifDatesOpt",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
}
_CONDITIONAL = {"Z/D": "D", "X/D": "D", "X/Z/D": "D", "X/Z": "Z", "X/Z/U*": "U"}
_DUMMY = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "PN": "ANONYMOUS",
    "AS": "000Y",
    "UI": "2.25.0",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "FL": 0.0,
    "FD": 0.0,
}


class PseudonymSink(Protocol):
    """Where pseudonyms come from and their links back go (``catalog.PseudonymStore``)."""

    def key(self) -> bytes:
        """The secret key pseudonyms are derived from."""
        ...

    def record(self, kind: str, original: str, pseudonym: str) -> None:
        """Remember that ``pseudonym`` stands for ``original``."""
        ...

    def flush(self) -> None:
        """Write the remembered links."""
        ...


@dataclass(frozen=True)
class DeidOptions:
    """The Annex E options a facility chose (UIDs are always replaced by pseudonyms)."""

    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    clean_descriptors: bool = False
    #: "none": dates removed; "modified": shifted per patient; "full": kept
    longitudinal_dates: Literal["none", "modified", "full"] = "none"

    def codes(self) -> list[tuple[str, str]]:
        """CID 7050 (code, meaning) of the profile and every option applied."""
        out = [("113100", "Basic Application Confidentiality Profile")]
        out += [
            (code, meaning) for name, (_, code, meaning) in _OPTIONS.items() if getattr(self, name)
        ]
        if self.longitudinal_dates != "none":
            out.append(_DATES[self.longitudinal_dates][1:])
        return out


@dataclass
class DeidReport:
    """What de-identification did to one dataset."""

    actions: dict[str, int] = field(default_factory=dict)
    private_removed: int = 0
    burned_in: str | None = None

    def count(self, action: str) -> None:
        """Count one application of ``action``."""
        self.actions[action] = self.actions.get(action, 0) + 1


@cache
def annex_e_rows() -> tuple[dict[str, str], ...]:
    """The rows of Table E.1-1 of :data:`ANNEX_E_EDITION`."""
    text = (
        resources.files("schemas")
        .joinpath("dicom", f"annex_e_{ANNEX_E_EDITION}.json")
        .read_text(encoding="utf-8")
    )
    rows: list[dict[str, str]] = json.loads(text)["rows"]
    return tuple(rows)


@dataclass(frozen=True)
class _Rule:
    mask: int  # bits that must match
    value: int
    row: dict[str, str]


@cache
def _rules() -> tuple[dict[int, dict[str, str]], tuple[_Rule, ...]]:
    exact: dict[int, dict[str, str]] = {}
    masked: list[_Rule] = []
    for row in annex_e_rows():
        tag = row["tag"].strip("()").replace(",", "").upper()
        if not re.fullmatch(r"[0-9A-FX]{8}", tag):
            continue  # the private-attribute row: handled by removing every private tag
        if "X" in tag:
            mask = int("".join("0" if ch == "X" else "F" for ch in tag), 16)
            value = int(tag.replace("X", "0"), 16)
            masked.append(_Rule(mask, value, row))
        else:
            exact[int(tag, 16)] = row
    return exact, tuple(masked)


def _row(tag: BaseTag) -> dict[str, str] | None:
    exact, masked = _rules()
    row = exact.get(int(tag))
    if row is not None:
        return row
    return next((r.row for r in masked if int(tag) & r.mask == r.value), None)


def _action(row: dict[str, str], options: DeidOptions) -> str:
    chosen = [
        row[column]
        for name, (column, _, _) in _OPTIONS.items()
        if getattr(options, name) and column in row
    ]
    if options.longitudinal_dates != "none":
        column = _DATES[options.longitudinal_dates][0]
        if column in row:
            chosen.append(row[column])
    if "K" in chosen:
        return "K"
    if chosen:
        return chosen[0]
    basic = row["basicProfile"]
    return _CONDITIONAL.get(basic, basic)


class _Keys:
    """Pseudonyms derived from a secret key: the same input gives the same pseudonym."""

    def __init__(self, key: bytes, record: Any) -> None:
        self._key = key
        self._record = record  # callable(kind, original, pseudonym) keeping the link back

    def digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()

    def uid(self, value: str) -> str:
        out = "2.25." + str(int.from_bytes(self.digest("uid", value)[:16], "big"))
        self._record("uid", value, out)
        return out

    def patient(self, value: str) -> str:
        out = "FW-" + self.digest("patient", value).hex()[:16].upper()
        self._record("patient", value, out)
        return out

    def shift_days(self, patient: str) -> int:
        """A per-patient date shift of 1..3650 days into the past."""
        return 1 + int.from_bytes(self.digest("shift", patient)[:4], "big") % 3650


def _shift_date(text: str, days: int) -> str:
    try:
        d = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except (ValueError, IndexError):
        return "19000101"
    return (d - timedelta(days=days)).strftime("%Y%m%d") + text[8:]


def _identifying_tokens(ds: Dataset) -> set[str]:
    tokens: set[str] = set()
    for keyword in (
        "PatientName",
        "PatientID",
        "OtherPatientIDs",
        "PatientBirthDate",
        "ReferringPhysicianName",
        "InstitutionName",
        "AccessionNumber",
        "OperatorsName",
        "PerformingPhysicianName",
    ):
        value = ds.get(keyword)
        if value is not None:
            tokens.update(t for t in re.split(r"[\^\s,;/\\=]+", str(value)) if len(t) >= 2)
    return tokens


def _clean_text(text: str, tokens: set[str]) -> str:
    for token in sorted(tokens, key=len, reverse=True):
        text = re.sub(re.escape(token), "", text, flags=re.IGNORECASE)
    return text.strip()


def _vr(ds: Dataset, tag: BaseTag) -> str:
    """The VR of an element without decoding its value (implicit VR: the dictionary's)."""
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None)
    if vr:
        return str(vr)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _apply(
    ds: Dataset, options: DeidOptions, keys: _Keys, ctx: dict[str, Any], report: DeidReport
) -> None:
    # values are decoded only where an action needs them (U, C, UIDs, kept sequences):
    # most attributes are removed or replaced, and decoding them would dominate the cost
    for tag in list(ds.keys()):
        if tag.is_private:
            del ds[tag]
            report.private_removed += 1
            continue
        if tag.group == 0x0002:
            continue  # file meta: rewritten by the caller
        vr = _vr(ds, tag)
        row = _row(tag)
        if row is None:
            if vr == "SQ":
                for item in ds[tag].value:
                    _apply(item, options, keys, ctx, report)
            continue
        action = _action(row, options)
        report.count(action)
        if action == "X":
            del ds[tag]
            continue
        if action == "Z":
            ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else "")
            continue
        if action == "D" and vr not in ("SQ", "UI") and tag != 0x00100020:
            ds[tag] = DataElement(tag, vr, _DUMMY.get(vr, "ANONYMIZED"))
            continue
        if action == "K" and vr != "SQ":
            continue
        elem = ds[tag]
        if action == "D":
            if elem.VR == "SQ":
                elem.value = Sequence()
            elif elem.VR == "UI":
                elem.value = keys.uid(str(elem.value))
            else:  # Patient ID: a consistent pseudonym, useful longitudinally
                elem.value = keys.patient(ctx["patient"])
        elif action == "U":
            if elem.VR == "SQ":
                for item in elem.value:
                    _apply(item, options, keys, ctx, report)
            elif elem.value:
                values = elem.value if elem.VM > 1 else [elem.value]
                elem.value = (
                    [keys.uid(str(v)) for v in values] if elem.VM > 1 else keys.uid(str(values[0]))
                )
        elif action == "C":
            if elem.VR == "SQ":
                for item in elem.value:
                    _apply(item, options, keys, ctx, report)
            elif elem.VR in ("DA", "DT"):
                elem.value = _shift_date(str(elem.value), ctx["shift"]) if elem.value else ""
            elif elem.VR == "TM":
                continue  # times of day carry no date; kept with the modified dates
            elif isinstance(elem.value, str):
                elem.value = _clean_text(elem.value, ctx["tokens"])
            else:
                del ds[tag]
        elif action == "K" and elem.VR == "SQ":
            for item in elem.value:
                _apply(item, options, keys, ctx, report)


def deidentify(ds: Dataset, options: DeidOptions, *, key: bytes, record: Any = None) -> DeidReport:
    """De-identify ``ds`` in place (see module docs); return what was done.

    ``key`` derives the pseudonyms (from the :class:`PseudonymStore`); ``record(kind,
    original, pseudonym)`` is called for each pseudonym so the store can keep the link back.
    """
    keys = _Keys(key, record or (lambda *_: None))
    patient = str(ds.get("PatientID", "") or ds.get("PatientName", "") or "")
    ctx = {
        "patient": patient,
        "shift": keys.shift_days(patient) if options.longitudinal_dates == "modified" else 0,
        "tokens": _identifying_tokens(ds),
    }
    report = DeidReport()
    burned = ds.get("BurnedInAnnotation")
    modality = str(ds.get("Modality", ""))
    if burned == "YES" or (burned is None and modality in {"US", "SC", "XC", "OT", "ES"}):
        report.burned_in = str(burned or f"unknown ({modality} often carries burned-in text)")
    _apply(ds, options, keys, ctx, report)
    ds.PatientIdentityRemoved = "YES"
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        if "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = keys.uid(str(meta.MediaStorageSOPInstanceUID))
        for keyword in (
            "SourceApplicationEntityTitle",
            "SendingApplicationEntityTitle",
            "ReceivingApplicationEntityTitle",
            "PrivateInformation",
        ):
            if keyword in meta:
                delattr(meta, keyword)
    ds.DeidentificationMethod = f"PS3.15 E.1-1 {ANNEX_E_EDITION} " + "+".join(
        code for code, _ in options.codes()
    )
    codes = []
    for code, meaning in options.codes():
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    ds.LongitudinalTemporalInformationModified = {
        "none": "REMOVED",
        "modified": "MODIFIED",
        "full": "UNMODIFIED",
    }[options.longitudinal_dates]
    return report
