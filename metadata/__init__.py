"""Metadata extraction (OME-XML, TIFF/ImageJ, sidecars) into sourced records."""

from metadata.extract import extract
from metadata.ome_map import ome_fields

__all__ = ["extract", "ome_fields"]
