"""Assemble the payload of a dataset: OME-Zarr, metadata record, validation report, RO-Crate."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.records import MetadataRecord, ValidationReport
from targets.crate import write_crate_metadata

__all__ = ["RECORD_FILE", "REPORT_FILE", "assemble_payload", "bag_info"]

RECORD_FILE = "metadata/record.json"
REPORT_FILE = "metadata/validation.json"


def assemble_payload(
    work: Path,
    dataset: str,
    zarr_store: Path,
    record: MetadataRecord,
    report: ValidationReport,
    tool_version: str,
) -> Path:
    """Create ``work`` holding everything a dataset's archive carries; returns ``work``.

    The OME-Zarr is moved (not copied) from ``zarr_store``.
    """
    if work.exists():
        shutil.rmtree(work)
    (work / "metadata").mkdir(parents=True)
    zarr_name = f"{dataset}.ome.zarr"
    shutil.move(str(zarr_store), str(work / zarr_name))
    (work / RECORD_FILE).write_text(record.model_dump_json(indent=2), encoding="utf-8")
    (work / REPORT_FILE).write_text(report.model_dump_json(indent=2), encoding="utf-8")
    write_crate_metadata(
        work, dataset, zarr_name, record, report, [RECORD_FILE, REPORT_FILE], tool_version
    )
    return work


def bag_info(dataset: str, record: MetadataRecord, source_fingerprint: str) -> dict[str, str]:
    """BagIt ``bag-info.txt`` fields (no personal data)."""
    info = {
        "External-Identifier": dataset,
        "External-Description": str(
            record.value("study.title") or record.value("image.name") or dataset
        )[:200],
        "Source-Fingerprint-SHA256": source_fingerprint,
        "Bag-Software-Agent": "fairway",
    }
    if (org := record.value("study.authors[0].affiliation")) is not None:
        info["Source-Organization"] = str(org)[:200]
    return info
