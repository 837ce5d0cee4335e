"""Values a curator can accept instead of typing: drafts and lookups from what the record holds.

Nothing here is written into a record by itself. The gap report shows each suggestion as
"auto-fillable from …" beside the missing field, and ``fairway fix --accept-suggestions``
applies them with the curator's name on the audit event.

- The imaging method (FBbi) from the channels' OME acquisition mode and contrast method.
- The instrument description and acquisition parameters, drafted from the hardware and
  channel fields (Materials & Methods style).
- Authors from the OME experimenters; NCBI taxon ids from organism names.
- The image name from the file name.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from core.errors import FairwayError
from core.omeutil import parse_ome
from core.records import MetadataRecord, Sourced
from core.units import quantity_text
from metadata.ome_map import ome_fields
from schemas import vocabulary

__all__ = ["FBBI_PURL", "Suggestion", "fbbi_for_mode", "suggestions"]

FBBI_PURL = "http://purl.obolibrary.org/obo/"


class Suggestion(BaseModel):
    """A value for a missing field and where it would come from."""

    model_config = ConfigDict(frozen=True)

    value: JsonValue
    source: str


def _indices(record: MetadataRecord, prefix: str) -> list[int]:
    found = set()
    for key in record.fields:
        if key.startswith(prefix + "["):
            head = key[len(prefix) + 1 :].split("]", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def fbbi_for_mode(mode: str, fluorescence: bool) -> str | None:
    """The FBbi id (``FBbi_…``) suggested for an OME acquisition mode, if any."""
    table = vocabulary("fbbi")["by_acquisition_mode"].get(mode)
    if table is None:
        return None
    term: str = table["fluorescence" if fluorescence else "other"]
    return term


def _is_fluorescence(record: MetadataRecord, i: int) -> bool:
    return (
        record.value(f"channels[{i}].contrast_method") == "Fluorescence"
        or record.value(f"channels[{i}].illumination_type") == "Epifluorescence"
        or record.value(f"channels[{i}].fluor") is not None
    )


def _method(record: MetadataRecord) -> dict[str, Suggestion]:
    terms = vocabulary("fbbi")["terms"]
    for i in _indices(record, "channels"):
        mode = record.value(f"channels[{i}].acquisition_mode")
        if mode is None:
            continue
        term = fbbi_for_mode(str(mode), _is_fluorescence(record, i))
        if term is None:
            continue
        source = f"OME AcquisitionMode '{mode}' of channel {i} (confirm it)"
        return {
            "acquisition.imaging_method[0].term_id": Suggestion(
                value=FBBI_PURL + term, source=source
            ),
            "acquisition.imaging_method[0].label": Suggestion(
                value=terms[term]["label"], source=source
            ),
        }
    return {}


def _g(value: Any) -> str:
    """A number in its shortest form; anything else as text."""
    return f"{value:g}" if isinstance(value, int | float) else str(value)


#: the unit OME assumes for a quantity written without one (its schema's defaults)
_OME_DEFAULT_UNITS = {
    "exposure_time": "s",
    "delta_t": "s",
    "time_increment": "s",
    "excitation_wavelength": "nm",
    "emission_wavelength": "nm",
    "wavelength": "nm",
    "physical_size_x": "µm",
    "physical_size_y": "µm",
    "physical_size_z": "µm",
}


def _source_units(record: MetadataRecord) -> dict[str, Sourced]:
    """Unit fields as the record's OME-XML states them (records extracted before units)."""
    if not record.ome_xml:
        return {}
    try:
        ome, _ = parse_ome(record.ome_xml)
    except (FairwayError, ValueError, SyntaxError):
        return {}
    return {k: v for k, v in ome_fields(ome).items() if k.endswith("_unit")}


def _quantity(record: MetadataRecord, path: str, fallback: dict[str, Sourced]) -> str:
    """``value unit`` of a quantity field, in the unit the source wrote it in."""
    value = record.value(path)
    unit = record.value(f"{path}_unit")
    if unit is None and f"{path}_unit" in fallback:
        unit = fallback[f"{path}_unit"].value
    if unit is None:
        unit = _OME_DEFAULT_UNITS.get(path.rsplit(".", 1)[-1], "")
    return quantity_text(value, unit).strip()


def _join(parts: list[str]) -> str:
    return ", ".join(p for p in parts if p)


