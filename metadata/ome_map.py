"""Pure mapping from an ``ome_types.OME`` model to sourced record fields.

Field paths follow the neutral namespace of the project's schemas (ome-types snake_case for
microscopy fields). Everything in the OME model without a field is still carried by the
OME-XML that travels with the image; annotations are also copied to ``unmapped``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from ome_types import OME
from ome_types.model import Channel, Image, Instrument
from pydantic import JsonValue

from core.omeutil import GENERATED_BY, color_hex
from core.records import Sourced

__all__ = ["OBJECTIVE_ATTRS", "ome_annotations", "ome_fields"]

#: the Objective attributes a record carries as ``objective.<attr>``
OBJECTIVE_ATTRS = (
    "manufacturer",
    "model",
    "serial_number",
    "nominal_magnification",
    "calibrated_magnification",
    "lens_na",
    "correction",
    "immersion",
    "working_distance",
    "iris",
)


def _plain(value: Any) -> JsonValue:
    if isinstance(value, enum.Enum):
        return value.value  # type: ignore[no-any-return]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


class _Collector:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.fields: dict[str, Sourced] = {}

    def put(self, path: str, value: Any, where: str) -> None:
        if value is None or value == "" or value == []:
            return
        self.fields[path] = Sourced(value=_plain(value), source=f"{self.origin}:{where}")

    def put_attr(self, path: str, obj: Any, attr: str, where: str) -> None:
        """``obj.attr`` and, for a quantity, its unit beside it (``<path>_unit``)."""
        value = getattr(obj, attr, None)
        self.put(path, value, where)
        unit = getattr(obj, f"{attr}_unit", None)
        if value is not None and unit is not None:
            # the source names the unit the way it names the value: @ExposureTimeUnit, @delta_t_unit
            suffix = "Unit" if where.rsplit("@", 1)[-1][:1].isupper() else "_unit"
            self.put(f"{path}_unit", unit, f"{where}{suffix}")


def _channels(c: _Collector, image_where: str, channels: list[Channel]) -> None:
    for i, ch in enumerate(channels):
        w = f"{image_where}/Pixels/Channel[{i}]"
        p = f"channels[{i}]"
        c.put(f"{p}.name", ch.name, f"{w}@Name")
        c.put(f"{p}.color", color_hex(ch.color), f"{w}@Color")
        c.put_attr(
            f"{p}.excitation_wavelength", ch, "excitation_wavelength", f"{w}@ExcitationWavelength"
        )
        c.put_attr(f"{p}.emission_wavelength", ch, "emission_wavelength", f"{w}@EmissionWavelength")
        c.put(f"{p}.fluor", ch.fluor, f"{w}@Fluor")
        c.put(f"{p}.illumination_type", ch.illumination_type, f"{w}@IlluminationType")
        c.put(f"{p}.contrast_method", ch.contrast_method, f"{w}@ContrastMethod")
        c.put(f"{p}.acquisition_mode", ch.acquisition_mode, f"{w}@AcquisitionMode")
        c.put_attr(f"{p}.pinhole_size", ch, "pinhole_size", f"{w}@PinholeSize")
        c.put(f"{p}.samples_per_pixel", ch.samples_per_pixel, f"{w}@SamplesPerPixel")
        ds = ch.detector_settings
        if ds is not None:
            c.put(f"{p}.detector_settings.id", ds.id, f"{w}/DetectorSettings@ID")
            c.put(f"{p}.detector_settings.gain", ds.gain, f"{w}/DetectorSettings@Gain")
            c.put(f"{p}.detector_settings.binning", ds.binning, f"{w}/DetectorSettings@Binning")
            c.put_attr(
                f"{p}.detector_settings.voltage", ds, "voltage", f"{w}/DetectorSettings@Voltage"
            )
            c.put(f"{p}.detector_settings.offset", ds.offset, f"{w}/DetectorSettings@Offset")
            c.put_attr(
                f"{p}.detector_settings.read_out_rate",
                ds,
                "read_out_rate",
                f"{w}/DetectorSettings@ReadOutRate",
            )
        ls = ch.light_source_settings
        if ls is not None:
            c.put(f"{p}.light_source_settings.id", ls.id, f"{w}/LightSourceSettings@ID")
            c.put_attr(
                f"{p}.light_source_settings.wavelength",
                ls,
                "wavelength",
                f"{w}/LightSourceSettings@Wavelength",
            )
            c.put(
                f"{p}.light_source_settings.attenuation",
                ls.attenuation,
                f"{w}/LightSourceSettings@Attenuation",
            )


def _instrument(c: _Collector, inst: Instrument, where: str, objective_id: str | None) -> None:
    c.put("image.instrument_ref", inst.id, f"{where}@ID")
    m = inst.microscope
    if m is not None:
        for attr in ("manufacturer", "model", "serial_number", "lot_number", "type"):
            c.put_attr(f"instrument.microscope.{attr}", m, attr, f"{where}/Microscope@{attr}")
    objectives = inst.objectives
    chosen = next((o for o in objectives if o.id == objective_id), None) or (
        objectives[0] if objectives else None
    )
    if chosen is not None:
        i = objectives.index(chosen)
        w = f"{where}/Objective[{i}]"
        for attr in OBJECTIVE_ATTRS:
            c.put_attr(f"objective.{attr}", chosen, attr, f"{w}@{attr}")
        if chosen.working_distance is not None:
            c.put("objective.working_distance_unit", chosen.working_distance_unit, f"{w}@unit")
    for i, d in enumerate(inst.detectors):
        w = f"{where}/Detector[{i}]"
        for attr in (
            "id",
            "manufacturer",
            "model",
            "serial_number",
            "lot_number",
            "type",
            "gain",
            "voltage",
            "offset",
            "zoom",
            "amplification_gain",
        ):
            c.put_attr(f"detectors[{i}].{attr}", d, attr, f"{w}@{attr}")
    sources = [
        *inst.lasers,
        *inst.arcs,
        *inst.filaments,
        *inst.light_emitting_diodes,
        *inst.generic_excitation_sources,
    ]
    for i, src in enumerate(sources):
        w = f"{where}/LightSource[{i}]"
        c.put(f"light_sources[{i}].kind", type(src).__name__, w)
        for attr in (
            "id",
            "manufacturer",
            "model",
            "serial_number",
            "power",
            "type",
            "wavelength",
            "tuneable",
            "pulse",
            "repetition_rate",
            "lot_number",
            "laser_medium",
            "frequency_multiplication",
            "pockel_cell",
        ):
            c.put_attr(f"light_sources[{i}].{attr}", src, attr, f"{w}@{attr}")
    for i, f in enumerate(inst.filters):
        w = f"{where}/Filter[{i}]"
        for attr in ("id", "manufacturer", "model", "serial_number", "lot_number", "type"):
            c.put_attr(f"filters[{i}].{attr}", f, attr, f"{w}@{attr}")
        c.put(f"filters[{i}].filter_wheel", f.filter_wheel, f"{w}@FilterWheel")
        tr = f.transmittance_range
        if tr is not None:
            for attr in ("cut_in", "cut_out", "cut_in_tolerance", "cut_out_tolerance"):
                c.put_attr(f"filters[{i}].{attr}", tr, attr, f"{w}/TransmittanceRange@{attr}")
            c.put(
                f"filters[{i}].transmittance",
                tr.transmittance,
                f"{w}/TransmittanceRange@Transmittance",
            )
    for i, dichroic in enumerate(inst.dichroics):
        w = f"{where}/Dichroic[{i}]"
        for attr in ("id", "manufacturer", "model"):
            c.put_attr(f"dichroics[{i}].{attr}", dichroic, attr, f"{w}@{attr}")


def _image(c: _Collector, ome: OME, image: Image, index: int) -> None:
    where = f"Image[{index}]"
    c.put("image.name", image.name, f"{where}@Name")
    c.put("image.description", image.description, f"{where}/Description")
    c.put("image.acquisition_date", image.acquisition_date, f"{where}/AcquisitionDate")
    px = image.pixels
    pw = f"{where}/Pixels"
    c.put("pixels.dimension_order", px.dimension_order, f"{pw}@DimensionOrder")
    c.put("pixels.type", px.type, f"{pw}@Type")
    c.put("pixels.significant_bits", px.significant_bits, f"{pw}@SignificantBits")
    for axis in "xyzct":
        c.put_attr(f"pixels.size_{axis}", px, f"size_{axis}", f"{pw}@Size{axis.upper()}")
    for axis in "xyz":
        value = getattr(px, f"physical_size_{axis}")
        c.put(f"pixels.physical_size_{axis}", value, f"{pw}@PhysicalSize{axis.upper()}")
        if value is not None:
            unit = getattr(px, f"physical_size_{axis}_unit")
            c.put(f"pixels.physical_size_{axis}_unit", unit, f"{pw}@PhysicalSize{axis.upper()}Unit")
    if px.time_increment is not None:
        c.put("pixels.time_increment", px.time_increment, f"{pw}@TimeIncrement")
        c.put("pixels.time_increment_unit", px.time_increment_unit, f"{pw}@TimeIncrementUnit")
    _channels(c, where, px.channels)
    env = image.imaging_environment
    if env is not None:
        for attr in ("temperature", "co2_percent", "humidity", "air_pressure"):
            c.put_attr(
                f"image.imaging_environment.{attr}", env, attr, f"{where}/ImagingEnvironment@{attr}"
            )
    if image.instrument_ref is not None:
        ids = [inst.id for inst in ome.instruments]
        if image.instrument_ref.id in ids:
            i = ids.index(image.instrument_ref.id)
            objective_id = image.objective_settings.id if image.objective_settings else None
            _instrument(c, ome.instruments[i], f"Instrument[{i}]", objective_id)
    elif len(ome.instruments) == 1:
        _instrument(c, ome.instruments[0], "Instrument[0]", None)
    if image.objective_settings is not None:
        os_ = image.objective_settings
        c.put("objective_settings.medium", os_.medium, f"{where}/ObjectiveSettings@Medium")
        c.put(
            "objective_settings.refractive_index",
            os_.refractive_index,
            f"{where}/ObjectiveSettings@RefractiveIndex",
        )
        c.put(
            "objective_settings.correction_collar",
            os_.correction_collar,
            f"{where}/ObjectiveSettings@CorrectionCollar",
        )
    if px.planes:
        first = px.planes[0]
        for attr in ("exposure_time", "delta_t", "position_x", "position_y", "position_z"):
            c.put_attr(f"planes[0].{attr}", first, attr, f"{pw}/Plane[0]@{attr}")
        c.put("image.plane_count", len(px.planes), f"{pw}/Plane")
    label = image.stage_label
    if label is not None:
        for attr in ("name", "x", "y", "z"):
            c.put_attr(f"image.stage_label.{attr}", label, attr, f"{where}/StageLabel@{attr}")


def ome_fields(ome: OME, origin: str = "ome-xml") -> dict[str, Sourced]:
    """Map the first image of ``ome`` (and its instrument) to record fields."""
    c = _Collector(origin)
    c.put("image.count", len(ome.images), "Image")
    if not (ome.creator or "").startswith(GENERATED_BY):  # fairway's own OME: not the software
        c.put("acquisition_software.name", ome.creator, "OME@Creator")
    for i, e in enumerate(ome.experimenters):
        for attr in ("first_name", "middle_name", "last_name", "email", "institution"):
            c.put_attr(f"experimenters[{i}].{attr}", e, attr, f"Experimenter[{i}]@{attr}")
    if ome.images:
        _image(c, ome, ome.images[0], 0)
    return c.fields


def ome_annotations(ome: OME) -> dict[str, JsonValue]:
    """Key/value annotations of the OME document, namespaced, for ``unmapped``."""
    out: dict[str, JsonValue] = {}
    sa = ome.structured_annotations
    if sa is None:
        return out
    for mapping in sa.map_annotations:
        ns = mapping.namespace or "no-namespace"
        for m in mapping.value.ms:
            out[f"{ns}/{m.k}"] = m.value
    for comment in sa.comment_annotations:
        out[f"{comment.namespace or 'no-namespace'}/comment:{comment.id}"] = comment.value
    for tag in sa.tag_annotations:
        out[f"{tag.namespace or 'no-namespace'}/tag:{tag.id}"] = tag.value
    return out
