"""Researchers' search over archived datasets: full text plus facets, on SQLite and PostgreSQL.

Full text uses each database's own engine: SQLite FTS5 (BM25 ranking, Porter stemming) and
PostgreSQL ``tsvector`` with a GIN index (``ts_rank``). Facets (organism, imaging method,
instrument, study, acquisition date, FAIR level) are plain columns, lower-cased, matched as
substrings; dates compare as ISO 8601 text.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import column, delete, or_, select, table, text
from sqlalchemy.orm import Session

from catalog.models import AcquisitionRow, SearchRow, utcnow
from core.records import FAIR_LEVELS, MetadataRecord
from core.release import embargoed_until

__all__ = [
    "SearchFilters",
    "SearchHit",
    "hit_values",
    "index_dataset",
    "search_datasets",
    "search_document",
]


class SearchFilters(BaseModel):
    """Facets of a search (all optional, combined with AND)."""

    organism: str | None = None
    method: str | None = None
    instrument: str | None = None
    study: str | None = None
    since: date | None = None
    until: date | None = None
    fair_level: str | None = None
    #: curators: also list embargoed datasets (researchers never see them)
    include_embargoed: bool = False


class SearchHit(BaseModel):
    """One dataset found (stable: ``fairway search --json`` prints a list of these)."""

    dataset: str
    title: str
    organism: str
    method: str
    instrument: str
    acquired: str
    fair_level: str
    embargoed_until: str | None = None


def _values(record: MetadataRecord, prefix: str, suffix: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(prefix)}\[\d+\]\.{re.escape(suffix)}$")
    return [str(v.value) for k, v in sorted(record.fields.items()) if pattern.match(k)]


def search_document(record: MetadataRecord, dataset: str, fair_level: str) -> dict[str, Any]:
    """The search row of a dataset: facets and the text the full-text index holds."""
    v = record.value
    organism = [
        *_values(record, "biosample.organism", "scientific_name"),
        *_values(record, "biosample.organism", "common_name"),
        *_values(record, "biosample.organism", "ncbi_taxon"),
    ]
    method = [
        *_values(record, "acquisition.imaging_method", "label"),
        *_values(record, "acquisition.imaging_method", "term_id"),
        *sorted(set(_values(record, "channels", "acquisition_mode"))),
    ]
    instrument = [
        str(x)
        for x in (
            v("instrument.microscope.manufacturer"),
            v("instrument.microscope.model"),
            v("instrument.microscope.serial_number"),
            v("instrument.registry_id"),
            v("objective.model"),
        )
        if x
    ]
    study = [str(x) for x in (v("study.title"), v("study_component.name")) if x]
    title = str(v("study.title") or v("image.name") or dataset)
    words = [
        title,
        str(v("study.description") or ""),
        " ".join(
            str(k.value)
            for key, k in sorted(record.fields.items())
            if key.startswith("study.keywords")
        ),
        str(v("study_component.name") or ""),
        str(v("study_component.description") or ""),
        str(v("biosample.biological_entity") or ""),
        str(v("specimen.sample_preparation_protocol") or ""),
        " ".join(_values(record, "study.authors", "name")),
        " ".join(_values(record, "channels", "name")),
        " ".join(_values(record, "channels", "fluor")),
        " ".join(organism),
        " ".join(method),
        " ".join(instrument),
        dataset,
    ]
    acquired = str(v("image.acquisition_date") or "")[:32]
    return {
        "dataset": dataset,
        "title": title[:500],
        "body": " ".join(w for w in words if w),
        "organism": " | ".join(organism).lower(),
        "method": " | ".join(method).lower(),
        "instrument": " | ".join(instrument).lower(),
        "study": " | ".join(study).lower(),
        "acquired": acquired,
        "fair_rank": FAIR_LEVELS.index(fair_level) if fair_level in FAIR_LEVELS else 0,
        "fair_level": fair_level,
    }


def _display(record: MetadataRecord, prefix: str, leaves: tuple[str, ...]) -> str:
    """The record's values of a facet as written: the first leaf each item has."""
    pattern = re.compile(rf"^{re.escape(prefix)}\[(\d+)\]\.")
    indices = sorted({int(m.group(1)) for key in record.fields if (m := pattern.match(key))})
    items = []
    for i in indices:
        for leaf in leaves:
            value = record.value(f"{prefix}[{i}].{leaf}")
            if value is not None:
                items.append(str(value))
                break
    return ", ".join(items)


def hit_values(record: MetadataRecord, dataset: str) -> dict[str, str]:
    """What a search hit shows of a dataset: the record's values, not the index's."""
    v = record.value
    instrument = " ".join(
        str(x)
        for x in (v("instrument.microscope.manufacturer"), v("instrument.microscope.model"))
        if x
    )
    return {
        "title": str(v("study.title") or v("image.name") or dataset),
        "organism": _display(
            record, "biosample.organism", ("scientific_name", "common_name", "ncbi_taxon")
        ),
        "method": _display(record, "acquisition.imaging_method", ("label", "term_id")),
        "instrument": instrument or str(v("instrument.registry_id") or ""),
        "acquired": str(v("image.acquisition_date") or "")[:32],
    }


