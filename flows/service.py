"""``run_ingest`` and ``watch``: the library directly, or the Prefect flow when a server is set.

Without a Prefect API (no ``PREFECT_API_URL``, no profile naming one) fairway needs no server:
the plain :func:`flows.pipeline.ingest_once` runs in this process, Prefect is not even
imported, and the run is recorded in the catalog. With an API the server is health-checked
first (one clear error if it does not answer), then the ``fairway-ingest`` flow runs against
it, so the run, its task runs and artifacts show in the Prefect UI; ``watch`` then serves the
flow with an interval schedule.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from core.progress import ProgressCallback
from core.records import Acquisition
from core.settings import Settings
from flows.local_api import check_prefect_api, configured_api_url, prefect_environment
from flows.pipeline import IngestSummary, Outcome, ingest_once
from flows.progress import PROGRESS_SINK

__all__ = ["SECRET_SETTINGS", "StopSignals", "flow_parameters", "run_ingest", "watch"]

SECRET_SETTINGS = ("database_url", "pseudonym_store_url", "s3_key", "s3_secret", "omero_password")


def run_ingest(
    sources: Sequence[Path],
    settings: Settings,
    *,
    progress: ProgressCallback | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[Acquisition], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IngestSummary:
    """Process every complete acquisition under ``sources`` once (see module docs).

    The caller's settings are used whole: with a Prefect API the secret ones (database URL,
    S3 and OMERO credentials) reach the flow through this process's context, never as flow
    parameters. ``progress`` defaults to the CLI's progress sink.

    Raises
    ------
    SettingsError
        A Prefect API is configured but does not answer.
    """
    sink = progress or PROGRESS_SINK.get()
    url = configured_api_url()
    if url is None:
        return ingest_once(
            sources,
            settings,
            progress=sink,
            on_outcome=on_outcome,
            on_start=on_start,
            should_stop=should_stop,
        )
    summary = _run_flow(url, sources, settings, sink)
    if on_outcome is not None:
        for outcome in summary.outcomes:
            on_outcome(outcome)
    return summary


def _run_flow(
    url: str, sources: Sequence[Path], settings: Settings, sink: ProgressCallback
) -> IngestSummary:
    check_prefect_api(url)
    prefect_environment()
    from flows import ingestion  # Prefect: imported only when a server is configured

    secrets = {
        name: value.get_secret_value()
        for name in SECRET_SETTINGS
        if (value := getattr(settings, name)) is not None
    }
    secret_token = ingestion._CALLER_SECRETS.set(secrets)
    sink_token = PROGRESS_SINK.set(sink)
    try:
        state = ingestion.ingest_flow(**flow_parameters(sources, settings), return_state=True)
    finally:
        PROGRESS_SINK.reset(sink_token)
        ingestion._CALLER_SECRETS.reset(secret_token)
    return IngestSummary.model_validate(state.result(raise_on_failure=False))


def flow_parameters(sources: Sequence[Path], settings: Settings) -> dict[str, Any]:
    """Parameters of ``ingest_flow`` for these sources and (non-secret) settings."""
    options = settings.public_dict()
    options.pop("home", None)
    return {"sources": [str(s) for s in sources], "home": str(settings.home), "options": options}


class StopSignals:
    """SIGTERM/SIGINT handling of a daemon: the first asks to stop, the second stops at once.

    The first signal sets :attr:`requested` and calls ``on_first`` (the current acquisition
    finishes, no other starts, the process exits 0); a second one raises ``SystemExit`` with
    128 + the signal number wherever the main thread is (the claim of an acquisition left
    half-done is retaken by the next worker, as after a crash). Only in the main thread.
    """

    def __init__(self, on_first: Callable[[int], None] | None = None) -> None:
        self.on_first = on_first
        self.requested: int | None = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested is not None:
            raise SystemExit(128 + signum)
        self.requested = signum
        if self.on_first is not None:
            self.on_first(signum)

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self.requested is not None

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle SIGTERM and SIGINT while the body runs (as before, after)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking within 0.2 s of a stop request."""
        end = time.monotonic() + seconds
        while not self.is_set() and (left := end - time.monotonic()) > 0:
            time.sleep(min(0.2, left))


def watch(
    sources: Sequence[Path],
    settings: Settings,
    interval: float,
    *,
    max_runs: int | None = None,
    on_run: Callable[[IngestSummary], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[Acquisition], None] | None = None,
    on_ready: Callable[[str | None], None] | None = None,
    stop: StopSignals | None = None,
) -> None:
    """Keep ingesting ``sources`` every ``interval`` seconds until stopped.

    With a Prefect API configured (and no ``max_runs``) the flow is served as a deployment
    with an interval schedule, visible and controllable in the Prefect UI (Prefect's runner
    handles SIGTERM itself). Otherwise the library runs in a loop in this process; ``stop``
    (installed by the caller) ends it between acquisitions. ``on_run`` sees each summary;
    ``on_ready`` is called once the set-up is checked, with the Prefect API URL (or ``None``).

    Raises
    ------
    SettingsError
        A Prefect API is configured but does not answer.
    """
    url = configured_api_url()
    if url is not None and max_runs is None:
        check_prefect_api(url)
        prefect_environment()
        from flows.ingestion import ingest_flow

        if on_ready is not None:
            on_ready(url)
        if threading.current_thread() is threading.main_thread():
            # Prefect's runner stops on SIGTERM itself, and on Ctrl-C's KeyboardInterrupt
            signal.signal(signal.SIGINT, signal.default_int_handler)
        ingest_flow.serve(
            name="fairway-watch",
            interval=timedelta(seconds=interval),
            parameters=flow_parameters(sources, settings),
            # one scan at a time: a slow scan must not let scheduled runs pile up as processes
            limit=1,
        )
        return
    if url is not None:
        check_prefect_api(url)
    if on_ready is not None:
        on_ready(url)
    stop = stop or StopSignals()
    runs = 0
    while not stop.is_set() and (max_runs is None or runs < max_runs):
        started = time.monotonic()
        summary = run_ingest(
            sources, settings, on_outcome=on_outcome, on_start=on_start, should_stop=stop.is_set
        )
        runs += 1
        if on_run is not None:
            on_run(summary)
        if max_runs is not None and runs >= max_runs:
            break
        stop.sleep(max(0.0, interval - (time.monotonic() - started)))
