"""Describe a DICOM series: de-identify its headers, then map them to OME and record fields.

Everything here is computed from the de-identified headers only, so nothing identifying can
reach the record, the OME-XML, the archive or the catalog. The pseudonym links go to the
pseudonym store, which is not archived.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
from ome_types import OME
from ome_types.model import Channel, Image, UnitsLength, UnitsTime
from pydantic import JsonValue

from core.dicomio import (
    DicomInstance,
    DicomScene,
    frame_positions,
    quiet_pydicom,
    read_series,
)
from core.omeutil import GENERATED_BY, default_color
from core.records import Sourced
from core.settings import Settings
from metadata.deid import ANNEX_E_EDITION, DeidOptions, PseudonymSink, deidentify
from metadata.omebuild import generated_pixels, vendor_text
from metadata.tiff import TiffDescription, rgba

__all__ = ["deid_options", "describe_dicom", "series_files"]

#: record field -> DICOM keyword (read from the de-identified header)
_FIELDS = {
    "image_acquisition.modality": "Modality",
    "image_acquisition.body_part": "BodyPartExamined",
    "image_acquisition.protocol": "ProtocolName",
    "image_acquisition.pixel_spacing": "PixelSpacing",
    "image_acquisition.slice_thickness": "SliceThickness",
    "image_acquisition.spacing_between_slices": "SpacingBetweenSlices",
    "image_acquisition.image_orientation_patient": "ImageOrientationPatient",
    "image_acquisition.image_position_patient": "ImagePositionPatient",
    "image_acquisition.magnetic_field_strength": "MagneticFieldStrength",
    "image_acquisition.echo_time": "EchoTime",
    "image_acquisition.repetition_time": "RepetitionTime",
    "image_acquisition.kvp": "KVP",
    "image_acquisition.exposure": "Exposure",
    "image_acquisition.frame_time": "FrameTime",
    "instrument.manufacturer": "Manufacturer",
    "instrument.model": "ManufacturerModelName",
    "instrument.station_name": "StationName",
    "instrument.serial_number": "DeviceSerialNumber",
    "instrument.software_versions": "SoftwareVersions",
    "deidentification.patient_identity_removed": "PatientIdentityRemoved",
    "deidentification.method": "DeidentificationMethod",
    "deidentification.longitudinal_temporal_information": "LongitudinalTemporalInformationModified",
}
_DUMMIES = {"", "ANONYMIZED", "ANONYMOUS", "19000101"}
_HEADER_TEXT_CAP = 256 * 1024


def deid_options(settings: Settings) -> DeidOptions:
    """The facility's de-identification options, from the settings."""
    return DeidOptions(
        retain_device_identity=settings.dicom_retain_device_identity,
        retain_institution_identity=settings.dicom_retain_institution_identity,
        retain_patient_characteristics=settings.dicom_retain_patient_characteristics,
        clean_descriptors=settings.dicom_clean_descriptors,
        longitudinal_dates=settings.dicom_date_policy,
    )


