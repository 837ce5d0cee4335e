"""Assemble a :class:`~core.records.ValidationReport` and derive the FAIR level."""

from __future__ import annotations

from pathlib import Path

from core.records import Finding, MetadataRecord, Severity, ValidationReport
from schemas import DEFAULT_SCHEMA, load
from validators.ngff import check_ngff
from validators.schema import check_record

__all__ = ["FAIR_LEVELS", "fair_level", "validate"]

#: from lowest to highest
FAIR_LEVELS = ("none", "ngff", "rembi", "rembi+nbo-tier1")


def fair_level(findings: list[Finding] | tuple[Finding, ...]) -> str:
    """The highest level whose requirements the findings leave intact."""
    if any(f.check == "ngff" and f.severity is Severity.ERROR for f in findings):
        return "none"
    schema_findings = [f for f in findings if f.check.startswith("schema:")]
    if any(f.level in {"required", "conditional"} for f in schema_findings):
        return "ngff"
    if any(f.level == "tier1" for f in schema_findings):
        return "rembi"
    return "rembi+nbo-tier1"


def validate(
    dataset: str, record: MetadataRecord, store: Path, schema_name: str = DEFAULT_SCHEMA
) -> ValidationReport:
    """Run every check on a converted dataset and return one report."""
    findings = [*check_ngff(store), *check_record(record, schema_name)]
    return ValidationReport(
        dataset=dataset,
        findings=tuple(findings),
        schema_ids=(load(schema_name)["$id"],),
        fair_level=fair_level(findings),
    )
