"""The ingest flow: the Prefect skin over :mod:`flows.pipeline`, read like the recipe it is.

Scan, then one task run per complete acquisition, named by its source and dataset id, each
calling the plain :func:`flows.pipeline.process_acquisition`; the archive step is a nested task
with Prefect's retries for storage hiccups; each gap report and the run's summary are
artifacts; the run ends ``Completed`` with a message counting the outcomes, or ``Failed`` when
fairway itself failed on an acquisition.

This module imports Prefect. The ``fairway`` CLI imports it only when a Prefect API is
configured (see :mod:`flows.service`); deployments run ``flows/ingestion.py:ingest_flow``.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.settings import get_current_settings
from prefect.states import Completed, Failed

from catalog import Catalog, worker_id
from core.errors import RetryableError
from core.progress import Progress, ProgressCallback
from core.records import Acquisition, ValidationReport
from core.settings import load_settings
from flows.pipeline import (
    ARCHIVE_RETRIES,
    ARCHIVE_RETRY_DELAY_SECONDS,
    Hooks,
    IngestSummary,
    Outcome,
    identify,
    process_acquisition,
    scan_sources,
)
from flows.progress import PROGRESS_SINK
from flows.service import run_ingest, watch
from flows.steps import archive_step
from validators.report import report_markdown

__all__ = [
    "IngestSummary",
    "Outcome",
    "gap_report_key",
    "ingest_flow",
    "run_ingest",
    "slug",
    "watch",
]

#: secrets of the settings an in-process caller handed over; never flow parameters
_CALLER_SECRETS: ContextVar[dict[str, Any] | None] = ContextVar(
    "fairway_caller_secrets", default=None
)


def slug(text: str, limit: int = 60) -> str:
    """Lowercase letters, digits and dashes only (what Prefect accepts as an artifact key)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "x"


def gap_report_key(source: Path | str, dataset: str) -> str:
    """Artifact key of a dataset's gap report: ``gaps-<source name>-<dataset id>``."""
    return f"gaps-{slug(Path(source).name, 40)}-{slug(dataset)}"


def _retry_if_retryable(_task: Any, _run: Any, state: Any) -> bool:
    """Retry only what may succeed later (storage hiccups), never bad input."""
    try:
        state.result()
    except RetryableError:
        return True
    except BaseException:  # noqa: BLE001 - any other failure is final for a retry decision
        return False
    return False


def _acquisition_run_name(parameters: dict[str, Any]) -> str:
    """``cells.ome.tif fw-1a2b…``: which acquisition a task run is, at a glance."""
    acq = parameters["acq"]
    return f"{acq.source.name} {acq.dataset_id}"


def _archive_run_name(parameters: dict[str, Any]) -> str:
    return f"archive {_acquisition_run_name(parameters)}"


archive_task = task(
    name="archive",
    task_run_name=cast(Any, _archive_run_name),
    cache_policy=NO_CACHE,
    retries=ARCHIVE_RETRIES,
    retry_delay_seconds=ARCHIVE_RETRY_DELAY_SECONDS,
    retry_condition_fn=_retry_if_retryable,
)(archive_step)

acquisition_task = task(
    name="acquisition", task_run_name=cast(Any, _acquisition_run_name), cache_policy=NO_CACHE
)(process_acquisition)


def _publish_gap_report(acq: Acquisition, report: ValidationReport) -> None:
    create_markdown_artifact(
        report_markdown(report),
        key=gap_report_key(acq.source, acq.dataset_id),
        description=f"gap report of {acq.source.name} → {acq.dataset_id} "
        f"(FAIR level {report.fair_level})",
    )


def _artifact_link(key: str) -> str:
    ui = get_current_settings().ui_url
    return f"[{key}]({ui.rstrip('/')}/artifacts/key/{key})" if ui else f"`{key}`"


def _summary_markdown(summary: IngestSummary) -> str:
    lines = [
        f"# fairway ingest: {summary.describe()}",
        "",
        "| source | outcome | dataset | FAIR level | gap report | reason |",
        "|---|---|---|---|---|---|",
    ]
    for o in summary.outcomes:
        reason = (o.reason or "").replace("|", "\\|")[:200]
        gaps = (
            _artifact_link(gap_report_key(o.source, o.dataset))
            if o.dataset and o.outcome == "archived"
            else ""
        )
        lines.append(
            f"| {Path(o.source).name} | {o.outcome} | {o.dataset or ''} | "
            f"{o.fair_level or ''} | {gaps} | {reason} |"
        )
    return "\n".join(lines)


def _caller_secrets() -> dict[str, Any]:
    """The secrets an in-process caller handed over (a function: the flow must pickle).

    Prefect pickles a served flow by value with the globals its body names; a ``ContextVar``
    does not pickle, a module-level function is pickled by reference.
    """
    return _CALLER_SECRETS.get() or {}


def _progress_sink() -> ProgressCallback:
    """The progress callback of this process (a function for the same reason)."""
    return PROGRESS_SINK.get()


@flow(name="fairway-ingest", log_prints=False, validate_parameters=True)
def ingest_flow(
    sources: list[str], home: str | None = None, options: dict[str, Any] | None = None
) -> State[Any]:
    """Process every complete acquisition under ``sources`` once.

    ``options`` are setting overrides without secrets (secrets come from the environment or
    ``fairway.toml`` of the worker). The run ends ``Completed`` with a message counting the
    outcomes (``3 archived, 1 quarantined``), or ``Failed`` if an acquisition failed for a
    reason that is fairway's; the state's data is the summary (``fairway ingest --json``).
    """
    logger = get_run_logger()
    started = time.monotonic()
    settings = load_settings(home, **{**_caller_secrets(), **(options or {})})
    catalog = Catalog.open(settings.catalog_url)
    worker = worker_id()
    sink = _progress_sink()
    hooks = Hooks(progress=sink, archive=archive_task, on_report=_publish_gap_report)
    try:
        complete, outcomes = scan_sources([Path(s) for s in sources], settings)
        logger.info("%d complete, %d pending under %s", len(complete), len(outcomes), sources)
        artifact = cast(UUID, create_progress_artifact(0.0, description="acquisitions processed"))
        for i, cand in enumerate(complete, start=1):
            sink(Progress("acquisitions", i - 1, len(complete), cand.source.name))
            acq = identify(cand, catalog)
            outcome = (
                acq
                if isinstance(acq, Outcome)
                else acquisition_task(acq, settings, catalog, worker, hooks)
            )
            logger.info("%s: %s %s", cand.source.name, outcome.outcome, outcome.reason or "")
            outcomes.append(outcome)
            update_progress_artifact(artifact, 100.0 * i / len(complete))
        sink(Progress("acquisitions", len(complete), len(complete)))
        summary = IngestSummary(outcomes=outcomes, seconds=time.monotonic() - started)
        catalog.record_run(
            worker, list(sources), summary.counts(), seconds=summary.seconds, orchestrator="prefect"
        )
    finally:
        catalog.close()
    create_markdown_artifact(
        _summary_markdown(summary),
        key="fairway-ingest-summary",
        description=f"outcome of every acquisition in this run: {summary.describe()}",
    )
    data = summary.model_dump(mode="json")
    if summary.internal_errors:
        message = f"fairway failed on some acquisitions: {summary.describe()}"
        return Failed(message=message, data=data)
    return Completed(message=summary.describe(), data=data)
