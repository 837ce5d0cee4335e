"""Assemble a :class:`~core.records.ValidationReport` and derive the FAIR level."""

from __future__ import annotations

from pathlib import Path

from core.records import Finding, MetadataRecord, Severity, ValidationReport
from schemas import DEFAULT_SCHEMA, load
from validators.loss import check_metadata_loss
from validators.ngff import check_ngff
from validators.schema import check_record

__all__ = ["FAIR_LEVELS", "fair_level", "report_markdown", "validate"]

#: from lowest to highest
FAIR_LEVELS = ("none", "ngff", "rembi", "rembi+nbo-tier1")


def fair_level(findings: list[Finding] | tuple[Finding, ...]) -> str:
    """The highest level whose requirements the findings leave intact."""
    if any(f.check in {"ngff", "metadata-loss"} and f.severity is Severity.ERROR for f in findings):
        return "none"
    schema_findings = [f for f in findings if f.check.startswith("schema:")]
    if any(f.level in {"required", "conditional"} for f in schema_findings):
        return "ngff"
    if any(f.level == "tier1" for f in schema_findings):
        return "rembi"
    return "rembi+nbo-tier1"


def _extraction_notes(record: MetadataRecord) -> list[Finding]:
    """What extraction noticed but could not map (DPI, odd units, bad Z steps) as findings."""
    notes = record.unmapped.get("fairway.notes", {})
    return [
        Finding(
            path=f"source/{reader}",
            module="Image Data",
            level="recommended",
            severity=Severity.WARNING,
            message=str(note),
            fix_hint="check the acquisition software's calibration, or set the value by hand",
            check="extract",
        )
        for reader, items in notes.items()
        for note in (items if isinstance(items, list) else [items])
    ]


def validate(
    dataset: str, record: MetadataRecord, store: Path, schema_name: str = DEFAULT_SCHEMA
) -> ValidationReport:
    """Run every check on a converted dataset and return one report."""
    findings = [
        *check_ngff(store),
        *check_metadata_loss(record.ome_xml, store),
        *check_record(record, schema_name),
        *_extraction_notes(record),
    ]
    return ValidationReport(
        dataset=dataset,
        findings=tuple(findings),
        schema_ids=(load(schema_name)["$id"],),
        fair_level=fair_level(findings),
    )


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def report_markdown(report: ValidationReport) -> str:
    """The gap report as Markdown: FAIR level, counts, and one table row per finding."""
    counts = {s.value: len(report.by_severity(s)) for s in Severity}
    lines = [
        f"# {report.dataset}: FAIR level `{report.fair_level}`",
        "",
        ", ".join(f"{n} {name}" for name, n in counts.items()),
        "",
        "| severity | level | module | field | problem | how to fix |",
        "|---|---|---|---|---|---|",
    ]
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    for f in sorted(report.findings, key=lambda f: (order.get(f.severity, 3), f.module, f.path)):
        lines.append(
            f"| {f.severity.value} | {f.level} | {f.module} | `{_cell(f.path)}` | "
            f"{_cell(f.message)} | {_cell(f.fix_hint)} |"
        )
    return "\n".join(lines) + "\n"
