"""Progress reporting: library code calls a callback; the CLI draws a bar, flows an artifact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "null_progress"]


@dataclass(frozen=True)
class Progress:
    """One step of progress within a named task."""

    task: str
    done: int
    total: int | None = None
    message: str = ""


ProgressCallback = Callable[[Progress], None]


def null_progress(_: Progress) -> None:
    """Ignore progress (the default)."""
