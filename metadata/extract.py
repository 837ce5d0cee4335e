"""Fill a :class:`~core.records.MetadataRecord` from every source an acquisition has."""

from __future__ import annotations

from pydantic import JsonValue

from core.errors import EmptyInputError, UnsupportedFormatError, third_party_damage
from core.lifio import lif_fallback
from core.ngffio import NGFF_KIND, open_ngff
from core.records import Acquisition, MetadataRecord, Sourced
from core.settings import Settings
from core.tiffio import open_tiff_source
from ingest.labels import label_files
from metadata.bioio_source import describe_bioio
from metadata.czi_source import describe_czi
from metadata.deid import PseudonymSink
from metadata.dicom_source import describe_dicom
from metadata.lif_source import describe_lif
from metadata.ngff_source import describe_ngff
from metadata.ome_map import ome_annotations, ome_fields
from metadata.registry import load_registry, match_instrument, registry_fields
from metadata.sidecar import read_sidecar
from metadata.tiff import describe_tiff
from validators.profiles import select_profile

__all__ = ["extract", "unsupported"]

SUPPORTED_DESCRIPTION = (
    "TIFF, OME-TIFF and ImageJ TIFF (.tif, .tiff, .ome.tif, .btf); Nikon ND2, Leica LIF "
    "(liffile where bioio-lif fails) and DeltaVision (.dv, .r3d) through bioio; Zeiss CZI "
    "(.czi) through czifile; DICOM series (de-identified) through pydicom; OME-Zarr images "
    "(NGFF 0.4 and 0.5, a .zarr folder) through zarr"
)


def unsupported(acq: Acquisition) -> UnsupportedFormatError:
    """The error for an acquisition that no reader handles."""
    return UnsupportedFormatError(
        f"no fairway reader for this file type (kind '{acq.kind}')",
        where=acq.source,
        hint=f"supported today: {SUPPORTED_DESCRIPTION}",
    )


def _file_facts(acq: Acquisition, file_format: str) -> dict[str, Sourced]:
    facts: dict[str, Sourced] = {
        "image.format_and_compression": Sourced(value=file_format, source="file:format"),
        "image_data.type": Sourced(value="primary", source="file:derived"),
        "source.fingerprint": Sourced(value=acq.fingerprint, source="file:sha256"),
        "source.total_bytes": Sourced(value=acq.total_bytes, source="file:stat"),
    }
    for i, name in enumerate(sorted(label_files(acq))):
        facts[f"image_data.labels[{i}]"] = Sourced(value=name, source="file:name")
    for i, f in enumerate(acq.files):
        facts[f"source.files[{i}].name"] = Sourced(value=f.relpath, source="file:name")
        facts[f"source.files[{i}].sha256"] = Sourced(value=f.sha256, source="file:sha256")
        facts[f"source.files[{i}].size"] = Sourced(value=f.size, source="file:stat")
    return facts


def _refuse_empty(acq: Acquisition) -> None:
    """Refuse an acquisition with a zero-byte file (an OME-Zarr folder is left to its reader).

    Raises
    ------
    EmptyInputError
        Naming the file (a DICOM file by its derived name: scanners put patient names in
        file names).
    """
    if acq.kind == NGFF_KIND:
        return
    for f in acq.files:
        if f.size == 0:
            where = acq.source if acq.kind == "dicom" else f.path
            raise EmptyInputError(
                "empty file (0 bytes): there is nothing to archive",
                where=where,
                hint="the transfer failed or the instrument wrote nothing; deliver it again",
            )


