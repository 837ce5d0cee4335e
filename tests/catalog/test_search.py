"""`fairway search`: full text and facets, on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from catalog import Catalog
from catalog.search import SearchFilters
from core.records import Acquisition, MetadataRecord, Sourced, SourceFile, State

DATASETS: list[dict[str, Any]] = [
    {
        "study.title": "Focal adhesions in migrating HeLa cells",
        "study.description": "Paxillin dynamics imaged by spinning disk confocal microscopy",
        "biosample.organism[0].scientific_name": "Homo sapiens",
        "biosample.organism[0].ncbi_taxon": "NCBITaxon:9606",
        "acquisition.imaging_method[0].label": "spinning disk confocal microscopy",
        "acquisition.imaging_method[0].term_id": "http://purl.obolibrary.org/obo/FBbi_00000253",
        "instrument.microscope.model": "Eclipse Ti2-E",
        "image.acquisition_date": "2026-11-20T14:32:05",
    },
    {
        "study.title": "Zebrafish heart regeneration after cryoinjury",
        "study.description": "Light-sheet time-lapse of regenerating ventricles",
        "biosample.organism[0].scientific_name": "Danio rerio",
        "acquisition.imaging_method[0].label": "selective plane illumination microscopy",
        "instrument.microscope.model": "Lightsheet 7",
        "image.acquisition_date": "2025-03-02T09:00:00",
    },
    {
        "study.title": "Mouse cortex neurons, widefield survey",
        "biosample.organism[0].scientific_name": "Mus musculus",
        "acquisition.imaging_method[0].label": "wide-field fluorescence microscopy",
        "image.acquisition_date": "2024-07-15T10:00:00",
    },
]


def _archive(catalog: Catalog, i: int, fields: dict[str, Any], level: str) -> str:
    fp = f"{i:02d}" * 32
    f = SourceFile(path=Path(f"/in/{i}.tif"), relpath=f"{i}.tif", size=1, mtime_ns=1, sha256=fp)
    acq = Acquisition(fingerprint=fp, source=Path(f"/in/{i}.tif"), kind="tiff", files=(f,))
    catalog.claim(acq, "w")
    record = MetadataRecord(
        fields={k: Sourced(value=v, source="test") for k, v in fields.items()},
        ome_xml="",
        ome_xml_origin="generated",
    )
    catalog.finish(
        acq.id,
        "w",
        State.ARCHIVED,
        record=record.model_dump(mode="json"),
        report={},
        fair_level=level,
        location="/archive",
    )
    return acq.dataset_id


def test_full_text_and_facets(catalog: Catalog) -> None:
    ids = [
        _archive(catalog, i, f, level)
        for i, (f, level) in enumerate(
            zip(DATASETS, ["rembi+nbo-tier1", "rembi", "ngff"], strict=True)
        )
    ]
    hela, fish, mouse = ids
    assert [h.dataset for h in catalog.search("paxillin")] == [hela]
    assert [h.dataset for h in catalog.search("regenerating heart")] == [fish]  # stemmed
    assert catalog.search("nothing-like-this") == []
    assert {h.dataset for h in catalog.search("", SearchFilters(organism="mus musculus"))} == {
        mouse
    }
    assert [h.dataset for h in catalog.search("", SearchFilters(organism="NCBITaxon:9606"))] == [
        hela
    ]
    assert [h.dataset for h in catalog.search("", SearchFilters(method="FBbi_00000253"))] == [hela]
    assert [h.dataset for h in catalog.search("", SearchFilters(instrument="lightsheet"))] == [fish]
    assert [h.dataset for h in catalog.search("", SearchFilters(study="zebrafish"))] == [fish]
    recent = catalog.search("", SearchFilters(since=date(2025, 1, 1)))
    assert [h.dataset for h in recent] == [hela, fish]  # newest first
    old = catalog.search("", SearchFilters(until=date(2024, 12, 31)))
    assert [h.dataset for h in old] == [mouse]
    good = catalog.search("", SearchFilters(fair_level="rembi"))
    assert {h.dataset for h in good} == {hela, fish}
    # operators are searched as words (all required), not run as query syntax
    assert catalog.search('heart" OR "mouse') == []
    assert catalog.search("NEAR(heart") == []


def test_a_curated_fix_is_searchable(catalog: Catalog) -> None:
    dataset = _archive(catalog, 7, DATASETS[2], "ngff")
    row = catalog.find(dataset)
    assert row is not None and row.record is not None
    record = MetadataRecord.model_validate(row.record)
    fields = dict(record.fields)
    fields["study.keywords[0]"] = Sourced(value="barrel cortex", source="curator:x")
    fixed = record.model_copy(update={"fields": fields})
    catalog.curate(
        row.id, "x", "r", [], record=fixed.model_dump(mode="json"), report={}, fair_level="ngff"
    )
    assert [h.dataset for h in catalog.search("barrel")] == [dataset]


def test_term_ids_in_any_form_and_hits_carry_the_records_values(catalog: Catalog) -> None:
    hela = _archive(catalog, 0, DATASETS[0], "rembi+nbo-tier1")
    curie = _archive(
        catalog,
        1,
        {**DATASETS[2], "acquisition.imaging_method[0].term_id": "FBbi:00000246"},
        "ngff",
    )
    for form in (
        "FBbi:00000253",
        "FBbi_00000253",
        "fbbi:00000253",
        "http://purl.obolibrary.org/obo/FBbi_00000253",
    ):
        assert [h.dataset for h in catalog.search("", SearchFilters(method=form))] == [hela], form
    for form in ("FBbi_00000246", "http://purl.obolibrary.org/obo/FBbi_00000246"):
        assert [h.dataset for h in catalog.search("", SearchFilters(method=form))] == [curie]
    for form in ("NCBITaxon_9606", "http://purl.obolibrary.org/obo/NCBITaxon_9606"):
        assert [h.dataset for h in catalog.search("", SearchFilters(organism=form))] == [hela]
    # a whole id is not a prefix of a longer one
    assert catalog.search("", SearchFilters(organism="NCBITaxon:960")) == []
    # hits show the record's values, not the lower-cased index
    [hit] = catalog.search("paxillin")
    assert hit.organism == "Homo sapiens"
    assert hit.method == "spinning disk confocal microscopy"
    assert hit.instrument == "Eclipse Ti2-E"
    assert hit.title == "Focal adhesions in migrating HeLa cells"


def test_embargoed_datasets_are_hidden_from_researchers(catalog: Catalog) -> None:
    open_ = _archive(catalog, 0, {**DATASETS[0], "study.release_date": "2020-01-01"}, "rembi")
    later = _archive(catalog, 1, {**DATASETS[1], "study.release_date": "2999-01-01"}, "rembi")
    assert [h.dataset for h in catalog.search("")] == [open_]
    assert catalog.search("zebrafish") == []
    # curators can list them, marked with the date
    both = catalog.search("", SearchFilters(include_embargoed=True))
    assert {h.dataset: h.embargoed_until for h in both} == {open_: None, later: "2999-01-01"}
