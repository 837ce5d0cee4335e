"""The release policy: whether a dataset may leave fairway, and why not.

Every way data leaves goes through :func:`check_release`: ``fairway get`` (the FAIR
bundle), ``fairway publish --to bia`` (a BioImage Archive package) and ``--to omero`` (the
plan and the publication). Search does not hand out data but lists datasets to researchers;
it hides embargoed ones (:func:`embargoed_until`), and lists them to curators with the date.

A dataset is held back when

* it is embargoed: ``study.release_date`` is in the future;
* it is below its facility profile's FAIR level (the gap report says what is missing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.errors import FinalError
from core.records import MetadataRecord, ValidationReport

__all__ = ["NotReleasedError", "check_release", "embargoed_until"]


class NotReleasedError(FinalError):
    """The dataset may not leave fairway (embargo, or below its profile's level)."""


def embargoed_until(record: MetadataRecord, today: date | None = None) -> date | None:
    """The release date of ``record`` when it is still in the future, else ``None``.

    A release date that is not an ISO date holds nothing back (the schema reports it).
    """
    released = record.value("study.release_date")
    if released is None:
        return None
    try:
        when = date.fromisoformat(str(released)[:10])
    except ValueError:
        return None
    return when if when > (today or datetime.now(UTC).date()) else None


def check_release(
    record: MetadataRecord, report: ValidationReport, today: date | None = None
) -> None:
    """Refuse an embargoed dataset or one below its profile's level, saying why.

    Raises
    ------
    NotReleasedError
        The dataset is embargoed, or below its profile's FAIR level.
    """
    when = embargoed_until(record, today)
    if when is not None:
        raise NotReleasedError(
            f"embargoed until {when.isoformat()} (study.release_date)",
            where=report.dataset,
            hint="ask the data's owner, or fetch it after the release date",
        )
    if report.target and not report.meets_target:
        raise NotReleasedError(
            f"FAIR level {report.fair_level} is below its profile's {report.target}",
            where=report.dataset,
            hint=f"`fairway gaps {report.dataset}` lists what a curator must supply first",
        )
