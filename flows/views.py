"""Plain dictionaries that the CLI prints with ``--json``: the stable contract for other tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog import Catalog
from catalog.models import AcquisitionRow
from core.errors import TargetError
from core.records import FAIR_LEVELS, Finding

# targets.versions (ome-types), validators (zarr) are imported where used: `fairway status`
# and `fairway search` need neither

__all__ = [
    "dataset_files",
    "findings_of",
    "iso",
    "metadata_versions",
    "proposal_findings",
    "show_view",
    "status_row",
    "work_queue",
]


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands back naive datetimes; they were stored as UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def status_row(row: AcquisitionRow) -> dict[str, Any]:
    """One acquisition in ``fairway status --json``."""
    return {
        "id": row.id,
        "state": row.state,
        "source": row.source,
        "dataset": row.dataset,
        "fair_level": row.fair_level,
        "profile": (row.report or {}).get("profile"),
        "target": (row.report or {}).get("target"),
        "reason": row.reason,
        "location": row.location,
        "updated_at": iso(row.updated_at),
    }


def findings_of(row: AcquisitionRow, target: str | None = None) -> list[dict[str, Any]]:
    """Findings of one dataset, each with the dataset id (``fairway gaps --json``).

    With ``target`` (another profile's level), severities are judged against it instead of
    the dataset's own profile: what it holds back below REMBI is an error, up to the target a
    warning, beyond it information.
    """
    report = row.report or {}
    keys = ("path", "module", "level", "severity", "message", "fix_hint", "check", "blocks")
    out = []
    for f in report.get("findings", []):
        item = {"dataset": row.dataset, **{k: f.get(k) for k in keys}}
        if target is not None:
            from validators.schema import blocked_level, severity_for

            finding = Finding.model_validate(f)
            blocks = blocked_level(finding)
            if finding.check.startswith("schema") or blocks in {None, "rembi"}:
                item["severity"] = severity_for(blocks, target).value
            item["blocks"] = blocks
        out.append(item)
    return out


def proposal_findings(catalog: Catalog, row: AcquisitionRow) -> list[dict[str, Any]]:
    """Proposed curations of a dataset not yet applied, shaped as findings (``gaps``).

    A re-delivery whose sidecar differs from the archived record leaves a proposal event
    (:func:`flows.curation.propose_redelivery`); the latest proposal per field is shown
    until the record holds its value.
    """
    fields = (row.record or {}).get("fields", {})
    latest: dict[str, tuple[dict[str, Any], Any]] = {}
    for event in catalog.events(row.id):
        if event.step == "propose":
            for change in (event.detail or {}).get("changes", []):
                latest[change["path"]] = (change, event)
    out = []
    for path, (change, event) in sorted(latest.items()):
        held = fields.get(path, {}).get("value")
        if held == change["new"]:
            continue
        new = change["new"] if isinstance(change["new"], str) else json.dumps(change["new"])
        out.append(
            {
                "dataset": row.dataset,
                "path": path,
                "module": "curation",
                "level": "proposed",
                "severity": "info",
                "message": f"a re-delivery's sidecar ({Path(change['sidecar']).name}, "
                f"{iso(event.at)}) says {change['new']!r}; the archive holds {held!r}",
                "fix_hint": f"fairway fix {row.dataset} --set '{path}={new}' "
                "--reason 're-delivered sidecar'",
                "check": "proposed-curation",
                "blocks": None,
            }
        )
    return out


def work_queue(rows: list[AcquisitionRow], target: str | None = None) -> list[dict[str, Any]]:
    """Archived datasets below their profile's level, most missing first (``gaps --all``).

    ``target`` replaces every dataset's own profile target. Each entry counts the findings
    that hold the dataset below the target (errors, then warnings) and lists their field
    paths, so a curator can work down the list.
    """
    from validators.report import DEFAULT_TARGET

    queue: list[tuple[int, int, str, dict[str, Any]]] = []
    for row in rows:
        level = row.fair_level or "none"
        goal = target or (row.report or {}).get("target") or DEFAULT_TARGET
        if row.state != "archived" or FAIR_LEVELS.index(level) >= FAIR_LEVELS.index(goal):
            continue
        blocking = [f for f in findings_of(row, goal) if f["severity"] in {"error", "warning"}]
        errors = sum(f["severity"] == "error" for f in blocking)
        warnings = sum(f["severity"] == "warning" for f in blocking)
        queue.append(
            (
                -errors,
                -warnings,
                row.dataset,
                {
                    "dataset": row.dataset,
                    "source": row.source,
                    "fair_level": level,
                    "target": goal,
                    "profile": (row.report or {}).get("profile"),
                    "missing": {"error": errors, "warning": warnings},
                    "fields": [f["path"] for f in blocking],
                },
            )
        )
    return [entry for *_, entry in sorted(queue, key=lambda q: q[:3])]


def dataset_files(location: str | None) -> list[dict[str, Any]]:
    """Payload files of an archived bag, from its manifest (path, sha256, size)."""
    if not location:
        return []
    from targets.bagfiles import payload_entries

    root = Path(location)
    manifest = root / "manifest-sha256.txt"
    if not manifest.is_file():
        return []
    try:
        listed = payload_entries(root)
    except TargetError:  # an unreadable manifest: `fairway verify` says what is wrong
        return []
    files = []
    for rel, digest in sorted(listed.items()):
        p = root / rel
        files.append(
            {"path": rel, "sha256": digest, "size": p.stat().st_size if p.is_file() else None}
        )
    return files


def metadata_versions(location: str | None) -> list[dict[str, Any]]:
    """The archived metadata versions of a dataset, oldest first."""
    if not location or not Path(location).is_dir():
        return []
    from targets.versions import list_versions

    return [
        {"version": v.version, "at": v.at, "actor": v.actor, "reason": v.reason,
         "changed": list(v.changed)}
        for v in list_versions(Path(location))
    ]  # fmt: skip


def show_view(
    catalog: Catalog, row: AcquisitionRow, metadata_version: int | None = None
) -> dict[str, Any]:
    """Everything about one dataset (``fairway show --json``).

    With ``metadata_version``, ``record`` and ``validation`` are that archived version's
    record and report, read back from the archive (the catalog holds the current ones).

    Raises
    ------
    TargetError
        The dataset has no such metadata version.
    """
    report = row.report or {}
    record = row.record
    if metadata_version is not None:
        if not row.location:
            raise TargetError("the dataset is not archived", where=row.dataset)
        from targets.versions import read_version, read_version_report

        record = read_version(Path(row.location), metadata_version).model_dump(mode="json")
        report = read_version_report(Path(row.location), metadata_version).model_dump(mode="json")
    findings = report.get("findings", [])
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return {
        **status_row(row),
        "fingerprint": row.fingerprint,
        "kind": row.kind,
        "record": record,
        "metadata_versions": metadata_versions(row.location),
        "validation": {
            "fair_level": report.get("fair_level"),
            "profile": report.get("profile"),
            "target": report.get("target"),
            "schema_ids": report.get("schema_ids", []),
            "counts": counts,
            "findings": findings,
        },
        "files": dataset_files(row.location),
        "deliveries": [
            {"path": d.path, "seen_at": iso(d.seen_at)} for d in catalog.deliveries(row.id)
        ],
        "events": [
            {
                "at": iso(e.at),
                "actor": e.actor,
                "step": e.step,
                "action": e.action,
                "detail": e.detail,
            }
            for e in catalog.events(row.id)
        ],
    }
