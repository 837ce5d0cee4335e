"""RO-Crate metadata describing a dataset (written with the rocrate library)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rocrate.rocrate import ROCrate

from core.records import MetadataRecord, ValidationReport

__all__ = ["FAIRWAY_URL", "LICENCE_URLS", "build_crate", "write_crate", "write_crate_metadata"]

#: where fairway's source and documentation live: the ``url`` RO-Crate requires of every
#: SoftwareApplication (the ``#fairway`` tool and the ``#software-environment`` it ran in)
FAIRWAY_URL = "https://github.com/fairway-bioimaging/fairway"

LICENCE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "CC-BY-NC-SA-4.0": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "CC-BY-ND-4.0": "https://creativecommons.org/licenses/by-nd/4.0/",
    "CC-BY-NC-ND-4.0": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
}

#: SPDX id -> the licence's full name
LICENCE_NAMES = {
    "CC0-1.0": "Creative Commons Zero v1.0 Universal",
    "CC-BY-4.0": "Creative Commons Attribution 4.0 International",
    "CC-BY-SA-4.0": "Creative Commons Attribution Share Alike 4.0 International",
    "CC-BY-NC-4.0": "Creative Commons Attribution Non Commercial 4.0 International",
    "CC-BY-NC-SA-4.0": "Creative Commons Attribution Non Commercial Share Alike 4.0 International",
    "CC-BY-ND-4.0": "Creative Commons Attribution No Derivatives 4.0 International",
    "CC-BY-NC-ND-4.0": "Creative Commons Attribution Non Commercial No Derivatives 4.0 "
    "International",
}

#: what the files a crate lists are (name, description), by payload-relative path
FILE_DESCRIPTIONS = {
    "metadata/record.json": (
        "metadata record",
        "Every metadata value of the dataset with the source it came from (fairway record)",
    ),
    "metadata/validation.json": (
        "validation report",
        "NGFF, metadata-loss and REMBI/NBO findings and the FAIR level they give",
    ),
    "metadata/versions.json": (
        "metadata versions",
        "Every metadata version of the dataset: who changed what, when and why",
    ),
}


def write_crate(crate: ROCrate, folder: Path) -> None:
    """Write ``ro-crate-metadata.json`` into ``folder``, one-item lists written as the item.

    RO-Crate 1.3 recommends the compact form: ``"about": {"@id": …}``, not a list of one.
    """
    for entity in crate.get_entities():
        for key, value in list(entity.properties().items()):
            if not key.startswith("@") and isinstance(value, list) and len(value) == 1:
                entity[key] = value[0]
    crate.metadata.write(folder)


def _single(values: list[dict[str, str]]) -> Any:
    """One reference as itself, several as a list (RO-Crate 1.3 compacts singletons)."""
    return values[0] if len(values) == 1 else values


def _licence(crate: ROCrate, licence: str) -> dict[str, str]:
    """The licence as a contextual entity with its name (a CreativeWork); returns its reference."""
    url = LICENCE_URLS.get(licence, licence if licence.startswith("http") else "#license")
    props: dict[str, Any] = {
        "@id": url,
        "@type": "CreativeWork",
        "name": LICENCE_NAMES.get(licence, licence),
        "description": f"The dataset is released under {LICENCE_NAMES.get(licence, licence)}"
        + (f" (SPDX {licence})" if licence in LICENCE_NAMES else ""),
    }
    if licence in LICENCE_NAMES:
        props["identifier"] = licence
    crate.add_jsonld(props)
    return {"@id": url}


def _entity(crate: ROCrate, props: dict[str, Any]) -> Any:
    """Add a contextual entity, or return the one of that id already there (named once)."""
    return crate.get(props["@id"]) or crate.add_jsonld(props)


def _authors(crate: ROCrate, record: MetadataRecord) -> list[dict[str, str]]:
    """Authors as Person entities, each affiliation an Organization entity (shared by name)."""
    refs = []
    organisations: dict[str, str] = {}
    i = 0
    while (name := record.value(f"study.authors[{i}].name")) is not None:
        orcid = record.value(f"study.authors[{i}].orcid")
        pid = f"https://orcid.org/{orcid}" if orcid else f"#author-{i}"
        props: dict[str, Any] = {"@type": "Person", "name": name}
        if aff := record.value(f"study.authors[{i}].affiliation"):
            if str(aff) not in organisations:
                organisations[str(aff)] = f"#organization-{len(organisations)}"
                _entity(
                    crate,
                    {"@id": organisations[str(aff)], "@type": "Organization", "name": str(aff)},
                )
            props["affiliation"] = {"@id": organisations[str(aff)]}
        if email := record.value(f"study.authors[{i}].email"):
            props["email"] = str(email)
            props["contactPoint"] = {"@id": f"mailto:{email}"}
            _entity(
                crate,
                {
                    "@id": f"mailto:{email}",
                    "@type": "ContactPoint",
                    "name": f"{name} (e-mail)",
                    "email": str(email),
                    "contactType": "author",
                },
            )
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
    sizes: Mapping[str, int] | None = None,
) -> Path:
    """Write ``ro-crate-metadata.json`` into ``data_dir`` for files already in place.

    Each listed file's ``contentSize`` is ``sizes[rel]`` or, if not given, the size of
    ``data_dir/rel``.
    """
    known = {
        rel: (data_dir / rel).stat().st_size for rel in extra_files if (data_dir / rel).is_file()
    }
    crate = build_crate(
        dataset, zarr_name, record, report, extra_files, tool_version, {**known, **(sizes or {})}
    )
    write_crate(crate, data_dir)
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
    sizes: Mapping[str, int] | None = None,
) -> ROCrate:
    """The RO-Crate (1.3) of a dataset, not yet written.

    It holds the study, licence (a named CreativeWork), authors and their organisations (the
    first author's organisation is the publisher), organism, imaging method (FBbi),
    instrument, dates, FAIR level, each file with its ``contentSize`` (from ``sizes``), and
    the conversion step with fairway's version and ``url``.
    """
    sizes = sizes or {}
    crate = ROCrate()
    root = crate.root_dataset
    root["name"] = record.value("study.title") or record.value("image.name") or dataset
    root["description"] = record.value("study.description") or (
        f"Imaging dataset {dataset} converted to OME-Zarr by fairway"
    )
    root["identifier"] = {"@id": "#identifier"}
    crate.add_jsonld(
        {
            "@id": "#identifier",
            "@type": "PropertyValue",
            "name": "fairway dataset id",
            "propertyID": "fairway dataset id",
            "value": dataset,
        }
    )
    if (licence := record.value("study.license")) is not None:
        root["license"] = _licence(crate, str(licence))
    if (released := record.value("study.release_date")) is not None:
        root["datePublished"] = str(released)
    if keywords := [
        v.value for k, v in sorted(record.fields.items()) if k.startswith("study.keywords")
    ]:
        root["keywords"] = keywords
    if authors := _authors(crate, record):
        root["author"] = _single(authors)
        first = crate.get(authors[0]["@id"])
        if first is not None and first.get("affiliation"):
            root["publisher"] = first["affiliation"]
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
            "description": "The image as OME-Zarr (NGFF 0.5), with the source's full OME-XML "
            "in OME/METADATA.ome.xml",
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
        name, description = FILE_DESCRIPTIONS.get(rel, (rel, f"{rel} of the dataset"))
        props: dict[str, Any] = {
            "encodingFormat": "application/json",
            "name": name,
            "description": description,
        }
        if rel in sizes:
            props["contentSize"] = str(sizes[rel])
        crate.add_file(source=None, dest_path=rel, properties=props)
    root["mentions"] = {"@id": "#fairway-conversion"}  # actions hang off the root
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
            "url": FAIRWAY_URL,
        }
    )
    return crate
