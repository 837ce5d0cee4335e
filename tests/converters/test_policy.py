from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from converters import ZarrOptions, write_ome_zarr
from converters.policy import LAYOUTS, shard_for
from core.omeutil import parse_ome
from core.settings import load_settings
from core.tiffio import open_tiff
from ingest.samples import blobs
from metadata.tiff import describe_tiff


@pytest.mark.parametrize(
    ("size", "chunk", "shard", "expected"),
    [
        (5000, 512, 4096, 4096),
        (1000, 512, 4096, 1024),
        (300, 512, 4096, 300),
        (5000, 512, 0, 512),
        (5000, 500, 4096, 4000),
    ],
)
def test_shard_for(size: int, chunk: int, shard: int, expected: int) -> None:
    assert shard_for(size, chunk, shard) == expected


def test_layouts_resolve_from_settings(tmp_path: Path) -> None:
    viewing = ZarrOptions.from_settings(load_settings(tmp_path))
    assert (viewing.chunk_yx, viewing.shard_yx) == (512, 4096)
    archive = ZarrOptions.from_settings(load_settings(tmp_path, layout="archive"))
    assert (archive.chunk_yx, archive.shard_yx, archive.clevel) == (1024, 8192, 7)
    custom = ZarrOptions.from_settings(
        load_settings(tmp_path, layout="ml", chunk_yx=128, shard_yx=0)
    )
    assert (custom.chunk_yx, custom.shard_yx) == (128, 0)
    assert set(LAYOUTS) == {"viewing", "archive", "ml"}


@pytest.mark.parametrize("tiled", [False, True], ids=["planes", "tiles"])
def test_output_is_sharded_one_file_per_plane(tmp_path: Path, tiled: bool) -> None:
    src = tmp_path / "in.tif"
    data = blobs((3, 300, 260), n=5, sigma=6.0, seed=3)
    tifffile.imwrite(
        src,
        data,
        photometric="minisblack",
        metadata={"axes": "ZYX"},
        tile=(64, 64) if tiled else None,
    )
    settings = load_settings(tmp_path / "home", chunk_yx=64, shard_yx=512)
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    store = tmp_path / "out.ome.zarr"
    write_ome_zarr(src, "tiff", parse_ome(d.ome_xml)[0], d.ome_xml, store, settings)
    meta = json.loads((store / "0" / "zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, 1, 1, 320, 320]
    chunk_files = [p for p in (store / "0" / "c").rglob("*") if p.is_file()]
    assert len(chunk_files) == 3  # one shard per z-plane instead of 3 x 5 x 5 chunk files
    import zarr

    assert np.array_equal(zarr.open_array(str(store / "0"), mode="r")[0, 0], data)


def test_ngff_04_on_zarr_v2(tmp_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models.v04 import Image

    from tests.factories import make_ome_tiff
    from validators import check_metadata_loss, check_ngff

    src = make_ome_tiff(tmp_path / "in.ome.tif", c=2, z=3, y=130, x=120)
    settings = load_settings(tmp_path / "home", ngff_version="0.4", chunk_yx=64)
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    store = tmp_path / "v04.ome.zarr"
    write_ome_zarr(src, "tiff", parse_ome(d.ome_xml)[0], d.ome_xml, store, settings)
    import zarr

    root = zarr.open_group(str(store), mode="r")
    assert root.metadata.zarr_format == 2
    assert "bioformats2raw.layout" not in root.attrs  # one image: the store is the image
    image = Image.from_zarr(root)
    assert image.attributes.multiscales[0].version == "0.4"
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    assert check_metadata_loss(d.ome_xml, store) == []
    assert (store / "OME" / "METADATA.ome.xml").read_text() == d.ome_xml
    [node, *_] = list(Reader(parse_url(str(store)))())
    assert np.array_equal(np.asarray(node.data[0])[0], tifffile.imread(src).reshape(2, 3, 130, 120))


def test_plane_workers_respect_the_memory_limit() -> None:
    from converters.strategies import group_workers

    assert group_workers(4, 1024**3, 8 * 1024**2) == 4  # small planes: all workers
    assert group_workers(4, 1024**3, 100 * 1024**2) == 2  # 4 x 100 MiB per worker
    assert group_workers(4, 1024**3, 600 * 1024**2) == 1  # never fewer than one