def series_files(source: Path, files: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """(real path, derived name) of each instance, the name prefixed by the series name."""
    return [(path, f"{source.name}/{name}") for path, name in files]


def _plain(value: Any) -> JsonValue:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _spacing(
    headers: list[Any], instances: list[DicomInstance], scene: DicomScene
) -> tuple[float | None, float | None, float | None]:
    ds = headers[0]
    spacing = ds.get("PixelSpacing")
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if spacing is None and ds.get(groups):
            measures = ds.get(groups)[0].get("PixelMeasuresSequence")
            spacing = measures[0].get("PixelSpacing") if measures else None
    y, x = (
        (float(spacing[0]), float(spacing[1]))
        if spacing is not None and len(spacing) == 2
        else (None, None)
    )
    z = None
    positions = sorted(i.position for i in instances if i.position is not None)
    if len(headers) == 1:
        positions = sorted(frame_positions(ds) or positions)
    if len(positions) > 1 and len(positions) == scene.shape[2]:
        z = float(np.median(np.diff(positions))) or None
    if z is None and scene.shape[2] > 1:
        shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
        measures = (shared.get("PixelMeasuresSequence") or [None])[0] if shared else None
        for holder in (ds, measures):
            for keyword in ("SpacingBetweenSlices", "SliceThickness"):
                if z is None and holder is not None and holder.get(keyword):
                    z = float(holder.get(keyword))
    return z, y, x


def _ome(name: str, headers: list[Any], instances: list[DicomInstance], scene: DicomScene) -> OME:
    sz, sy, sx = _spacing(headers, instances, scene)
    modality = str(headers[0].get("Modality", "") or "DICOM")
    names = ["R", "G", "B", "A"] if scene.samples > 1 else [modality]
    colors = (
        ["FF0000", "00FF00", "0000FF", "FFFFFF"] if scene.samples > 1 else [default_color(0, 1)]
    )
    frame_ms = headers[0].get("FrameTime")
    pixels = generated_pixels(
        0,
        scene.dtype,
        scene.shape,
        (sz, sy, sx),
        [
            Channel(
                id=f"Channel:0:{k}",
                name=names[k % len(names)],
                samples_per_pixel=1,
                color=rgba(colors[k % len(colors)]),
            )
            for k in range(scene.shape[1])
        ],
        unit=UnitsLength.MILLIMETER,
        time_increment=float(frame_ms) if frame_ms else None,
        time_unit=UnitsTime.MILLISECOND,
    )
    return OME(
        images=[Image(id="Image:0", name=name, pixels=pixels)], creator=f"{GENERATED_BY}pydicom"
    )


#: optical path (whole-slide microscopy) field -> keyword inside an OpticalPathSequence item
_OPTICAL = {
    "identifier": "OpticalPathIdentifier",
    "illumination_wavelength": "IlluminationWaveLength",
    "objective_lens_power": "ObjectiveLensPower",
    "objective_lens_numerical_aperture": "ObjectiveLensNumericalAperture",
}


def _optical_paths(ds: Any) -> dict[str, Sourced]:
    """The optical paths of a whole-slide (SM) image: illumination and objective."""
    out: dict[str, Sourced] = {}
    for i, item in enumerate(ds.get("OpticalPathSequence") or []):
        base = f"image_acquisition.optical_paths[{i}]"
        for name, keyword in _OPTICAL.items():
            if item.get(keyword) is not None:
                out[f"{base}.{name}"] = Sourced(
                    value=_plain(item.get(keyword)), source=f"dicom:OpticalPathSequence/{keyword}"
                )
        for seq, name in (
            ("IlluminationTypeCodeSequence", "illumination_type"),
            ("IlluminationColorCodeSequence", "illumination_color"),
        ):
            codes = item.get(seq)
            if codes and codes[0].get("CodeMeaning"):
                out[f"{base}.{name}"] = Sourced(
                    value=str(codes[0].CodeMeaning), source=f"dicom:OpticalPathSequence/{seq}"
                )
    return out


def _header_json(ds: Any) -> dict[str, JsonValue]:
    doc = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda _: "")
    return vendor_text("dicom-json", json.dumps(doc), cap=_HEADER_TEXT_CAP)


def describe_dicom(
    source: Path, files: list[tuple[Path, str]], settings: Settings, pseudonyms: PseudonymSink
) -> tuple[TiffDescription, dict[str, Sourced]]:
    """De-identify and describe the series; return the description and its record fields.

    ``source`` is the series' derived name, ``files`` (real path, derived instance name);
    ``pseudonyms`` supplies the key and keeps the links back (the pseudonym store).
    """
    headers, instances, scene, notes = read_series(
        series_files(source, files), max_input_bytes=settings.max_input_bytes
    )
    options = deid_options(settings)
    key = pseudonyms.key()
    burned = None
    with quiet_pydicom():
        # only the first header leaves memory (record, OME, archive): it is de-identified;
        # the others, read for layout only, are checked for burned-in annotations
        burned = deidentify(headers[0], options, key=key, record=pseudonyms.record).burned_in
        for ds in headers[1:]:
            burned = burned or ("YES" if ds.get("BurnedInAnnotation") == "YES" else None)
        header = _header_json(headers[0])
    pseudonyms.flush()
    first = headers[0]
    fields: dict[str, Sourced] = {}
    for path, keyword in _FIELDS.items():
        value = first.get(keyword)
        if value is None or str(value) in _DUMMIES:
            continue
        tag = first.data_element(keyword).tag
        fields[path] = Sourced(
            value=_plain(value), source=f"dicom:({tag.group:04X},{tag.element:04X})"
        )
    fields.update(_optical_paths(first))
    fields["deidentification.profile_edition"] = Sourced(
        value=ANNEX_E_EDITION, source="fairway:deid"
    )
    fields["deidentification.options"] = Sourced(
        value=[code for code, _ in options.codes()], source="fairway:deid"
    )
    if burned:
        notes.append(
            f"BurnedInAnnotation: {burned}; pixels may show identifying text (not cleaned)"
        )
        fields["deidentification.burned_in_annotation"] = Sourced(
            value=burned, source="dicom:(0028,0301)"
        )
    ome = _ome(source.name, headers, instances, scene)
    unmapped: dict[str, dict[str, JsonValue]] = {"dicom.header": header}
    if notes:
        unmapped["fairway.notes"] = {"dicom": list(notes)}
    desc = TiffDescription(
        ome=ome,
        ome_xml=ome_types.to_xml(ome),
        origin="generated",
        file_format=f"DICOM {first.get('Modality', '')}".strip(),
        unmapped=unmapped,
        notes=notes,
    )
    return desc, fields
