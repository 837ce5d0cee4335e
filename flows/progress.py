"""Where progress of a running flow goes: the CLI sets a sink, flows report to it."""

from __future__ import annotations

from contextvars import ContextVar

from core.progress import ProgressCallback, null_progress

__all__ = ["PROGRESS_SINK"]

#: set by the CLI to draw a progress bar; flows read it and pass it to library calls
PROGRESS_SINK: ContextVar[ProgressCallback] = ContextVar("fairway_progress", default=null_progress)
