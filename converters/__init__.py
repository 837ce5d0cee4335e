"""OME-Zarr writing: readers, pyramids, chunking, atomic output."""

from converters.ome_zarr import ZarrOptions, write_ome_zarr
from converters.readers import PixelSeries, open_pixels

__all__ = ["PixelSeries", "ZarrOptions", "open_pixels", "write_ome_zarr"]
