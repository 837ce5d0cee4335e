"""Assemble a :class:`~core.records.ValidationReport` and derive the FAIR level."""

from __future__ import annotations

from pathlib import Path

from core.records import FAIR_LEVELS, Finding, MetadataRecord, Severity, ValidationReport
from metadata.suggest import suggestions
from schemas import DEFAULT_SCHEMA, load
from validators.consistency import check_consistency
from validators.loss import check_metadata_loss
from validators.ngff import check_ngff
from validators.schema import blocked_level, check_record

__all__ = ["FAIR_LEVELS", "fair_level", "record_profile", "report_markdown", "validate"]

DEFAULT_TARGET = "rembi+nbo-tier1"


def fair_level(findings: list[Finding] | tuple[Finding, ...]) -> str:
    """The highest level whose requirements the findings leave intact."""
    blocked = [FAIR_LEVELS.index(b) for f in findings if (b := blocked_level(f)) is not None]
    return FAIR_LEVELS[min(blocked) - 1] if blocked else FAIR_LEVELS[-1]


def record_profile(record: MetadataRecord) -> tuple[str, str]:
    """(profile name, target level) chosen for the record at extraction."""
    info = record.unmapped.get("fairway", {})
    name = info.get("profile") if isinstance(info, dict) else None
    target = info.get("target") if isinstance(info, dict) else None
    return (str(name or "rembi-nbo-tier1"), str(target or DEFAULT_TARGET))


def _with_suggestions(
    findings: list[Finding], record: MetadataRecord, dataset: str
) -> list[Finding]:
    offered = suggestions(record)
    out = []
    for f in findings:
        s = offered.get(f.path)
        if s is not None and f.check.startswith("schema"):
            value = str(s.value)
            shown = value if len(value) <= 80 else value[:77] + "..."
            f = f.model_copy(
                update={
                    "fix_hint": f"auto-fillable from {s.source}: {shown!r} "
                    f"(`fairway fix {dataset} --accept-suggestions`)"
                }
            )
        out.append(f)
    return out


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
    dataset: str,
    record: MetadataRecord,
    store: Path,
    schema_name: str = DEFAULT_SCHEMA,
    *,
    profile: tuple[str, str] | None = None,
) -> ValidationReport:
    """Run every check on a converted dataset and return one report.

    ``profile`` is (name, target level); by default the one chosen at extraction.
    """
    name, target = profile or record_profile(record)
    findings = [
        *check_ngff(store),
        *check_metadata_loss(record.ome_xml, store),
        *_with_suggestions(check_record(record, schema_name, target=target), record, dataset),
        *check_consistency(record, store),
        *_extraction_notes(record),
    ]
    return ValidationReport(
        dataset=dataset,
        findings=tuple(findings),
        schema_ids=(load(schema_name)["$id"],),
        fair_level=fair_level(findings),
        profile=name,
        target=target,
    )


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def report_markdown(report: ValidationReport) -> str:
    """The gap report as Markdown: FAIR level, counts, and one table row per finding."""
    counts = {s.value: len(report.by_severity(s)) for s in Severity}
    goal = f" (profile `{report.profile}` asks for `{report.target}`)" if report.target else ""
    lines = [
        f"# {report.dataset}: FAIR level `{report.fair_level}`{goal}",
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
