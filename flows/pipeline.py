"""One acquisition, end to end, as plain Python: what the CLI, the tests and the flows call.

``process_candidate`` identifies a complete candidate by content, then
``process_acquisition`` claims it in the catalog and either adopts a bag committed before a
crash or extracts → converts → validates → archives it, and finishes it in exactly one terminal
state. ``ingest_once`` scans sources and loops over the complete candidates. Nothing here
imports Prefect: ``flows.ingestion`` wraps these functions as a flow and tasks (names,
retries, artifacts), and runs them only when a Prefect API is configured.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from catalog import Catalog, ClaimOutcome, worker_id
from core.errors import CatalogError, FairwayError, RetryableError, UnsupportedFormatError
from core.failpoints import failpoint
from core.progress import Progress, ProgressCallback, null_progress
from core.records import Acquisition, ArchivedDataset, MetadataRecord, State, ValidationReport
from core.settings import Settings
from flows.deadline import deadline
from ingest import Candidate, CompletionPolicy, scan, split_complete

# flows.steps (metadata, converters, validators, targets: seconds of imports) is imported
# where a step runs: a scan that finds nothing new needs none of it

__all__ = [
    "ARCHIVE_RETRIES",
    "ARCHIVE_RETRY_DELAY_SECONDS",
    "Hooks",
    "IngestSummary",
    "Outcome",
    "archive_with_retries",
    "identify",
    "ingest_once",
    "process_acquisition",
    "process_candidate",
    "scan_sources",
]

log = logging.getLogger(__name__)

#: how often a retryable archive failure (a storage hiccup) is tried again, and after how long
ARCHIVE_RETRIES = 2
ARCHIVE_RETRY_DELAY_SECONDS = 5.0

#: the order outcomes are counted in (state messages, run records, log lines)
OUTCOMES = ("archived", "quarantined", "rejected", "failed", "duplicate", "busy", "pending")


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

    def counts(self) -> dict[str, int]:
        """Non-zero counts per outcome, in pipeline order."""
        return {k: n for k in OUTCOMES if (n := self.count(k))}

    def describe(self) -> str:
        """One line for people: ``3 archived, 1 quarantined`` (or ``nothing to do``)."""
        return ", ".join(f"{n} {k}" for k, n in self.counts().items()) or "nothing to do"


ArchiveStep = Callable[..., ArchivedDataset]


@dataclass(frozen=True)
class Hooks:
    """What a caller plugs into the pipeline (the CLI: a progress bar; a flow: artifacts).

    ``archive`` is the archive step to call: the plain one with its own retries by default,
    a Prefect task with Prefect's retries in the flow. ``on_report`` sees each gap report.
    ``on_start`` sees each acquisition as its claim is taken.
    """

    progress: ProgressCallback = null_progress
    archive: ArchiveStep | None = None
    on_report: Callable[[Acquisition, ValidationReport], None] | None = None
    on_start: Callable[[Acquisition], None] | None = None


def archive_with_retries(*args: Any) -> ArchivedDataset:
    """:func:`archive_step`, tried again after a retryable failure (a storage hiccup)."""
    from flows.steps import archive_step

    for attempt in range(ARCHIVE_RETRIES + 1):
        try:
            return archive_step(*args)
        except RetryableError as exc:
            if attempt == ARCHIVE_RETRIES:
                raise
            delay = ARCHIVE_RETRY_DELAY_SECONDS
            log.warning("archive failed (%s); trying again in %g s", exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def identify(cand: Candidate, catalog: Catalog) -> Acquisition | Outcome:
    """The acquisition of a complete candidate, or a ``pending`` outcome if it is not ready."""
    from flows.steps import identify_step

    try:
        return identify_step(cand, catalog)
    except RetryableError as exc:  # still being written, or unreadable for now
        return Outcome(source=str(cand.source), outcome="pending", reason=str(exc))


def process_candidate(
    cand: Candidate,
    settings: Settings,
    catalog: Catalog,
    worker: str,
    hooks: Hooks | None = None,
) -> Outcome:
    """Identify ``cand`` and process its acquisition (see :func:`process_acquisition`)."""
    acq = identify(cand, catalog)
    if isinstance(acq, Outcome):
        return acq
    return process_acquisition(acq, settings, catalog, worker, hooks)


def _redelivered(
    acq: Acquisition, state: State, settings: Settings, catalog: Catalog, worker: str
) -> str:
    """What a duplicate is: the dataset it already is, and whether its sidecar says more."""
    said = f"already {state.value} as {acq.dataset_id}"
    if state is not State.ARCHIVED:
        return said
    from flows.curation import propose_redelivery  # metadata and targets: only for a re-delivery

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


def process_acquisition(
    acq: Acquisition,
    settings: Settings,
    catalog: Catalog,
    worker: str,
    hooks: Hooks | None = None,
) -> Outcome:
    """Claim ``acq`` and bring it to one terminal state; never raises for bad input.

    Bad input (a typed final error) is quarantined or rejected with its reason; storage that
    still fails after its retries, and an acquisition that runs longer than
    ``acquisition_timeout_seconds``, are quarantined as retryable; any other exception is
    fairway's own bug: quarantined, logged with its traceback, and reported as ``failed``.
    """
    hooks = hooks or Hooks()
    claim = catalog.claim(acq, worker, timeout=timedelta(seconds=settings.claim_timeout_seconds))
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
    if hooks.on_start is not None:
        hooks.on_start(acq)
    try:
        with deadline(_time_bound(settings), where=acq.source):
            record, report, archived = _produce(acq, settings, catalog, worker, hooks)
    except FairwayError as exc:
        # bad input (final), storage that still failed after its retries, or too long: quarantine
        # with the reason and go on with the next acquisition
        state = State.REJECTED if isinstance(exc, UnsupportedFormatError) else State.QUARANTINED
        if not _finish(catalog, acq, worker, state, settings, reason=f"{exc.kind}: {exc}"):
            return base.model_copy(update={"outcome": "busy", "reason": "claim taken over"})
        return base.model_copy(
            update={"outcome": state.value, "state": state.value, "reason": str(exc)}
        )
    except Exception as exc:
        # not the input's fault: quarantine it so the next acquisition still runs, log the
        # traceback, and report the run as failed (exit code 1) — never a silent success
        log.exception("internal error while processing %s", acq.source)
        reason = f"internal error {type(exc).__name__}: {exc} — please report this"
        _finish(catalog, acq, worker, State.QUARANTINED, settings, reason=reason)
        return base.model_copy(
            update={"outcome": "failed", "state": State.QUARANTINED.value, "reason": reason}
        )
    failpoint("catalog")  # archived, not yet recorded: the window a crash must not break
    if not _finish(
        catalog,
        acq,
        worker,
        State.ARCHIVED,
        settings,
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


def _time_bound(settings: Settings) -> float:
    """Seconds one acquisition may take: never past its claim's timeout (others retake it)."""
    return min(settings.acquisition_timeout_seconds, settings.claim_timeout_seconds)


