"""Every conditional rule and controlled vocabulary of the schemas: valid and invalid examples."""

from __future__ import annotations

from typing import Any

import pytest

from core.records import MetadataRecord, Sourced
from validators import check_record


def _record(fields: dict[str, Any]) -> MetadataRecord:
    return MetadataRecord(
        fields={k: Sourced(value=v, source="test") for k, v in fields.items()},
        ome_xml="",
        ome_xml_origin="generated",
    )


def _paths(fields: dict[str, Any]) -> dict[str, str]:
    return {f.path: f.message for f in check_record(_record(fields))}


# (rule, fields that make it apply, the field it then asks for, the value that satisfies it,
#  fields where it does not apply)
RULES = [
    (
        "z step if SizeZ > 1",
        {"pixels.size_z": 12},
        "pixels.physical_size_z",
        0.3,
        {"pixels.size_z": 1},
    ),
    (
        "time step if SizeT > 1",
        {"pixels.size_t": 5},
        "pixels.time_increment",
        2.0,
        {"pixels.size_t": 1},
    ),
    (
        "environment if live",
        {"specimen.live_sample": True},
        "image.imaging_environment.co2_percent",
        5.0,
        {"specimen.live_sample": False},
    ),
    (
        "pinhole if confocal mode",
        {"channels[0].acquisition_mode": "LaserScanningConfocalMicroscopy"},
        "channels[0].pinhole_size",
        50.0,
        {"channels[0].acquisition_mode": "WideField"},
    ),
    (
        "pinhole if the imaging method is confocal",
        {
            "acquisition.imaging_method[0].term_id": "http://purl.obolibrary.org/obo/FBbi_00000252",
            "channels[0].name": "GFP",
        },
        "channels[0].pinhole_size",
        50.0,
        {
            "acquisition.imaging_method[0].term_id": "http://purl.obolibrary.org/obo/FBbi_00100013",
            "channels[0].name": "GFP",
        },
    ),
    (
        "binning if the detector is a camera",
        {"channels[0].detector_settings.detector_type": "CMOS"},
        "channels[0].detector_settings.binning",
        "1x1",
        {"channels[0].detector_settings.detector_type": "PMT"},
    ),
    (
        "read-out rate if the detector is a camera",
        {"channels[0].detector_settings.detector_type": "CCD"},
        "channels[0].detector_settings.read_out_rate",
        10.0,
        {"channels[0].detector_settings.detector_type": "APD"},
    ),
    (
        "voltage if the detector is a PMT",
        {"channels[0].detector_settings.detector_type": "PMT"},
        "channels[0].detector_settings.voltage",
        650.0,
        {"channels[0].detector_settings.detector_type": "CMOS"},
    ),
    (
        "EM gain if the camera has a gain register",
        {"channels[0].detector_settings.detector_type": "EMCCD"},
        "channels[0].detector_settings.amplification_gain",
        300.0,
        {"channels[0].detector_settings.detector_type": "CCD"},
    ),
    (
        "sensor pixel size if the detector is a camera",
        {"detectors[0].type": "CMOS"},
        "detectors[0].pixel_width",
        6.5,
        {"detectors[0].type": "PMT"},
    ),
    (
        "laser modulation if the light source is a laser",
        {"light_sources[0].kind": "Laser"},
        "light_sources[0].modulation",
        "Digital",
        {"light_sources[0].kind": "LightEmittingDiode"},
    ),
    (
        "wavelengths if the channel is fluorescence",
        {"channels[0].contrast_method": "Fluorescence"},
        "channels[0].excitation_wavelength",
        488.0,
        {"channels[0].contrast_method": "Brightfield"},
    ),
    (
        "MIFA annotations if the dataset has labels",
        {"image_data.labels[0]": "nuclei"},
        "annotations.method",
        "manual",
        {"image_data.type": "primary"},
    ),
    (
        "processing method if the image data is processed",
        {"image_data.type": "processed"},
        "image_data.processing_method",
        "deconvolution",
        {"image_data.type": "primary"},
    ),
]


@pytest.mark.parametrize(
    ("rule", "applies", "field", "value", "not_applies"), RULES, ids=[r[0] for r in RULES]
)
def test_conditional_rule(
    rule: str, applies: dict[str, Any], field: str, value: Any, not_applies: dict[str, Any]
) -> None:
    missing = _paths(applies)
    assert field in missing, rule
    assert "required when" in missing[field]
    finding = next(f for f in check_record(_record(applies)) if f.path == field)
    assert finding.level == "conditional"
    assert field not in _paths({**applies, field: value}), rule
    assert field not in _paths(not_applies), rule


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (
            "acquisition.imaging_method[0].term_id",
            "http://purl.obolibrary.org/obo/FBbi_00000253",
            "FBbi_253",
        ),
        ("acquisition.imaging_method[0].term_id", "FBbi:00000253", "confocal"),
        ("biosample.organism[0].ncbi_taxon", "NCBITaxon:9606", "taxon 9606"),
        ("biosample.organism[0].ncbi_taxon", "NCBI:txid10090", "NCBITaxon:mouse"),
        ("study.license", "CC0-1.0", "CC-BY"),
        ("study.authors[0].orcid", "0000-0002-1825-0097", "0000-0002-1825"),
        ("objective.immersion", "Oil", "oily"),
        ("instrument.microscope.type", "Inverted", "inverted-ish"),
        ("channels[0].illumination_type", "Epifluorescence", "Epi"),
        ("specimen.cover_glass.number", "#1.5H", "1.5"),
        ("experiment.purpose", "Localization", "Looking"),
        ("annotations.types", ["segmentation_mask"], ["masks"]),
        ("objective.lens_na", 1.4, 2.4),
    ],
)
def test_vocabularies_and_identifier_forms(field: str, good: Any, bad: Any) -> None:
    def value_findings(value: Any) -> list[str]:
        fields = {field: value} if not isinstance(value, list) else {f"{field}[0]": value[0]}
        return [
            f.message
            for f in check_record(_record(fields))
            if f.path.startswith(field) and not f.message.startswith("missing")
        ]

    assert value_findings(good) == []
    assert value_findings(bad), f"{bad!r} accepted for {field}"
