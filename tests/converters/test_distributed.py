"""The same conversion runs on a dask.distributed cluster when a scheduler address is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

from converters import write_ome_zarr
from core.omeutil import parse_ome
from core.settings import Settings
from ingest import fingerprint, scan
from metadata import extract
from tests.conftest import CORPUS
from tests.factories import make_imagej, make_ome_tiff


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    # separate worker processes: every reader and zarr array crosses a pickle boundary
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        yield str(cluster.scheduler_address)


def _convert(src: Path, dest: Path, settings: Settings) -> list[np.ndarray]:
    [cand] = [c for c in scan([src]) if c.source == src]
    acq = fingerprint(cand)
    record = extract(acq, settings)
    ome, _ = parse_ome(record.ome_xml)
    images = write_ome_zarr(acq.primary.path, acq.kind, ome, record.ome_xml, dest, settings)
    root = zarr.open_group(str(dest), mode="r")
    return [np.asarray(root[i.path][str(k)][:]) for i in images for k in range(i.levels)]


def test_cluster_output_equals_threaded_output(
    scheduler: str, tmp_path: Path, settings: Settings
) -> None:
    sources = [
        make_ome_tiff(tmp_path / "in" / "a.ome.tif", y=300, x=260),
        make_imagej(tmp_path / "in" / "b.tif"),
    ]
    if CORPUS.is_dir():
        sources += [CORPUS / "czi" / "mosaic_test.czi", CORPUS / "nd2" / "example-zstack.nd2"]
    local = settings.model_copy(update={"chunk_yx": 64})
    remote = local.model_copy(update={"dask_scheduler_address": scheduler})
    for src in sources:
        here = _convert(src, tmp_path / "here" / f"{src.name}.zarr", local)
        there = _convert(src, tmp_path / "there" / f"{src.name}.zarr", remote)
        assert len(here) == len(there) > 1
        for a, b in zip(here, there, strict=True):
            assert np.array_equal(a, b), src.name


def test_tiled_planes_on_the_cluster(scheduler: str, tmp_path: Path, settings: Settings) -> None:
    src = make_ome_tiff(tmp_path / "in" / "big.ome.tif", c=1, z=2, y=400, x=380)
    tight = settings.model_copy(update={"chunk_yx": 64, "memory_limit_bytes": 200_000})
    here = _convert(src, tmp_path / "here.zarr", tight)
    there = _convert(
        src, tmp_path / "there.zarr", tight.model_copy(update={"dask_scheduler_address": scheduler})
    )
    for a, b in zip(here, there, strict=True):
        assert np.array_equal(a, b)
