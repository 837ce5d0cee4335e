"""The steps of one acquisition: each calls one library function and records an audit event.

Plain functions (``flows.pipeline`` sequences them; ``flows.ingestion`` wraps the pipeline in
Prefect). No step decides policy; each calls the library with explicit inputs and lets errors
propagate.
"""

from __future__ import annotations

import shutil
from importlib.metadata import version
from pathlib import Path

from catalog import Catalog
from core.errors import FairwayError
from core.failpoints import failpoint
from core.ngffio import NGFF_KIND
from core.omeutil import parse_ome
from core.progress import ProgressCallback
from core.records import (
    Acquisition,
    ArchivedDataset,
    ConvertedImage,
    MetadataRecord,
    ValidationReport,
)
from core.settings import Settings
from ingest import Candidate, check_unchanged, fingerprint
from ingest.dicom import DICOM_KIND
from ingest.labels import label_files
from metadata import extract
from metadata.dicom_source import series_files
from targets import ArchiveConflictError, LocalArchive, assemble_payload, bag_info
from targets.copies import open_copies
from targets.package import RECORD_FILE, REPORT_FILE
from validators import validate

__all__ = [
    "adopt_step",
    "archive_step",
    "convert_step",
    "extract_step",
    "identify_step",
    "replicate",
    "tool_version",
    "validate_step",
]


def tool_version() -> str:
    """Installed version of fairway."""
    return version("fairway")


def identify_step(cand: Candidate, catalog: Catalog) -> Acquisition:
    """Fingerprint a complete candidate by content (cached hashes for unchanged files).

    DICOM file paths can carry patient names: they are not cached in the catalog, and an
    error names the series by its derived name.
    """
    if cand.kind != DICOM_KIND:
        acq = fingerprint(cand, known=catalog.known_hash)
        catalog.remember_hashes((*acq.files, *acq.sidecars))
        return acq
    try:
        return fingerprint(cand)
    except FairwayError as exc:
        raise type(exc)(exc.problem, where=cand.source, hint=exc.hint) from None


def extract_step(
    acq: Acquisition, settings: Settings, catalog: Catalog, worker: str
) -> MetadataRecord:
    """Read metadata from the acquisition's files and sidecars (DICOM: de-identified)."""
    record = extract(acq, settings)
    catalog.event(
        acq.id,
        worker,
        "extract",
        "ok",
        {
            "fields": len(record.fields),
            "unmapped_namespaces": sorted(record.unmapped),
            "ome_xml": record.ome_xml_origin,
        },
    )
    return record


def convert_step(
    acq: Acquisition,
    record: MetadataRecord,
    settings: Settings,
    catalog: Catalog,
    worker: str,
    progress: ProgressCallback,
) -> tuple[Path, list[ConvertedImage]]:
    """Write the OME-Zarr into the staging area."""
    from converters import write_ome_zarr  # zarr and dask: only where pixels are written

    dest = settings.staging_root / acq.dataset_id / f"{acq.dataset_id}.ome.zarr"
    ome, _ = parse_ome(record.ome_xml)
    dicom = acq.kind == DICOM_KIND
    folder = dicom or acq.kind == NGFF_KIND  # read as a whole, not from a primary file
    images = write_ome_zarr(
        acq.source if folder else acq.primary.path,
        acq.kind,
        ome,
        record.ome_xml,
        dest,
        settings,
        labels=label_files(acq),
        members=series_files(acq.source, [(f.path, f.relpath) for f in acq.files]) if dicom else (),
        progress=progress,
    )
    check_unchanged(acq)  # what was converted is what was identified, or SourceChangedError
    catalog.event(
        acq.id,
        worker,
        "convert",
        "ok",
        {
            "images": [i.model_dump(mode="json") for i in images],
            "ngff": settings.ngff_version,
        },
    )
    return dest, images


def validate_step(
    acq: Acquisition, record: MetadataRecord, store: Path, catalog: Catalog, worker: str
) -> ValidationReport:
    """Check NGFF structure and metadata; findings never block archiving."""
    failpoint("validate")
    report = validate(acq.dataset_id, record, store)
    catalog.event(
        acq.id,
        worker,
        "validate",
        "ok",
        {
            "findings": len(report.findings),
            "fair_level": report.fair_level,
            "ngff_valid": report.ngff_valid,
        },
    )
    return report


def archive_step(
    acq: Acquisition,
    record: MetadataRecord,
    report: ValidationReport,
    store: Path,
    settings: Settings,
    catalog: Catalog,
    worker: str,
) -> ArchivedDataset:
    """Bag, verify by reading back, and commit the dataset to the local archive."""
    archive = LocalArchive(settings.archive_root, processes=settings.workers)
    if store.exists() or not archive.exists(acq.dataset_id):
        payload = assemble_payload(
            store.parent / "payload", acq.dataset_id, store, record, report, tool_version()
        )
        result = archive.publish(
            acq.dataset_id, payload, bag_info(acq.dataset_id, record, acq.fingerprint)
        )
    else:  # a retry after the primary commit: only the copies are left to write
        result = archive.committed(acq.dataset_id)
    copies = replicate(acq.dataset_id, Path(result.location), settings)
    catalog.event(
        acq.id,
        worker,
        "archive",
        "ok",
        {
            "location": result.location,
            "files": result.payload_files,
            "bytes": result.payload_bytes,
            "manifest_sha256": result.manifest_sha256,
            "copies": copies,
        },
    )
    shutil.rmtree(settings.staging_root / acq.dataset_id, ignore_errors=True)
    return result


def replicate(dataset: str, bag: Path, settings: Settings) -> list[dict[str, str]]:
    """Bring every further copy the settings require up to the committed ``bag``.

    Raises
    ------
    TargetError
        A copy could not be written or read back; the dataset does not count as archived
        (``fairway repair`` completes it once the copy is reachable).
    """
    out = []
    for copy in open_copies(settings):
        done = copy.sync(dataset, bag)
        out.append(
            {"copy": copy.name, "location": done.location, "manifest_sha256": done.manifest_sha256}
        )
    return out


def adopt_step(
    acq: Acquisition, settings: Settings, catalog: Catalog, worker: str
) -> tuple[MetadataRecord, ValidationReport, ArchivedDataset] | None:
    """Finish an acquisition whose bag was committed before a crash: verify, do not rewrite.

    Returns ``None`` when no committed bag exists.
    """
    archive = LocalArchive(settings.archive_root, processes=settings.workers)
    if not archive.exists(acq.dataset_id):
        return None
    findings = archive.verify(acq.dataset_id)
    if findings:
        raise ArchiveConflictError(
            f"committed bag does not verify ({findings[0].message})",
            where=archive.location(acq.dataset_id),
            hint="inspect it with `fairway verify`; fairway never overwrites an archive",
        )
    data = Path(archive.location(acq.dataset_id)) / "data"
    record = MetadataRecord.model_validate_json((data / RECORD_FILE).read_text(encoding="utf-8"))
    report = ValidationReport.model_validate_json((data / REPORT_FILE).read_text(encoding="utf-8"))
    result = archive.committed(acq.dataset_id)
    copies = replicate(acq.dataset_id, Path(result.location), settings)
    catalog.event(
        acq.id, worker, "archive", "adopted", {"location": result.location, "copies": copies}
    )
    shutil.rmtree(settings.staging_root / acq.dataset_id, ignore_errors=True)
    return record, report, result
