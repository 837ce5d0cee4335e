"""Fixity audits and repairs across every copy of the archive, recorded in the catalog.

``audit`` re-reads each archived dataset in the primary archive and in every further copy
and compares the bytes with the recorded checksums; each audit of each dataset is an event.
``repair`` restores damaged copies from an intact one (the primary if it verifies, else the
first intact copy), or, when every copy is damaged somewhere, from a bag rebuilt file by file
out of the copies that hold each file intact; then it audits again. ``audit_flow`` is the
Prefect flow a scheduled deployment runs (``prefect.yaml``: ``fixity-audit``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from catalog import Catalog, worker_id
from catalog.models import AcquisitionRow
from core.errors import FinalError, TargetError
from core.files import file_digest
from core.records import Finding, MetadataRecord, State, ValidationReport
from core.settings import Settings, load_settings
from targets import LocalArchive
from targets.copies import BagCopy, open_copies
from targets.package import RECORD_FILE, REPORT_FILE

__all__ = [
    "AuditResult",
    "CopyAudit",
    "NoSuchDatasetError",
    "RepairResult",
    "audit",
    "audit_copies",
    "audit_flow",  # noqa: F822 - made on first use by __getattr__
    "repair",
]

PRIMARY = "primary"


class NoSuchDatasetError(FinalError):
    """A dataset id the catalog does not know (a typo): a usage error, not damage."""


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


def audit_copies(
    dataset: str, archive: LocalArchive, copies: list[BagCopy], *, quick: bool = False
) -> list[CopyAudit]:
    """Re-read ``dataset`` in the primary archive and in each copy; one audit per copy.

    ``quick``: copies on S3 compare the store's SHA-256 of each object instead of reading it.
    """
    out = [
        CopyAudit(
            copy_name=PRIMARY,
            location=archive.location(dataset),
            ok=not (found := archive.verify(dataset)),
            findings=found,
        )
    ]
    for copy in copies:
        found = copy.verify(dataset, quick=quick)
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


def audit(
    settings: Settings, datasets: list[str] | None = None, *, quick: bool = False
) -> list[AuditResult]:
    """Audit ``datasets`` (default: every archived one) in every copy; one event each.

    ``quick`` (``fairway verify --quick``): S3 copies are checked against the checksums the
    store keeps, without a download; the scheduled audit reads every byte.

    Raises
    ------
    NoSuchDatasetError
        A named dataset is not in the catalog (nothing was audited).
    """
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
            unknown = [d for d, r in zip(datasets, rows, strict=True) if r is None]
            if unknown:
                raise NoSuchDatasetError(
                    "no such dataset", where=", ".join(unknown), hint="`fairway status` lists them"
                )
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
            audits = audit_copies(row.dataset, archive, copies, quick=quick)
            result = _result(row.dataset, audits)
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


def _manifest(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, rel = line.split(maxsplit=1)
            out[rel.strip()] = digest
    return out


def _assemble(
    dataset: str, archive: LocalArchive, copies: list[BagCopy], dest: Path
) -> tuple[list[str], list[str]]:
    """Build an intact bag of ``dataset`` in ``dest`` from every copy, file by file.

    The tag files (manifest included) come from the first copy, the primary first, whose tag
    manifest matches them; each payload file from the first copy whose bytes match that
    manifest. Returns the copies used and the files no copy holds
    intact.
    """
    primary = Path(archive.location(dataset))

    def from_primary(rel: str, target: Path) -> bool:
        if not (primary / rel).is_file():
            return False
        shutil.copyfile(primary / rel, target)
        return True

    sources: list[tuple[str, Any]] = [(PRIMARY, from_primary)]
    sources += [
        (c.name, lambda rel, target, c=c: c.fetch_file(dataset, rel, target)) for c in copies
    ]
    dest.mkdir(parents=True)
    used: list[str] = []

    def take(rel: str, digest: str | None, only: list[tuple[str, Any]]) -> str | None:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        for name, get in only:
            if get(rel, target) and (digest is None or file_digest(target) == digest):
                return name
        target.unlink(missing_ok=True)
        return None

    tags = "tagmanifest-sha256.txt"
    for name, get in sources:
        if not take(tags, None, [(name, get)]):
            continue
        listed = _manifest(dest / tags)
        if "manifest-sha256.txt" in listed and all(
            take(rel, digest, [(name, get)]) for rel, digest in listed.items()
        ):
            used.append(name)
            break
    else:
        return used, [tags]
    lost = []
    for rel, digest in sorted(_manifest(dest / "manifest-sha256.txt").items()):
        got = take(rel, digest, sources)
        if got is None:
            lost.append(rel)
        elif got not in used:
            used.append(got)
    return used, lost


def repair(settings: Settings, dataset: str) -> RepairResult:
    """Restore every damaged copy of ``dataset`` from an intact one, then audit again.

    Also completes a dataset quarantined because a copy could not be written: when its
    primary bag verifies and every copy is brought up to it, it becomes archived.

    Raises
    ------
    NoSuchDatasetError
        The catalog does not know ``dataset``.
    """
    archive = LocalArchive(settings.archive_root, processes=settings.workers)
    copies = open_copies(settings)
    actor = worker_id()
    catalog = Catalog.open(settings.catalog_url)
    try:
        row = catalog.find(dataset)
        if row is None:
            raise NoSuchDatasetError(
                "no such dataset", where=dataset, hint="`fairway status` lists them"
            )
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
        repaired: list[str] = []
        settings.staging_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.staging_root) as tmp:
            if intact is None:
                # no copy is whole: rebuild one file by file from whichever copy holds the
                # manifest's bytes for it
                good = Path(tmp) / row.dataset
                used, lost = _assemble(row.dataset, archive, copies, good)
                if lost:
                    error = (
                        f"no intact version of {', '.join(lost[:5])}"
                        + (f" (and {len(lost) - 5} more)" if len(lost) > 5 else "")
                        + " in any copy; nothing was changed"
                    )
                    catalog.event(row.id, actor, "repair", "failed", {"reason": error})
                    return RepairResult(
                        dataset=dataset, source=None, repaired=[], ok=False, error=error
                    )
                source_name = "file by file from " + ", ".join(used)
            elif intact.copy_name == PRIMARY:
                good = Path(archive.location(row.dataset))
                source_name = PRIMARY
            else:
                source = next(c for c in copies if c.name == intact.copy_name)
                good = source.fetch(row.dataset, Path(tmp) / row.dataset)
                source_name = intact.copy_name
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
        detail = {"source": source_name, "repaired": repaired, "ok": after.ok}
        if storage_failure and after.ok:
            _reinstate(catalog, row, Path(archive.location(row.dataset)), actor, detail)
        else:
            catalog.event(row.id, actor, "repair", "ok" if after.ok else "failed", detail)
        return RepairResult(
            dataset=dataset, source=source_name, repaired=repaired, ok=after.ok, after=after
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
