"""RO-Crate metadata describing a dataset (written with the rocrate library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocrate.rocrate import ROCrate

from core.records import MetadataRecord, ValidationReport

__all__ = ["LICENCE_URLS", "build_crate", "write_crate_metadata"]

LICENCE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "CC-BY-NC-SA-4.0": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "CC-BY-ND-4.0": "https://creativecommons.org/licenses/by-nd/4.0/",
    "CC-BY-NC-ND-4.0": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
}


def _entity(crate: ROCrate, props: dict[str, Any]) -> Any:
    """Add a contextual entity, or return the one of that id already there (named once)."""
    return crate.get(props["@id"]) or crate.add_jsonld(props)


def _authors(crate: ROCrate, record: MetadataRecord) -> list[dict[str, str]]:
    refs = []
    i = 0
    while (name := record.value(f"study.authors[{i}].name")) is not None:
        orcid = record.value(f"study.authors[{i}].orcid")
        pid = f"https://orcid.org/{orcid}" if orcid else f"#author-{i}"
        props: dict[str, Any] = {"@type": "Person", "name": name}
        if aff := record.value(f"study.authors[{i}].affiliation"):
            props["affiliation"] = aff
        _entity(crate, {"@id": pid, **props})
        refs.append({"@id": pid})
        i += 1
    return refs


def write_crate_metadata(
    data_dir: Path,
    dataset: str,
    zarr_name: str,
    record: MetadataRecord,
    report: ValidationReport,
    extra_files: list[str],
    tool_version: str,
) -> Path:
    """Write ``ro-crate-metadata.json`` into ``data_dir`` for files already in place."""
    crate = build_crate(dataset, zarr_name, record, report, extra_files, tool_version)
    crate.metadata.write(data_dir)
    return Path(data_dir) / "ro-crate-metadata.json"


def _methods_and_instrument(crate: ROCrate, image: Any, record: MetadataRecord) -> None:
    i = 0
    while (term := record.value(f"acquisition.imaging_method[{i}].term_id")) is not None:
        iri = str(term)
        if iri.startswith("FBbi:"):
            iri = "http://purl.obolibrary.org/obo/FBbi_" + iri.removeprefix("FBbi:")
        image.append_to(
            "measurementTechnique",
            _entity(
                crate,
                {
                    "@id": iri,
                    "@type": "DefinedTerm",
                    "name": str(record.value(f"acquisition.imaging_method[{i}].label") or iri),
                    "inDefinedTermSet": "http://purl.obolibrary.org/obo/fbbi.owl",
                },
            ),
        )
        i += 1
    parts = [
        record.value("instrument.microscope.manufacturer"),
        record.value("instrument.microscope.model"),
    ]
    if any(parts):
        props: dict[str, Any] = {
            "@id": "#instrument",
            "@type": "IndividualProduct",
            "name": " ".join(str(p) for p in parts if p),
        }
        if serial := record.value("instrument.microscope.serial_number"):
            props["serialNumber"] = str(serial)
        if maker := record.value("instrument.microscope.manufacturer"):
            props["manufacturer"] = str(maker)
        image["instrument"] = crate.add_jsonld(props)
    if acquired := record.value("image.acquisition_date"):
        image["dateCreated"] = str(acquired)
    if desc := record.value("acquisition.imaging_instrument_description"):
        image["description"] = str(desc)


def build_crate(
    dataset: str,
    zarr_name: str,
    record: MetadataRecord,
    report: ValidationReport,
    extra_files: list[str],
    tool_version: str,
) -> ROCrate:
    """The RO-Crate of a dataset, not yet written.

    It holds the study, licence, authors, organism, imaging method (FBbi), instrument, dates,
    FAIR level, and the conversion step with fairway's version.
    """
    crate = ROCrate()
    root = crate.root_dataset
    root["name"] = record.value("study.title") or record.value("image.name") or dataset
    root["description"] = record.value("study.description") or (
        f"Imaging dataset {dataset} converted to OME-Zarr by fairway"
    )
    root["identifier"] = dataset
    if (licence := record.value("study.license")) is not None:
        root["license"] = {"@id": LICENCE_URLS.get(str(licence), str(licence))}
    if (released := record.value("study.release_date")) is not None:
        root["datePublished"] = str(released)
    if keywords := [
        v.value for k, v in sorted(record.fields.items()) if k.startswith("study.keywords")
    ]:
        root["keywords"] = keywords
    if authors := _authors(crate, record):
        root["author"] = authors
    root["additionalProperty"] = {"@id": "#fair-level"}
    crate.add_jsonld(
        {
            "@id": "#fair-level",
            "@type": "PropertyValue",
            "name": "fairway FAIR level",
            "value": report.fair_level,
            "description": "Highest metadata level met: none < ngff < rembi < "
            "rembi+nbo-tier1 < rembi+nbo-tier2 < rembi+nbo-tier3",
        }
    )
    image = crate.add_dataset(
        source=None,
        dest_path=f"{zarr_name}/",
        properties={
            "name": record.value("image.name") or zarr_name,
            "encodingFormat": "application/x-ome-zarr",
            "conformsTo": {"@id": "https://ngff.openmicroscopy.org/0.5/"},
        },
    )
    _methods_and_instrument(crate, image, record)
    i = 0
    while (name := record.value(f"biosample.organism[{i}].scientific_name")) is not None:
        taxon = record.value(f"biosample.organism[{i}].ncbi_taxon")
        image.append_to(
            "about",
            _entity(
                crate,
                {
                    "@id": f"http://purl.obolibrary.org/obo/NCBITaxon_{str(taxon).split(':')[-1]}"
                    if taxon
                    else f"#organism-{i}",
                    "@type": "DefinedTerm",
                    "name": name,
                },
            ),
        )
        i += 1
    for rel in extra_files:
        crate.add_file(
            source=None, dest_path=rel, properties={"encodingFormat": "application/json"}
        )
    crate.add_jsonld(
        {
            "@id": "#fairway-conversion",
            "@type": "CreateAction",
            "name": "Conversion to OME-Zarr and validation",
            "instrument": {"@id": "#fairway"},
            "result": {"@id": f"{zarr_name}/"},
        }
    )
    crate.add_jsonld(
        {
            "@id": "#fairway",
            "@type": "SoftwareApplication",
            "name": "fairway",
            "version": tool_version,
        }
    )
    return crate
