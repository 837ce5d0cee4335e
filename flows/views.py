"""Plain dictionaries that the CLI prints with ``--json``: the stable contract for other tools."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog import Catalog
from catalog.models import AcquisitionRow
from validators.report import FAIR_LEVELS

__all__ = ["dataset_files", "findings_of", "iso", "show_view", "status_row"]


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
        "reason": row.reason,
        "location": row.location,
        "updated_at": iso(row.updated_at),
    }


def findings_of(row: AcquisitionRow) -> list[dict[str, Any]]:
    """Findings of one dataset, each with the dataset id (``fairway gaps --json``)."""
    report = row.report or {}
    keys = ("path", "module", "level", "severity", "message", "fix_hint")
    return [
        {"dataset": row.dataset, **{k: f.get(k) for k in keys}} for f in report.get("findings", [])
    ]


def work_queue(rows: list[AcquisitionRow], target: str = FAIR_LEVELS[-1]) -> list[dict[str, Any]]:
    """Archived datasets below ``target``, most missing first (``fairway gaps --all``).

    Each entry counts the findings that hold the dataset below the target (errors, then
    warnings) and lists their field paths, so a curator can work down the list.
    """
    goal = FAIR_LEVELS.index(target)
    queue: list[tuple[int, int, str, dict[str, Any]]] = []
    for row in rows:
        level = row.fair_level or "none"
        if row.state != "archived" or FAIR_LEVELS.index(level) >= goal:
            continue
        blocking = [f for f in findings_of(row) if f["severity"] in {"error", "warning"}]
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
                    "target": target,
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
    root = Path(location)
    manifest = root / "manifest-sha256.txt"
    if not manifest.is_file():
        return []
    files = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition(" ")
        rel = rel.strip()
        p = root / rel
        files.append(
            {"path": rel, "sha256": digest, "size": p.stat().st_size if p.is_file() else None}
        )
    return files


def show_view(catalog: Catalog, row: AcquisitionRow) -> dict[str, Any]:
    """Everything about one dataset (``fairway show --json``)."""
    report = row.report or {}
    findings = report.get("findings", [])
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return {
        **status_row(row),
        "fingerprint": row.fingerprint,
        "kind": row.kind,
        "record": row.record,
        "validation": {
            "fair_level": report.get("fair_level"),
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