def _instrument_draft(record: MetadataRecord) -> str | None:
    v = record.value
    units = _source_units(record)

    def q(path: str) -> str:
        return _quantity(record, path, units)

    stand = " ".join(
        str(x)
        for x in (
            v("instrument.microscope.manufacturer"),
            v("instrument.microscope.model"),
        )
        if x
    )
    kind = v("instrument.microscope.type")
    if kind:
        stand = f"{stand} ({str(kind).lower()})" if stand else f"{str(kind).lower()} microscope"
    objective = ""
    if v("objective.nominal_magnification") or v("objective.lens_na"):
        objective = " ".join(
            str(x)
            for x in (
                v("objective.manufacturer"),
                v("objective.model") or v("objective.correction"),
                f"{_g(v('objective.nominal_magnification'))}x"
                if v("objective.nominal_magnification")
                else "",
                f"NA {v('objective.lens_na')}" if v("objective.lens_na") else "",
                f"{v('objective.immersion')} immersion" if v("objective.immersion") else "",
            )
            if x
        )
    detectors = [
        " ".join(
            str(x) for x in (v(f"detectors[{i}].manufacturer"), v(f"detectors[{i}].model")) if x
        )
        + (f" ({v(f'detectors[{i}].type')})" if v(f"detectors[{i}].type") else "")
        for i in _indices(record, "detectors")
    ]
    sources = [
        " ".join(
            str(x)
            for x in (
                v(f"light_sources[{i}].kind"),
                f"{q(f'light_sources[{i}].wavelength')}"
                if v(f"light_sources[{i}].wavelength")
                else "",
            )
            if x
        )
        for i in _indices(record, "light_sources")
    ]
    parts = [
        stand,
        f"objective {objective}" if objective else "",
        f"detector {_join([d.strip() for d in detectors])}" if any(detectors) else "",
        f"light sources {_join(sources)}" if any(sources) else "",
    ]
    text = _join(parts)
    return text[0].upper() + text[1:] + "." if text else None


def _parameters_draft(record: MetadataRecord) -> str | None:
    v = record.value
    units = _source_units(record)

    def q(path: str) -> str:
        return _quantity(record, path, units)

    parts = []
    for i in _indices(record, "channels"):
        bits = [str(v(f"channels[{i}].name") or f"channel {i}")]
        if v(f"channels[{i}].excitation_wavelength"):
            bits.append(f"ex {q(f'channels[{i}].excitation_wavelength')}")
        if v(f"channels[{i}].emission_wavelength"):
            bits.append(f"em {q(f'channels[{i}].emission_wavelength')}")
        parts.append(" ".join(bits))
    if v("planes[0].exposure_time"):
        parts.append(f"exposure {q('planes[0].exposure_time')}")
    sizes = [
        f"{axis.upper()} {q(f'pixels.physical_size_{axis}')}"
        for axis in "xyz"
        if v(f"pixels.physical_size_{axis}")
    ]
    if sizes:
        parts.append("pixel size " + ", ".join(sizes))
    if v("pixels.time_increment") and (v("pixels.size_t") or 1) > 1:
        parts.append(f"time step {q('pixels.time_increment')}")
    dims = [f"{a.upper()}={v(f'pixels.size_{a}')}" for a in "xyzct" if v(f"pixels.size_{a}")]
    if dims:
        parts.append("dimensions " + " ".join(dims))
    return ("; ".join(parts) + ".") if parts else None


def suggestions(record: MetadataRecord) -> dict[str, Suggestion]:
    """Field path -> suggested value, only for fields the record does not hold."""
    out: dict[str, Suggestion] = dict(_method(record))
    if text := _instrument_draft(record):
        out["acquisition.imaging_instrument_description"] = Suggestion(
            value=text, source="a draft from the instrument metadata (edit it)"
        )
    if text := _parameters_draft(record):
        out["acquisition.image_acquisition_parameters"] = Suggestion(
            value=text, source="a draft from the channel and pixel metadata (edit it)"
        )
    first = record.value("experimenters[0].first_name")
    last = record.value("experimenters[0].last_name")
    if first or last:
        name = " ".join(str(x) for x in (first, last) if x)
        out["study.authors[0].name"] = Suggestion(value=name, source="OME Experimenter[0]")
    if inst := record.value("experimenters[0].institution"):
        out["study.authors[0].affiliation"] = Suggestion(
            value=inst, source="OME Experimenter[0]@Institution"
        )
    taxa: dict[str, Any] = vocabulary("ncbitaxon")["by_scientific_name"]
    lowered = {k.casefold(): v for k, v in taxa.items()}
    for i in _indices(record, "biosample.organism"):
        name = record.value(f"biosample.organism[{i}].scientific_name")
        if name is not None and str(name).strip().casefold() in lowered:
            out[f"biosample.organism[{i}].ncbi_taxon"] = Suggestion(
                value=f"NCBITaxon:{lowered[str(name).strip().casefold()]}",
                source=f"NCBI Taxonomy id of '{name}'",
            )
    name = record.value("source.files[0].name")
    if name is not None and not str(name).lower().endswith(".dcm"):
        stem = PurePosixPath(str(name)).name
        for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
            stem = stem.removesuffix(suffix)
        out["image.name"] = Suggestion(value=stem, source="the file name")
    return {k: s for k, s in out.items() if k not in record.fields}
