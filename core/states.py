"""The lifecycle of an acquisition (a module of its own: the CLI needs it, not the models)."""

from __future__ import annotations

import enum

__all__ = ["State"]


class State(enum.StrEnum):
    """Lifecycle of an acquisition. The last three are terminal."""

    PROCESSING = "processing"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        """Whether an acquisition in this state is finished for good."""
        return self is not State.PROCESSING