def _produce(
    acq: Acquisition, settings: Settings, catalog: Catalog, worker: str, hooks: Hooks
) -> tuple[MetadataRecord, ValidationReport, ArchivedDataset]:
    from flows.steps import adopt_step, convert_step, extract_step, validate_step

    adopted = adopt_step(acq, settings, catalog, worker)
    if adopted is not None:
        return adopted
    record = extract_step(acq, settings, catalog, worker)
    store, _images = convert_step(acq, record, settings, catalog, worker, hooks.progress)
    report = validate_step(acq, record, store, catalog, worker)
    if hooks.on_report is not None:
        hooks.on_report(acq, report)
    archive = hooks.archive or archive_with_retries
    archived = archive(acq, record, report, store, settings, catalog, worker)
    return record, report, archived


def _finish(
    catalog: Catalog,
    acq: Acquisition,
    worker: str,
    state: State,
    settings: Settings,
    **facts: Any,
) -> bool:
    """Record the terminal state; ``False`` if another worker took the claim over."""
    shutil.rmtree(settings.staging_root / acq.dataset_id, ignore_errors=True)
    try:
        catalog.finish(acq.id, worker, state, **facts)
    except CatalogError as exc:
        log.warning("%s", exc)
        return False
    return True


def _dicom_key(settings: Settings) -> bytes:
    """The key DICOM series names are derived with (from the pseudonym store)."""
    from catalog.pseudonyms import PseudonymStore

    store = PseudonymStore.from_settings(settings)
    try:
        return store.key()
    finally:
        store.close()


def scan_sources(
    sources: Sequence[Path], settings: Settings
) -> tuple[list[Candidate], list[Outcome]]:
    """Complete candidates under ``sources``, and ``pending`` outcomes for the rest."""
    candidates = scan(
        list(sources),
        sentinel=settings.sentinel,
        max_xml_bytes=settings.max_xml_bytes,
        dicom_key=_dicom_key(settings),
    )
    policy = CompletionPolicy(quiet_seconds=settings.quiet_seconds, sentinel=settings.sentinel)
    complete, pending = split_complete(candidates, policy)
    return complete, [
        Outcome(source=str(p.source), outcome="pending", reason=p.reason) for p in pending
    ]


def ingest_once(
    sources: Sequence[Path],
    settings: Settings,
    *,
    progress: ProgressCallback | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[Acquisition], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IngestSummary:
    """Process every complete acquisition under ``sources`` once, in this process.

    The run is recorded in the catalog (its counts, sources, worker and duration).
    ``on_outcome`` sees each outcome as it is decided; ``should_stop`` is asked before each
    acquisition (a daemon told to stop finishes the current one and starts no other: the rest
    are reported ``pending``).
    """
    started = time.monotonic()
    sink = progress or null_progress
    hooks = Hooks(progress=sink, on_start=on_start)
    catalog = Catalog.open(settings.catalog_url)
    worker = worker_id()
    outcomes: list[Outcome] = []
    try:
        complete, pending = scan_sources(sources, settings)
        outcomes.extend(pending)
        for i, cand in enumerate(complete):
            if should_stop is not None and should_stop():
                outcomes.extend(
                    Outcome(source=str(c.source), outcome="pending", reason="fairway was stopped")
                    for c in complete[i:]
                )
                break
            sink(Progress("acquisitions", i, len(complete), cand.source.name))
            outcome = process_candidate(cand, settings, catalog, worker, hooks)
            log.info("%s: %s %s", cand.source.name, outcome.outcome, outcome.reason or "")
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        else:
            sink(Progress("acquisitions", len(complete), len(complete)))
        summary = IngestSummary(outcomes=outcomes, seconds=time.monotonic() - started)
        catalog.record_run(
            worker,
            [str(s) for s in sources],
            summary.counts(),
            seconds=summary.seconds,
            orchestrator="library",
        )
    finally:
        catalog.close()
    return summary
