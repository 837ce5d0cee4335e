"""The ingest flow, read like the recipe it is.

Scan, then for each complete acquisition extract → convert → validate → archive, recording
every step in the catalog.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from pydantic import BaseModel

from catalog import Catalog, ClaimOutcome, worker_id
from catalog.pseudonyms import PseudonymStore
from core.errors import (
    CatalogError,
    FairwayError,
    RetryableError,
    UnsupportedFormatError,
)
from core.failpoints import failpoint
from core.progress import Progress
from core.records import Acquisition, State
from core.settings import Settings, load_settings
from flows.curation import propose_redelivery
from flows.local_api import ensure_prefect_api
from flows.progress import PROGRESS_SINK
from flows.steps import (
    adopt_step,
    archive_step,
    convert_step,
    extract_step,
    identify_step,
    validate_step,
)
from ingest import Candidate, CompletionPolicy, scan, split_complete

__all__ = ["IngestSummary", "Outcome", "ingest_flow", "run_ingest", "watch"]

log = logging.getLogger(__name__)


class Outcome(BaseModel):
    """What happened to one candidate in this run."""

    source: str
    outcome: str  # archived / quarantined / rejected / duplicate / busy / pending / failed
    id: str | None = None
    dataset: str | None = None
    state: str | None = None
    reason: str | None = None
    fair_level: str | None = None
    location: str | None = None


class IngestSummary(BaseModel):
    """Result of one ingest run (stable: the CLI prints it with ``--json``)."""

    outcomes: list[Outcome]
    seconds: float

    def count(self, outcome: str) -> int:
        """How many candidates ended with ``outcome``."""
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def internal_errors(self) -> int:
        """Acquisitions that failed for a reason that is fairway's, not the input's."""
        return self.count("failed")


def _terminal_for(exc: FairwayError) -> State:
    return State.REJECTED if isinstance(exc, UnsupportedFormatError) else State.QUARANTINED


def _process(cand: Candidate, settings: Settings, catalog: Catalog, worker: str) -> Outcome:
    try:
        acq = identify_step(cand, catalog)
    except RetryableError as exc:  # still being written, or unreadable for now
        return Outcome(source=str(cand.source), outcome="pending", reason=str(exc))
    claim = catalog.claim(acq, worker, timeout=_timeout(settings))
    base = Outcome(source=str(acq.source), outcome="", id=acq.id, dataset=acq.dataset_id)
    if not claim.owned:
        if claim.outcome is not ClaimOutcome.DONE:
            return base.model_copy(update={"outcome": "busy", "state": claim.state.value})
        return base.model_copy(
            update={
                "outcome": "duplicate",
                "state": claim.state.value,
                "reason": _redelivered(acq, claim.state, settings, catalog, worker),
            }
        )
    try:
        adopted = adopt_step(acq, settings, catalog, worker)
        if adopted is not None:
            record, report, archived = adopted
        else:
            record = extract_step(acq, settings, catalog, worker)
            store, _images = convert_step(
                acq, record, settings, catalog, worker, PROGRESS_SINK.get()
            )
            report = validate_step(acq, record, store, catalog, worker)
            archived = archive_step(acq, record, report, store, settings, catalog, worker)
    except FairwayError as exc:
        # bad input (final), or storage that still failed after its retries: quarantine with
        # the reason and go on with the next acquisition
        state = _terminal_for(exc)
        if not _finish(
            catalog, acq.id, worker, state, settings, acq.dataset_id, reason=f"{exc.kind}: {exc}"
        ):
            return base.model_copy(update={"outcome": "busy", "reason": "claim taken over"})
        return base.model_copy(
            update={"outcome": state.value, "state": state.value, "reason": str(exc)}
        )
    except Exception as exc:
        # not the input's fault: quarantine it so the next acquisition still runs, log the
        # traceback, and report the run as failed (exit code 1) — never a silent success
        log.exception("internal error while processing %s", acq.source)
        reason = f"internal error {type(exc).__name__}: {exc} — please report this"
        _finish(catalog, acq.id, worker, State.QUARANTINED, settings, acq.dataset_id, reason=reason)
        return base.model_copy(
            update={"outcome": "failed", "state": State.QUARANTINED.value, "reason": reason}
        )
    failpoint("catalog")  # archived, not yet recorded: the window a crash must not break
    if not _finish(
        catalog,
        acq.id,
        worker,
        State.ARCHIVED,
        settings,
        acq.dataset_id,
        record=record.model_dump(mode="json"),
        report=report.model_dump(mode="json"),
        fair_level=report.fair_level,
        location=archived.location,
    ):
        return base.model_copy(update={"outcome": "busy", "reason": "claim taken over"})
    return base.model_copy(
        update={
            "outcome": "archived",
            "state": State.ARCHIVED.value,
            "fair_level": report.fair_level,
            "location": archived.location,
        }
    )


def _redelivered(
    acq: Acquisition, state: State, settings: Settings, catalog: Catalog, worker: str
) -> str:
    """What a duplicate is: the dataset it already is, and whether its sidecar says more."""
    said = f"already {state.value} as {acq.dataset_id}"
    if state is not State.ARCHIVED:
        return said
    try:
        proposed = propose_redelivery(catalog, acq, settings, worker)
    except FairwayError as exc:
        return f"{said}; its sidecar was not read ({exc})"
    if proposed:
        said += (
            f"; its sidecar differs in {proposed} field(s), proposed to the curators "
            f"(`fairway gaps {acq.dataset_id}`)"
        )
    return said


def _dicom_key(settings: Settings) -> bytes:
    """The key DICOM series names are derived with (from the pseudonym store)."""
    store = PseudonymStore.from_settings(settings)
    try:
        return store.key()
    finally:
        store.close()


def _timeout(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.claim_timeout_seconds)


def _finish(
    catalog: Catalog,
    acq_id: str,
    worker: str,
    state: State,
    settings: Settings,
    dataset: str,
    **facts: Any,
) -> bool:
    """Record the terminal state; ``False`` if another worker took the claim over."""
    shutil.rmtree(settings.staging_root / dataset, ignore_errors=True)
    try:
        catalog.finish(acq_id, worker, state, **facts)
    except CatalogError as exc:
        log.warning("%s", exc)
        return False
    return True


def _summary_markdown(summary: IngestSummary) -> str:
    lines = [
        "# fairway ingest",
        "",
        "| source | outcome | dataset | FAIR level | reason |",
        "|---|---|---|---|---|",
    ]
    for o in summary.outcomes:
        reason = (o.reason or "").replace("|", "\\|")[:200]
        lines.append(
            f"| {Path(o.source).name} | {o.outcome} | {o.dataset or ''} | "
            f"{o.fair_level or ''} | {reason} |"
        )
    return "\n".join(lines)


@flow(name="fairway-ingest", log_prints=False, validate_parameters=True)
def ingest_flow(
    sources: list[str], home: str | None = None, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Process every complete acquisition under ``sources`` once.

    ``options`` are setting overrides without secrets (secrets come from the environment or
    ``fairway.toml`` of the worker).
    """
    logger = get_run_logger()
    started = time.monotonic()
    settings = load_settings(home, **{**(_CALLER_SECRETS.get() or {}), **(options or {})})
    catalog = Catalog.open(settings.catalog_url)
    worker = worker_id()
    sink = PROGRESS_SINK.get()
    try:
        candidates = scan(
            [Path(s) for s in sources],
            sentinel=settings.sentinel,
            max_xml_bytes=settings.max_xml_bytes,
            dicom_key=_dicom_key(settings),
        )
        policy = CompletionPolicy(quiet_seconds=settings.quiet_seconds, sentinel=settings.sentinel)
        complete, pending = split_complete(candidates, policy)
        logger.info("%d complete, %d pending under %s", len(complete), len(pending), sources)
        outcomes = [
            Outcome(source=str(p.source), outcome="pending", reason=p.reason) for p in pending
        ]
        artifact = cast(UUID, create_progress_artifact(0.0, description="acquisitions processed"))
        for i, cand in enumerate(complete, start=1):
            sink(Progress("acquisitions", i - 1, len(complete), cand.source.name))
            outcome = _process(cand, settings, catalog, worker)
            logger.info("%s: %s %s", cand.source.name, outcome.outcome, outcome.reason or "")
            outcomes.append(outcome)
            update_progress_artifact(artifact, 100.0 * i / len(complete))
        sink(Progress("acquisitions", len(complete), len(complete)))
    finally:
        catalog.close()
    summary = IngestSummary(outcomes=outcomes, seconds=time.monotonic() - started)
    create_markdown_artifact(
        _summary_markdown(summary),
        key="fairway-ingest-summary",
        description="outcome of every acquisition in this run",
    )
    return summary.model_dump(mode="json")