#: an ontology term as a CURIE (``FBbi:00000253``), with an underscore, or as its OBO IRI
_TERM = re.compile(r"(?:https?://purl\.obolibrary\.org/obo/|obo:)?([A-Za-z][A-Za-z0-9]*)[:_](\d+)")


def _term_forms(value: str) -> list[str] | None:
    """The forms a term id takes in the index (lower-cased), or ``None`` for plain words."""
    match = _TERM.fullmatch(value.strip())
    if match is None:
        return None
    prefix, local = match.group(1).lower(), match.group(2)
    return [f"{prefix}:{local}", f"{prefix}_{local}"]


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _facet(column_: Any, value: str) -> Any:
    """A facet condition: a term id in any form as a whole id, else a substring."""
    forms = _term_forms(value)
    if forms is None:
        return column_.contains(value.lower(), autoescape=True)
    # a whole id: at the end of an entry (entries are joined with ' | '), never a prefix
    return or_(
        *(
            cond
            for form in forms
            for cond in (
                column_.like(f"%{_escape_like(form)}", escape="/"),
                column_.like(f"%{_escape_like(form)} |%", escape="/"),
            )
        )
    )


def index_dataset(s: Session, acquisition_id: str, document: dict[str, Any]) -> None:
    """Insert or replace a dataset's search row (and its full text) in the session."""
    dataset = document["dataset"]
    s.execute(delete(SearchRow).where(SearchRow.dataset == dataset))
    s.add(SearchRow(acquisition_id=acquisition_id, updated_at=utcnow(), **document))
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("DELETE FROM search_fts WHERE dataset = :d"), {"d": dataset})
        s.execute(
            text("INSERT INTO search_fts (dataset, body) VALUES (:d, :b)"),
            {"d": dataset, "b": document["body"]},
        )


def _fts5_query(query: str) -> str:
    """User words as FTS5 terms (quoted: no operator injection), all required."""
    words = re.findall(r"[\w\-:.]+", query, flags=re.UNICODE)
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _filtered(stmt: Any, f: SearchFilters) -> Any:
    for facet, value in (
        (SearchRow.organism, f.organism),
        (SearchRow.method, f.method),
        (SearchRow.instrument, f.instrument),
        (SearchRow.study, f.study),
    ):
        if value:
            stmt = stmt.where(_facet(facet, value))
    if f.since:
        stmt = stmt.where(SearchRow.acquired >= f.since.isoformat())
    if f.until:
        stmt = stmt.where(SearchRow.acquired < f.until.isoformat() + "T99")
    if f.fair_level:
        stmt = stmt.where(SearchRow.fair_rank >= FAIR_LEVELS.index(f.fair_level))
    return stmt


def search_datasets(
    s: Session, query: str, filters: SearchFilters, limit: int = 50
) -> list[SearchHit]:
    """Datasets matching ``query`` (full text; may be empty) and the filters, best first.

    Each hit shows the record's values. Embargoed datasets are left out unless
    ``filters.include_embargoed`` (curators); then each says until when.
    """
    columns = [SearchRow.dataset, SearchRow.fair_level, AcquisitionRow.record]
    dialect = s.get_bind().dialect.name
    stmt = select(*columns).join(AcquisitionRow, AcquisitionRow.id == SearchRow.acquisition_id)
    terms = query.strip()
    if terms and dialect == "sqlite":
        fts = _fts5_query(terms)
        if not fts:
            return []
        fts_table = table("search_fts", column("dataset"))
        stmt = (
            stmt.join(fts_table, fts_table.c.dataset == SearchRow.dataset)
            .where(text("search_fts MATCH :q"))
            .order_by(text("bm25(search_fts)"))
            .params(q=fts)
        )
    elif terms and dialect == "postgresql":
        stmt = (
            stmt.where(text("body_tsv @@ plainto_tsquery('english', :q)"))
            .order_by(text("ts_rank(body_tsv, plainto_tsquery('english', :q)) DESC"))
            .params(q=terms)
        )
    elif terms:  # another database: a plain substring match
        stmt = stmt.where(SearchRow.body.contains(terms, autoescape=True))
    stmt = _filtered(stmt, filters).order_by(SearchRow.acquired.desc())
    if filters.include_embargoed:
        stmt = stmt.limit(limit)
    hits: list[SearchHit] = []
    today = datetime.now(UTC).date()
    # embargoed rows are skipped here (the release date is in the record): read in batches
    for row in s.execute(stmt.execution_options(yield_per=200)):
        fields = (row.record or {}).get("fields", {})
        record = MetadataRecord.model_validate(
            {"fields": fields, "ome_xml": "", "ome_xml_origin": "generated"}
        )
        until = embargoed_until(record, today)
        if until is not None and not filters.include_embargoed:
            continue
        hits.append(
            SearchHit(
                dataset=row.dataset,
                fair_level=row.fair_level,
                embargoed_until=until.isoformat() if until else None,
                **hit_values(record, row.dataset),
            )
        )
        if len(hits) >= limit:
            break
    return hits
