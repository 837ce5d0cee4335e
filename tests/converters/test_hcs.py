"""OME plates become the NGFF plate / well / field layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from ome_types import OME, to_xml
from ome_types.model import Channel, Image, ImageRef, Pixels, Plate, TiffData, Well, WellSample

from converters import write_ome_zarr
from converters.hcs import plate_layout
from core.omeutil import parse_ome
from core.settings import load_settings
from validators import check_metadata_loss, check_ngff


def _plate_ome_tiff(path: Path) -> OME:
    images, wells, k = [], [], 0
    for w, (row, col) in enumerate([(0, 0), (1, 2)]):
        samples = []
        for field in range(2):
            images.append(
                Image(
                    id=f"Image:{k}",
                    name=f"well{w}-field{field}",
                    pixels=Pixels(
                        id=f"Pixels:{k}",
                        dimension_order="XYZCT",
                        type="uint16",
                        size_x=40,
                        size_y=30,
                        size_z=1,
                        size_c=1,
                        size_t=1,
                        physical_size_x=0.65,
                        physical_size_y=0.65,
                        channels=[Channel(id=f"Channel:{k}:0", name="DAPI", samples_per_pixel=1)],
                        tiff_data_blocks=[TiffData(ifd=k, plane_count=1)],
                    ),
                )
            )
            samples.append(
                WellSample(
                    id=f"WellSample:{w}:{field}", index=k, image_ref=ImageRef(id=f"Image:{k}")
                )
            )
            k += 1
        wells.append(Well(id=f"Well:{w}", row=row, column=col, well_samples=samples))
    ome = OME(
        images=images,
        plates=[
            Plate(
                id="Plate:0",
                name="screen-01",
                rows=2,
                columns=3,
                row_naming_convention="letter",
                column_naming_convention="number",
                wells=wells,
            )
        ],
    )
    xml = to_xml(ome)
    with tifffile.TiffWriter(path) as tw:
        for i in range(k):
            tw.write(
                np.full((30, 40), 100 + i, np.uint16),
                photometric="minisblack",
                description=xml.encode() if i == 0 else None,
                metadata=None,
            )
    return ome


def test_plate_layout_names_rows_and_columns(tmp_path: Path) -> None:
    ome = _plate_ome_tiff(tmp_path / "p.ome.tif")
    layout = plate_layout(ome)
    assert layout is not None
    assert layout.image_paths == {0: "A/1/0", 1: "A/1/1", 2: "B/3/0", 3: "B/3/1"}
    assert [r["name"] for r in layout.plate["rows"]] == ["A", "B"]
    assert [c["name"] for c in layout.plate["columns"]] == ["1", "2", "3"]
    assert layout.plate["field_count"] == 2


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_plate_is_written_as_ngff_hcs(tmp_path: Path, ngff: str) -> None:
    src = tmp_path / "p.ome.tif"
    _plate_ome_tiff(src)
    with tifffile.TiffFile(src) as tif:
        xml = tif.ome_metadata
    settings = load_settings(tmp_path / "home", chunk_yx=64, ngff_version=ngff)
    store = tmp_path / "plate.ome.zarr"
    images = write_ome_zarr(src, "tiff", parse_ome(xml)[0], xml, store, settings)
    assert [i.path for i in images] == ["A/1/0", "A/1/1", "B/3/0", "B/3/1"]
    root = zarr.open_group(str(store), mode="r")
    assert int(root["B/3/1/0"][0, 0, 0, 0, 0]) == 103
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    assert check_metadata_loss(xml, store) == []