#: secrets of the settings an in-process caller handed over; never flow parameters
_CALLER_SECRETS: ContextVar[dict[str, Any] | None] = ContextVar(
    "fairway_caller_secrets", default=None
)
SECRET_SETTINGS = ("database_url", "pseudonym_store_url", "s3_key", "s3_secret", "omero_password")


def run_ingest(sources: list[Path], settings: Settings) -> IngestSummary:
    """Run the ingest flow in-process (Prefect ephemeral mode unless an API is configured).

    The caller's settings are used whole: the secret ones (database URL, S3 and OMERO
    credentials) reach the flow through this process's context, never as flow parameters.
    """
    secrets = {
        name: value.get_secret_value()
        for name in SECRET_SETTINGS
        if (value := getattr(settings, name)) is not None
    }
    ensure_prefect_api()
    token = _CALLER_SECRETS.set(secrets)
    try:
        result = ingest_flow(**_flow_parameters(sources, settings))
    finally:
        _CALLER_SECRETS.reset(token)
    return IngestSummary.model_validate(result)


def _flow_parameters(sources: list[Path], settings: Settings) -> dict[str, Any]:
    options = settings.public_dict()
    options.pop("home", None)
    return {"sources": [str(s) for s in sources], "home": str(settings.home), "options": options}


def watch(
    sources: list[Path],
    settings: Settings,
    interval: float,
    *,
    max_runs: int | None = None,
    on_run: Callable[[IngestSummary], None] | None = None,
) -> None:
    """Keep ingesting ``sources`` every ``interval`` seconds.

    With a Prefect API configured (``PREFECT_API_URL``) the flow is served as a deployment
    with an interval schedule, visible and controllable in the Prefect UI. Without one (the
    embedded default) Prefect cannot schedule, so the same flow is run in-process in a loop;
    so it is when ``max_runs`` bounds the number of scans. ``on_run`` sees each summary.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url and max_runs is None:
        ingest_flow.serve(
            name="fairway-watch",
            interval=timedelta(seconds=interval),
            parameters=_flow_parameters(sources, settings),
        )
        return
    runs = 0
    while max_runs is None or runs < max_runs:
        started = time.monotonic()
        summary = run_ingest(sources, settings)
        runs += 1
        if on_run is not None:
            on_run(summary)
        if max_runs is not None and runs >= max_runs:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
