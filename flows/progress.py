"""Where progress of a run goes: a progress bar on a terminal, one log line per event elsewhere.

The CLI sets a sink; the pipeline and the flow report to it. When the output is not a terminal
(cron, systemd, a pipe) a bar shows nothing useful, so each event is one line instead:
``ts=… outcome=archived source=/inbox/a.tif dataset=fw-… reason="…"`` — logfmt, which journald,
grep and log shippers read as is.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import UTC, datetime

from core.progress import ProgressCallback, null_progress

__all__ = ["PROGRESS_SINK", "event_line"]

#: set by the CLI to draw a progress bar; flows read it and pass it to library calls
PROGRESS_SINK: ContextVar[ProgressCallback] = ContextVar("fairway_progress", default=null_progress)


def _value(text: str) -> str:
    plain = text and all(c.isprintable() and c not in ' "=' for c in text)
    return text if plain else json.dumps(text, ensure_ascii=False)


def event_line(
    outcome: str,
    source: str,
    dataset: str | None = None,
    reason: str | None = None,
    *,
    at: datetime | None = None,
) -> str:
    """One logfmt line for one event: timestamp (UTC), outcome, source, dataset, reason."""
    moment = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    parts = [f"ts={moment}", f"outcome={_value(outcome)}", f"source={_value(source)}"]
    if dataset:
        parts.append(f"dataset={_value(dataset)}")
    if reason:
        parts.append(f"reason={_value(reason)}")
    return " ".join(parts)
