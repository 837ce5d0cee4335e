"""The one root error of fairway and its two branches.

Every error says *what* failed, *where* (a file, a dataset, a setting) and *what to do next*.
``RetryableError`` means the same call may succeed later (a file still being written, a
database that is busy); ``FinalError`` means it will not (corrupt or unsupported input).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "CatalogError",
    "ConversionError",
    "CorruptInputError",
    "EmptyInputError",
    "FairwayError",
    "FinalError",
    "IncompleteAcquisitionError",
    "InputTooLargeError",
    "RetryableError",
    "SettingsError",
    "SourceChangedError",
    "TargetError",
    "UnreadableInputError",
    "UnsafeInputError",
    "UnsupportedFormatError",
    "first_problem",
    "third_party_damage",
]


class FairwayError(Exception):
    """Root of every error fairway raises on purpose.

    Parameters
    ----------
    problem
        What went wrong, in one sentence.
    where
        The file, dataset or setting concerned.
    hint
        What the reader should do next.
    """

    def __init__(self, problem: str, *, where: str | Path | None = None, hint: str = "") -> None:
        self.problem = problem
        self.where = str(where) if where is not None else None
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.problem}" if self.where else self.problem
        if self.hint:
            text += f" — {self.hint}"
        return text

    @property
    def kind(self) -> str:
        """A stable, machine-readable name for the error (used in catalog reasons)."""
        return type(self).__name__


class RetryableError(FairwayError):
    """The same operation may succeed when tried again later."""


class FinalError(FairwayError):
    """Trying again with the same input will fail the same way."""


class IncompleteAcquisitionError(RetryableError):
    """An acquisition changed while it was read: it is still being written."""


class SourceChangedError(RetryableError):
    """A file changed after it was identified: what was read is not what its hash names.

    The acquisition is quarantined and nothing is archived; once the file is quiet again it
    is identified anew (a changed content is a new acquisition, the same content is taken
    again).
    """


class UnreadableInputError(RetryableError):
    """A file cannot be read (permissions, I/O error); it is looked at again next pass."""


class CatalogError(RetryableError):
    """The catalog could not be read or written."""


class SettingsError(FinalError):
    """A setting is missing or invalid."""


class UnsupportedFormatError(FinalError):
    """No reader of fairway handles this file."""


class CorruptInputError(FinalError):
    """A file could not be parsed, or its content contradicts its own header."""


class EmptyInputError(CorruptInputError):
    """A file has no bytes at all (a transfer that failed, a placeholder)."""


class InputTooLargeError(FinalError):
    """A file declares more data than the configured cap allows."""


class UnsafeInputError(FinalError):
    """Input that tries to escape its limits (XML entities, path traversal)."""


class ConversionError(FinalError):
    """Writing the OME-Zarr failed for a reason that retrying will not change."""


class TargetError(RetryableError):
    """A target (archive, OMERO) could not be written or read back."""


@contextlib.contextmanager
def third_party_damage(where: Path | str, *, quote: bool = True) -> Iterator[None]:
    """Turn what a third-party reader raises on a damaged file into a typed refusal.

    Format libraries decode lazily and fail with anything (``ValueError``, ``KeyError``, a
    pydantic ``ValidationError`` from their own metadata models...). Around a reader call,
    any exception that is not fairway's becomes :class:`CorruptInputError` naming the file.
    ``quote=False`` leaves the library's message out (it may quote patient data).
    """
    try:
        yield
    except FairwayError:
        raise
    except Exception as exc:  # noqa: BLE001 - that is the point: damaged input, any symptom
        detail = f"{type(exc).__name__}: {exc}" if quote else type(exc).__name__
        raise CorruptInputError(
            f"the file cannot be read ({detail[:300]})",
            where=where,
            hint="it is damaged or not what its name says; re-export or re-transfer it",
        ) from (exc if quote else None)


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The dotted location and message of a pydantic error's first problem."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]