def extract(
    acq: Acquisition, settings: Settings, pseudonyms: PseudonymSink | None = None
) -> MetadataRecord:
    """Read metadata from the acquisition's files and sidecars.

    DICOM headers are de-identified on reading, with keyed pseudonyms from ``pseudonyms`` or,
    when none is given, from the store the settings name.

    File metadata wins over sidecar values for the same field; a disagreement is kept in
    ``unmapped['fairway.conflicts']`` so that nothing is silently dropped.

    Raises
    ------
    UnsupportedFormatError, CorruptInputError, UnsafeInputError, InputTooLargeError
        The acquisition cannot be read; the message names the file.
    """
    _refuse_empty(acq)
    path = acq.primary.path
    dicom_fields: dict[str, Sourced] = {}
    if acq.kind == "tiff":
        with open_tiff_source(
            path, max_xml_bytes=settings.max_xml_bytes, max_input_bytes=settings.max_input_bytes
        ) as (tif, companion):
            desc = describe_tiff(tif, path, companion)
        origin = "ome-xml" if desc.origin == "source" else "tiff"
    elif acq.kind == "bioio":
        fallback = (
            lif_fallback(
                path,
                max_input_bytes=settings.max_input_bytes,
                memory_limit=settings.memory_limit_bytes,
            )
            if path.suffix.lower() == ".lif"
            else None
        )
        if fallback is not None:
            desc = describe_lif(*fallback)
            origin = "liffile"
        else:
            with third_party_damage(path):
                desc = describe_bioio(path, max_input_bytes=settings.max_input_bytes)
            origin = "ome-xml" if desc.origin == "converted" else "bioio"
    elif acq.kind == "dicom":
        files = [(f.path, f.relpath) for f in acq.files]
        if pseudonyms is None:  # the settings' store, open only for this acquisition
            from catalog.pseudonyms import PseudonymStore

            store = PseudonymStore.from_settings(settings)
            try:
                desc, dicom_fields = describe_dicom(acq.source, files, settings, store)
            finally:
                store.close()
        else:
            desc, dicom_fields = describe_dicom(acq.source, files, settings, pseudonyms)
        origin = "dicom"
    elif acq.kind == NGFF_KIND:
        ngff = open_ngff(
            acq.source,
            max_xml_bytes=settings.max_xml_bytes,
            max_input_bytes=settings.max_input_bytes,
        )
        desc = describe_ngff(ngff)
        origin = "ome-xml" if desc.origin == "source" else "ngff"
    elif acq.kind == "czi":
        desc = describe_czi(
            path, max_input_bytes=settings.max_input_bytes, max_xml_bytes=settings.max_xml_bytes
        )
        origin = "czi"
    else:
        raise unsupported(acq)
    fields = ome_fields(desc.ome, origin=origin)
    if acq.kind == "dicom":
        fields.update(dicom_fields)
    fields.update(_file_facts(acq, desc.file_format))
    unmapped = dict(desc.unmapped)
    annotations = ome_annotations(desc.ome)
    if annotations:
        unmapped["ome.annotations"] = annotations
    conflicts: dict[str, JsonValue] = {}
    for sidecar in acq.sidecars:
        offered = read_sidecar(sidecar.path, max_bytes=settings.max_sidecar_bytes)
        _fill(fields, offered, conflicts, "sidecar")
    instrument = match_instrument(fields, load_registry(settings.registry_path))
    if instrument is not None:
        _fill(fields, registry_fields(fields, instrument), conflicts, "registry")
    _derive(fields)
    profile = select_profile(
        acq.source, MetadataRecord(fields=fields, ome_xml="", ome_xml_origin="generated"), settings
    )
    defaults = {
        k: Sourced(value=v, source=f"profile:{profile.name}") for k, v in profile.defaults.items()
    }
    _fill(fields, defaults, conflicts, "profile")
    if conflicts:
        unmapped["fairway.conflicts"] = conflicts
    unmapped["fairway"] = {"profile": profile.name, "target": profile.target}
    return MetadataRecord(
        fields=fields,
        unmapped=unmapped,
        ome_xml=desc.ome_xml,
        ome_xml_origin=desc.origin,
    )


def _fill(
    fields: dict[str, Sourced],
    offered: dict[str, Sourced],
    conflicts: dict[str, JsonValue],
    kind: str,
) -> None:
    """Add ``offered`` values where ``fields`` has none; keep disagreements as conflicts."""
    for key, item in offered.items():
        existing = fields.get(key)
        if existing is None:
            fields[key] = item
        elif existing.value != item.value:
            conflicts[key] = {"kept": existing.model_dump(), kind: item.model_dump()}


def _derive(fields: dict[str, Sourced]) -> None:
    """Facts that follow from others.

    Each channel's detector type (for the conditional camera / point-detector rules), and its
    effective bit depth from the pixels' significant bits (OME's name for the same fact).
    """
    bits = fields.get("pixels.significant_bits")
    detectors = {
        fields[k].value: k.removesuffix(".id")
        for k in fields
        if k.startswith("detectors[") and k.endswith("].id")
    }
    types = [k for k in fields if k.startswith("detectors[") and k.endswith("].type")]
    i = 0
    while f"channels[{i}].name" in fields or any(k.startswith(f"channels[{i}].") for k in fields):
        ref = fields.get(f"channels[{i}].detector_settings.id")
        det = detectors.get(ref.value) if ref is not None else None
        if det is None and len(types) == 1:
            det = types[0].removesuffix(".type")
        kind = fields.get(f"{det}.type") if det else None
        key = f"channels[{i}].detector_settings.detector_type"
        if kind is not None and key not in fields:
            fields[key] = Sourced(value=kind.value, source=f"derived:{det}.type")
        depth = f"channels[{i}].detector_settings.effective_bit_depth"
        if bits is not None and depth not in fields:
            fields[depth] = Sourced(value=bits.value, source="derived:pixels.significant_bits")
        i += 1
