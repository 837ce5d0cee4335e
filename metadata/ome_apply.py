"""Write curated record values back into OME-XML (the inverse of :mod:`metadata.ome_map`).

A curator's fix must reach the OME metadata that travels with the image, not only the
record. Fields with a place in OME 2016-06 (pixel sizes, time step, image name, channel,
microscope and objective attributes) are set on the model; every curated value, with or
without such a place, is also listed in a MapAnnotation under :data:`CURATION_NS`, so
nothing a curator said is lost in the OME-XML.
"""

from __future__ import annotations

from typing import Any

from ome_types import OME, to_xml
from ome_types.model import Map, MapAnnotation, Microscope, StructuredAnnotations
from pydantic import JsonValue

from core.fieldpaths import parse_path
from core.omeutil import parse_ome
from core.records import MetadataRecord
from metadata.ome_map import OBJECTIVE_ATTRS

__all__ = ["CURATION_NS", "apply_to_ome"]

CURATION_NS = "urn:fairway:curation"

_IMAGE = {"image.name": "name", "image.description": "description"}
_PIXELS = {
    "pixels.physical_size_x": "physical_size_x",
    "pixels.physical_size_y": "physical_size_y",
    "pixels.physical_size_z": "physical_size_z",
    "pixels.time_increment": "time_increment",
}
_CHANNEL = {
    "name",
    "fluor",
    "excitation_wavelength",
    "emission_wavelength",
    "pinhole_size",
    "illumination_type",
    "contrast_method",
    "acquisition_mode",
}
_MICROSCOPE = {"manufacturer", "model", "serial_number", "lot_number", "type"}
_OBJECTIVE = set(OBJECTIVE_ATTRS)


def _set(obj: Any, attr: str, value: JsonValue) -> bool:
    """Set ``attr`` through the model's own validation; False when OME refuses the value."""
    try:
        setattr(obj, attr, value)
    except (ValueError, TypeError):
        return False
    return True


def _apply_one(ome: OME, path: str, value: JsonValue) -> bool:
    """Put one field into the OME model; whether it found a place there."""
    if not ome.images:
        return False
    image = ome.images[0]
    if path in _IMAGE:
        return _set(image, _IMAGE[path], value)
    if path in _PIXELS:
        return _set(image.pixels, _PIXELS[path], value)
    parts = parse_path(path)
    if parts[0] == "channels" and len(parts) == 3 and parts[2] in _CHANNEL:
        index = int(parts[1])
        if index < len(image.pixels.channels):
            return _set(image.pixels.channels[index], str(parts[2]), value)
        return False
    instrument = next(
        (i for i in ome.instruments if image.instrument_ref and i.id == image.instrument_ref.id),
        ome.instruments[0] if len(ome.instruments) == 1 else None,
    )
    if instrument is None:
        return False
    if path.startswith("instrument.microscope.") and parts[-1] in _MICROSCOPE:
        if instrument.microscope is None:
            instrument.microscope = Microscope()
        return _set(instrument.microscope, str(parts[-1]), value)
    if parts[0] == "objective" and len(parts) == 2 and parts[1] in _OBJECTIVE:
        wanted = image.objective_settings.id if image.objective_settings else None
        objective = next((o for o in instrument.objectives if o.id == wanted), None) or (
            instrument.objectives[0] if instrument.objectives else None
        )
        return objective is not None and _set(objective, str(parts[1]), value)
    return False


def apply_to_ome(ome_xml: str, record: MetadataRecord, curated: list[str]) -> str:
    """``ome_xml`` with the ``curated`` fields of ``record`` written in; returns new OME-XML."""
    ome, _ = parse_ome(ome_xml)
    for path in curated:
        if path in record.fields:
            _apply_one(ome, path, record.fields[path].value)
    sa = ome.structured_annotations or StructuredAnnotations()
    kept = [m for m in sa.map_annotations if m.namespace != CURATION_NS]
    values = {
        path: str(record.fields[path].value) for path in sorted(curated) if path in record.fields
    }
    if values:
        kept.append(
            MapAnnotation(
                id=f"Annotation:{CURATION_NS.rsplit(':', 1)[-1]}",
                namespace=CURATION_NS,
                value=Map(ms=[Map.M(k=k, value=v) for k, v in values.items()]),
            )
        )
    sa.map_annotations = kept
    ome.structured_annotations = sa
    return to_xml(ome)
