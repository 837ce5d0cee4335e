"""``fairway demo``: sample instrument output in, archived FAIR datasets out, no set-up."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from catalog import Catalog
from core.settings import load_settings
from flows.service import run_ingest
from flows.views import findings_of, status_row
from ingest.samples import write_registry, write_sample_inbox

__all__ = ["DEMO_QUIET_SECONDS", "print_demo", "run_demo"]

#: short quiet window so the demo is quick; facilities use the default (30 s) or more
DEMO_QUIET_SECONDS = 2.0


def _say(console: Console | None, text: str) -> None:
    if console is not None:
        console.print(text)


def run_demo(
    *, home: Path | None = None, inbox: Path | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Run the demo and return what happened (the ``--json`` form of the demo)."""
    started = time.monotonic()
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="fairway-demo-"))
    inbox = Path(inbox) if inbox is not None else home / "inbox"
    settings = load_settings(home, quiet_seconds=DEMO_QUIET_SECONDS)
    _say(console, f"writing sample instrument output to {inbox}")
    write_registry(home)
    samples = write_sample_inbox(inbox)
    slow = samples.in_progress.path
    try:
        time.sleep(DEMO_QUIET_SECONDS + 0.5)  # let the finished files go quiet
        _say(console, f"pass 1 — {slow.name} is still being written")
        first = run_ingest([inbox], settings)
    finally:
        samples.in_progress.finish()
    _say(console, f"{slow.name} finished; waiting out the {DEMO_QUIET_SECONDS:g} s quiet window")
    time.sleep(DEMO_QUIET_SECONDS + 0.5)
    _say(console, "pass 2")
    second = run_ingest([inbox], settings)

    def outcome_of(summary: Any) -> str | None:
        return next((o.outcome for o in summary.outcomes if Path(o.source) == slow), None)

    catalog = Catalog.open(settings.catalog_url)
    try:
        rows = catalog.acquisitions()
        datasets = []
        for row in rows:
            findings = findings_of(row)
            counts: dict[str, int] = {}
            for f in findings:
                counts[f["severity"]] = counts.get(f["severity"], 0) + 1
            datasets.append(
                {
                    **status_row(row),
                    "gaps": counts,
                    "top_gaps": [f["path"] for f in findings if f["severity"] == "error"][:5],
                }
            )
    finally:
        catalog.close()
    expected_archived = {*map(str, samples.complete), str(slow)}
    archived = {d["source"] for d in datasets if d["state"] == "archived"}
    quarantined = {d["source"] for d in datasets if d["state"] == "quarantined"}
    # the CT series is one dataset, known only by a derived name (no patient name anywhere)
    series = [s for s in archived if Path(s).name.startswith("dicom-")]
    ok = (
        outcome_of(first) == "pending"
        and outcome_of(second) == "archived"
        and expected_archived <= archived
        and len(series) == (1 if samples.dicom else 0)
        and not any("DOE" in d["source"] for d in datasets)
        and {str(p) for p in samples.corrupt} <= quarantined
        and not first.internal_errors
        and not second.internal_errors
    )
    return {
        "ok": ok,
        "home": str(home),
        "inbox": str(inbox),
        "archive": str(settings.archive_root),
        "seconds": round(time.monotonic() - started, 1),
        "in_progress_file": {
            "path": str(slow),
            "pass1": outcome_of(first),
            "pass2": outcome_of(second),
        },
        "passes": [first.model_dump(mode="json"), second.model_dump(mode="json")],
        "datasets": datasets,
        "try_next": [
            f"fairway --home {home} status",
            f"fairway --home {home} gaps",
            f"fairway --home {home} show <dataset>",
            f"fairway --home {home} verify",
        ],
    }


def print_demo(result: dict[str, Any], console: Console) -> None:
    """Human-readable demo report."""
    table = Table(title=f"fairway demo — {len(result['datasets'])} acquisitions")
    for col in ("dataset", "state", "FAIR level", "gaps (error/warning/info)", "source / reason"):
        table.add_column(col, overflow="fold")
    for d in result["datasets"]:
        g = d["gaps"]
        gaps = (
            f"{g.get('error', 0)}/{g.get('warning', 0)}/{g.get('info', 0)}"
            if d["state"] == "archived"
            else ""
        )
        table.add_row(
            d["dataset"],
            d["state"],
            d["fair_level"] or "",
            gaps,
            Path(d["source"]).name + (f"\n{d['reason']}" if d["reason"] else ""),
        )
    console.print(table)
    ip = result["in_progress_file"]
    console.print(
        f"file being written during pass 1 ({Path(ip['path']).name}): "
        f"pass 1 → {ip['pass1']}, pass 2 → {ip['pass2']}"
    )
    console.print(f"archive: {result['archive']}")
    for d in result["datasets"]:
        if d["location"]:
            console.print(f"  {d['dataset']}: {d['location']}")
    console.print(f"done in {result['seconds']} s — {'OK' if result['ok'] else 'NOT OK'}")
    console.print("try: " + "  ·  ".join(result["try_next"]))
