"""Fixity audits and repairs across every copy of the archive, recorded in the catalog.

``audit`` re-reads each archived dataset in the primary archive and in every further copy
and compares the bytes with the recorded checksums; each audit of each dataset is an event.
``repair`` restores damaged copies from an intact one (the primary if it verifies, else the
first intact copy), then audits again. ``audit_flow`` is the Prefect flow a scheduled
deployment runs (``prefect.yaml``: ``fixity-audit``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from catalog import Catalog, worker_id
from catalog.models import AcquisitionRow
from core.errors import TargetError
from core.records import Finding, MetadataRecord, State, ValidationReport
from core.settings import Settings, load_settings
from targets import LocalArchive
from targets.copies import BagCopy, open_copies
from targets.package import RECORD_FILE, REPORT_FILE

__all__ = [
    "AuditResult",
    "CopyAudit",
    "RepairResult",
    "audit",
    "audit_copies",
    "audit_flow",  # noqa: F822 - made on first use by __getattr__
    "repair",
]

PRIMARY = "primary"


class CopyAudit(BaseModel):
    """One copy of one dataset, audited."""

    copy_name: str
    location: str
    ok: bool
    findings: list[Finding]


class AuditResult(BaseModel):
    """A dataset audited in every copy (``fairway verify --json`` prints a list of these)."""

    dataset: str
    ok: bool
    findings: list[Finding]
    copies: list[CopyAudit]
    error: str | None = None


class RepairResult(BaseModel):
    """What ``fairway repair`` did to one dataset."""

    dataset: str
    source: str | None
    repaired: list[str]
    ok: bool
    after: AuditResult | None = None
    error: str | None = None


def audit_copies(dataset: str, archive: LocalArchive, copies: list[BagCopy]) -> list[CopyAudit]:
    """Re-read ``dataset`` in the primary archive and in each copy; one audit per copy."""
    out = [
        CopyAudit(
            copy_name=PRIMARY,
            location=archive.location(dataset),
            ok=not (found := archive.verify(dataset)),
            findings=found,
        )
    ]
    for copy in copies:
        found = copy.verify(dataset)
        out.append(
            CopyAudit(
                copy_name=copy.name, location=copy.location(dataset), ok=not found, findings=found
            )
        )
    return out


def _result(dataset: str, audits: list[CopyAudit]) -> AuditResult:
    return AuditResult(
        dataset=dataset,
        ok=all(a.ok for a in audits),
        findings=[f for a in audits for f in a.findings],
        copies=audits,
    )


def audit(settings: Settings, datasets: list[str] | None = None) -> list[AuditResult]:
    """Audit ``datasets`` (default: every archived one) in every copy; one event each."""
    archive = LocalArchive(settings.archive_root, processes=settings.workers)
    copies = open_copies(settings)
    actor = worker_id()
    catalog = Catalog.open(settings.catalog_url)
    results = []
    try:
        rows: list[AcquisitionRow | None]
        if datasets is None:
            rows = list(catalog.acquisitions(State.ARCHIVED))
        else:
            rows = [catalog.find(d) for d in datasets]
        for name, row in zip(datasets or [r.dataset for r in rows if r], rows, strict=False):
            if row is None or row.state != State.ARCHIVED.value:
                state = row.state if row is not None else "unknown"
                results.append(
                    AuditResult(
                        dataset=name,
                        ok=False,
                        findings=[],
                        copies=[],
                        error=f"not archived (state {state})",
                    )
                )
                continue
            result = _result(row.dataset, audit_copies(row.dataset, archive, copies))
            catalog.event(
                row.id,
                actor,
                "verify",
                "ok" if result.ok else "damaged",
                {
                    "copies": {a.copy_name: len(a.findings) for a in result.copies},
                    "findings": [f.model_dump(mode="json") for f in result.findings[:50]],
                },
            )
            results.append(result)
    finally:
        catalog.close()
    return results


def _reinstate(
    catalog: Catalog, row: AcquisitionRow, bag: Path, actor: str, detail: dict[str, Any]
) -> None:
    data = bag / "data"
    record = MetadataRecord.model_validate_json((data / RECORD_FILE).read_text(encoding="utf-8"))
    report = ValidationReport.model_validate_json((data / REPORT_FILE).read_text(encoding="utf-8"))
    catalog.reinstate(
        row.id,
        actor,
        record=record.model_dump(mode="json"),
        report=report.model_dump(mode="json"),
        fair_level=report.fair_level,
        location=str(bag),
        detail=detail,
    )


def repair(settings: Settings, dataset: str) -> RepairResult:
    """Restore every damaged copy of ``dataset`` from an intact one, then audit again.

    Also completes a dataset quarantined because a copy could not be written: when its
    primary bag verifies and every copy is brought up to it, it becomes archived.
    """
    archive = LocalArchive(settings.archive_root, processes=settings.workers)
    copies = open_copies(settings)
    actor = worker_id()
    catalog = Catalog.open(settings.catalog_url)
    try:
        row = catalog.find(dataset)
        storage_failure = (
            row is not None
            and row.state == State.QUARANTINED.value
            and (row.reason or "").startswith("TargetError")
        )
        if row is None or (row.state != State.ARCHIVED.value and not storage_failure):
            state = row.state if row is not None else "unknown"
            return RepairResult(
                dataset=dataset,
                source=None,
                repaired=[],
                ok=False,
                error=f"nothing to repair (state {state})",
            )
        audits = audit_copies(row.dataset, archive, copies)
        intact = next((a for a in audits if a.ok), None)
        if intact is None:
            catalog.event(row.id, actor, "repair", "failed", {"reason": "no intact copy"})
            return RepairResult(
                dataset=dataset,
                source=None,
                repaired=[],
                ok=False,
                error="no intact copy to repair from: every copy has findings",
            )
        repaired: list[str] = []
        settings.staging_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.staging_root) as tmp:
            if intact.copy_name == PRIMARY:
                good = Path(archive.location(row.dataset))
            else:
                source = next(c for c in copies if c.name == intact.copy_name)
                good = source.fetch(row.dataset, Path(tmp) / row.dataset)
            for a in audits:
                if a.ok:
                    continue
                if a.copy_name == PRIMARY:
                    archive.restore(row.dataset, good)
                    good = Path(archive.location(row.dataset))
                else:
                    next(c for c in copies if c.name == a.copy_name).sync(row.dataset, good)
                repaired.append(a.copy_name)
            shutil.rmtree(Path(tmp) / row.dataset, ignore_errors=True)
        after = _result(row.dataset, audit_copies(row.dataset, archive, copies))
        detail = {"source": intact.copy_name, "repaired": repaired, "ok": after.ok}
        if storage_failure and after.ok:
            _reinstate(catalog, row, Path(archive.location(row.dataset)), actor, detail)
        else:
            catalog.event(row.id, actor, "repair", "ok" if after.ok else "failed", detail)
        return RepairResult(
            dataset=dataset, source=intact.copy_name, repaired=repaired, ok=after.ok, after=after
        )
    except TargetError as exc:
        return RepairResult(dataset=dataset, source=None, repaired=[], ok=False, error=str(exc))
    finally:
        catalog.close()


def _audit_flow(home: str | None = None) -> list[AuditResult]:
    """Audit every archived dataset in every copy; a Markdown artifact lists what is damaged."""
    from prefect import get_run_logger
    from prefect.artifacts import create_markdown_artifact

    settings = load_settings(home)
    logger = get_run_logger()
    results = audit(settings)
    damaged = [r for r in results if not r.ok]
    lines = [
        f"# Fixity audit: {len(results) - len(damaged)} of {len(results)} datasets intact",
        "",
        "| dataset | copy | file | problem |",
        "|---|---|---|---|",
    ]
    for r in damaged:
        for a in r.copies:
            for f in a.findings:
                lines.append(f"| {r.dataset} | {a.copy_name} | `{f.path}` | {f.message} |")
    create_markdown_artifact("\n".join(lines) + "\n", key="fixity-audit")
    logger.info("fixity audit: %d datasets, %d damaged", len(results), len(damaged))
    return results


def __getattr__(name: str) -> Any:
    """Make ``audit_flow``, the Prefect flow, on first use.

    ``fairway verify`` and ``repair`` call the plain functions above and need not import
    Prefect (seconds); a deployment's ``flows/fixity.py:audit_flow`` gets the flow.
    """
    if name != "audit_flow":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from prefect import flow

    made = flow(name="fixity-audit", log_prints=False)(_audit_flow)
    globals()["audit_flow"] = made
    return made
