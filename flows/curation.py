"""Curators' fixes: apply, re-validate, archive a new metadata version, keep an audit trail.

Every value of every fix is checked against the schema before anything is stored; a bad
value in one dataset of a bulk fix stops the whole fix (nothing partial is applied). The
archived copy gets a new metadata version (RO-Crate, record, report, OME-XML, NGFF scale)
before the catalog records the change; pixel data is never rewritten and the previous version
stays readable (``fairway show DATASET --metadata-version N``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, JsonValue

from catalog import Catalog
from core.errors import TargetError
from core.files import file_digest
from core.records import Acquisition, MetadataRecord, State
from core.settings import Settings
from flows.steps import tool_version
from metadata.fixes import FieldChange, InvalidFixError, apply_fixes
from metadata.ome_apply import apply_to_ome
from metadata.sidecar import read_sidecar
from metadata.suggest import suggestions
from targets.copies import open_copies
from targets.versions import metadata_view, write_version
from validators import validate
from validators.schema import field_path_problem

__all__ = ["PROPOSAL_STEP", "FixResult", "fix_datasets", "propose_redelivery"]

#: the catalog event step of a proposed curation (a re-delivery's sidecar that differs)
PROPOSAL_STEP = "propose"


class FixResult(BaseModel):
    """What a fix did to one dataset (stable: ``fairway fix --json`` prints a list of these)."""

    dataset: str
    changes: list[FieldChange]
    fair_level_before: str | None
    fair_level: str
    metadata_version: int | None = None
    copies: list[str] = []
    warning: str | None = None


def _unknown_paths(changes: Mapping[str, JsonValue], record: MetadataRecord) -> list[str]:
    """Why each path of ``changes`` is not a field (schema, or one the record holds already)."""
    out = []
    for path in changes:
        if path in record.fields:
            continue  # an extracted field outside the schema (experimenters...) stays fixable
        problem = field_path_problem(path)
        if problem is not None:
            out.append(f"'{path}' is not a field of the metadata schema: {problem}")
    return out


def fix_datasets(
    settings: Settings,
    fixes: Mapping[str, Mapping[str, JsonValue]],
    *,
    reason: str,
    actor: str,
    accept_suggestions: bool = False,
) -> list[FixResult]:
    """Apply ``fixes`` (dataset -> field path -> value) to archived datasets.

    With ``accept_suggestions``, the values the gap report offers as auto-fillable (FBbi term
    from the acquisition mode, drafted descriptions...) are applied too, under the curator's
    name; an explicit value for the same field wins.

    Raises
    ------
    InvalidFixError
        A dataset is unknown or not archived, a path is not a schema field, or the schema
        refuses a value; the message names them all and nothing was changed.
    """
    if not reason.strip():
        raise InvalidFixError("a fix needs a reason", hint="add --reason 'what and why'")
    catalog = Catalog.open(settings.catalog_url)
    try:
        planned: list[tuple[Any, MetadataRecord, list[FieldChange], Any]] = []
        problems: list[str] = []
        for dataset, changes in fixes.items():
            row = catalog.find(dataset)
            if row is None or row.state != State.ARCHIVED.value or row.record is None:
                problems.append(f"{dataset}: no archived dataset of that name")
                continue
            record = MetadataRecord.model_validate(row.record)
            unknown = _unknown_paths(changes, record)
            if unknown:
                problems.extend(f"{dataset}: {u}" for u in unknown)
                continue
            if accept_suggestions:
                offered = {k: s.value for k, s in suggestions(record).items()}
                changes = {**offered, **changes}
            fixed, done = apply_fixes(record, changes, actor)
            if done:
                curated = [k for k, v in fixed.fields.items() if v.source.startswith("curator:")]
                fixed = fixed.model_copy(
                    update={"ome_xml": apply_to_ome(record.ome_xml, fixed, curated)}
                )
            with metadata_view(Path(row.location or ""), fixed) as view:
                report = validate(row.dataset, fixed, view)
            changed = {c.path for c in done}
            refused = [
                f"{row.dataset}: {f.message}"
                for f in report.findings
                if f.check.startswith("schema") and f.path in changed
            ]
            problems.extend(refused)
            planned.append((row, fixed, done, report))
        if problems:
            raise InvalidFixError(
                "; ".join(problems), hint="nothing was changed; correct the values and run again"
            )
        results = []
        copies = open_copies(settings)
        for row, fixed, done, report in planned:
            version = None
            synced: list[str] = []
            warning = None
            if done:
                version = write_version(
                    Path(row.location or ""),
                    fixed,
                    report,
                    changed=[c.path for c in done],
                    actor=actor,
                    reason=reason,
                    tool_version=tool_version(),
                ).version
                catalog.curate(
                    row.id,
                    actor,
                    reason,
                    [c.model_dump(mode="json") for c in done],
                    record=fixed.model_dump(mode="json"),
                    report=report.model_dump(mode="json"),
                    fair_level=report.fair_level,
                    metadata_version=version,
                )
                try:
                    for copy in copies:
                        copy.sync(row.dataset, Path(row.location or ""))
                        synced.append(copy.name)
                except TargetError as exc:
                    warning = f"{exc}; run `fairway repair {row.dataset}` when it is reachable"
            results.append(
                FixResult(
                    dataset=row.dataset,
                    changes=done,
                    fair_level_before=row.fair_level,
                    fair_level=report.fair_level,
                    metadata_version=version,
                    copies=synced,
                    warning=warning,
                )
            )
        return results
    finally:
        catalog.close()


def _sidecars_digest(acq: Acquisition) -> str:
    digest = hashlib.sha256()
    for f in sorted(acq.sidecars, key=lambda f: f.relpath):
        digest.update(f"{f.relpath}\0{f.sha256 or file_digest(f.path)}\n".encode())
    return digest.hexdigest()


def propose_redelivery(catalog: Catalog, acq: Acquisition, settings: Settings, actor: str) -> int:
    """Record what a re-delivery's sidecars say otherwise than the archived record.

    The pixels are archived already (identity is the content), so the new sidecar cannot
    change the record by itself; its differences become one proposed curation (a catalog
    event the gap report shows) for a curator to apply with ``fairway fix``. Values the
    image file itself gave win, as at the first delivery. The same sidecars seen again are
    not proposed again. Returns how many fields it proposes.

    Raises
    ------
    FairwayError
        A sidecar cannot be read (too large, not parseable).
    """
    row = catalog.find(acq.dataset_id)
    if not acq.sidecars or row is None or row.record is None:
        return 0
    digest = _sidecars_digest(acq)
    for event in catalog.events(row.id):
        detail = event.detail or {}
        if event.step == PROPOSAL_STEP and detail.get("sidecars_sha256") == digest:
            return len(detail.get("changes", []))
    record = MetadataRecord.model_validate(row.record)
    changes = []
    for sidecar in acq.sidecars:
        for path, offered in read_sidecar(
            sidecar.path, max_bytes=settings.max_sidecar_bytes
        ).items():
            held = record.fields.get(path)
            from_file = held is not None and not held.source.startswith(("sidecar:", "curator:"))
            if from_file or (held is not None and held.value == offered.value):
                continue
            changes.append(
                {
                    "path": path,
                    "old": held.value if held else None,
                    "new": offered.value,
                    "sidecar": str(sidecar.path),
                }
            )
    if changes:
        catalog.event(
            row.id,
            actor,
            PROPOSAL_STEP,
            "sidecar",
            {"sidecars_sha256": digest, "source": str(acq.source), "changes": changes},
        )
    return len(changes)
