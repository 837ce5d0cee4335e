from __future__ import annotations

from core.errors import (
    CorruptInputError,
    FairwayError,
    FinalError,
    IncompleteAcquisitionError,
    RetryableError,
)


def test_message_says_what_where_and_next_step() -> None:
    exc = CorruptInputError("not a TIFF", where="/in/a.tif", hint="re-transfer it")
    assert str(exc) == "/in/a.tif: not a TIFF — re-transfer it"
    assert exc.kind == "CorruptInputError"
    assert isinstance(exc, FinalError)
    assert isinstance(exc, FairwayError)


def test_branches() -> None:
    assert issubclass(IncompleteAcquisitionError, RetryableError)
    assert not issubclass(IncompleteAcquisitionError, FinalError)
