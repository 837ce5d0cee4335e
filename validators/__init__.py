"""Checks that return findings and never change data: NGFF structure, schemas, fixity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.lazy import lazy_attributes

if TYPE_CHECKING:
    from validators.loss import check_metadata_loss
    from validators.ngff import check_ngff
    from validators.report import fair_level, validate
    from validators.schema import check_record

__all__ = ["check_metadata_loss", "check_ngff", "check_record", "fair_level", "validate"]

#: where each name lives; imported on first use, so that `validators.schema` alone (the
#: `fairway gaps` command) does not import zarr through `validators.ngff`
_HOMES = {
    "check_metadata_loss": "validators.loss",
    "check_ngff": "validators.ngff",
    "check_record": "validators.schema",
    "fair_level": "validators.report",
    "validate": "validators.report",
}


__getattr__ = lazy_attributes(__name__, _HOMES, globals())
