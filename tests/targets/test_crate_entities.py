"""An RO-Crate names each entity once, however often a record refers to it.

Two authors with one ORCID, an organism or an imaging method listed twice: the crate refers
to one entity each time instead of failing with "entity … already exists" (which broke
`fairway fix`, `get` and archiving alike).
"""

from __future__ import annotations

from pathlib import Path

from rocrate.rocrate import ROCrate

from core.records import MetadataRecord, Sourced, ValidationReport
from targets.crate import write_crate_metadata

ORCID = "0000-0002-1825-0097"
FBBI = "http://purl.obolibrary.org/obo/FBbi_00000253"


def test_repeated_ids_are_one_entity(tmp_path: Path) -> None:
    fields = {
        "study.authors[0].name": "Ada Example",
        "study.authors[0].orcid": ORCID,
        "study.authors[1].name": "A. Example",
        "study.authors[1].orcid": ORCID,
        "biosample.organism[0].scientific_name": "Homo sapiens",
        "biosample.organism[0].ncbi_taxon": "NCBITaxon:9606",
        "biosample.organism[1].scientific_name": "Homo sapiens",
        "biosample.organism[1].ncbi_taxon": "NCBITaxon:9606",
        "acquisition.imaging_method[0].term_id": FBBI,
        "acquisition.imaging_method[1].term_id": "FBbi:00000253",
    }
    record = MetadataRecord(
        fields={k: Sourced(value=v, source="test") for k, v in fields.items()},
        ome_xml="",
        ome_xml_origin="generated",
    )
    report = ValidationReport.model_validate({"dataset": "fw-x", "fair_level": "none"})
    write_crate_metadata(tmp_path, "fw-x", "fw-x.ome.zarr", record, report, [], "1")
    crate = ROCrate(tmp_path)
    ids = [e.id for e in crate.get_entities()]
    assert len(ids) == len(set(ids))
    root = crate.root_dataset
    assert [a.id for a in root["author"]] == [f"https://orcid.org/{ORCID}"] * 2
    assert crate.get(FBBI) is not None
