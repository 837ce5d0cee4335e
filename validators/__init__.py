"""Checks that return findings and never change data: NGFF structure, schemas, fixity."""

from validators.loss import check_metadata_loss
from validators.ngff import check_ngff
from validators.report import fair_level, validate
from validators.schema import check_record

__all__ = ["check_metadata_loss", "check_ngff", "check_record", "fair_level", "validate"]
