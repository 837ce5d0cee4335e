"""OME-Zarr delivered as input: read (NGFF 0.4 and 0.5), described, converted, archived.

One store is written here by ome-zarr-py (other software, with scales, units and channel
labels); the rest come from the corpus (ome-zarr-examples, viv, yaozarrs and stores derived
from corpus files), including invalid and damaged ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV05
from ome_zarr.writer import write_image

from core.errors import (
    CorruptInputError,
    InputTooLargeError,
    UnsafeInputError,
    UnsupportedFormatError,
)
from core.ngffio import NGFF_KIND, is_ngff, level0, open_ngff
from core.settings import Settings, load_settings
from flows.ingestion import run_ingest
from ingest import scan
from metadata.ngff_source import describe_ngff
from tests.factories import age, tree_snapshot

WINDOW = {"start": 0, "end": 4000, "min": 0, "max": 65535}
LIMITS = {"max_xml_bytes": 10_000_000, "max_input_bytes": 10**10}


def _written_by_ome_zarr_py(path: Path) -> np.ndarray:
    data = np.random.default_rng(3).integers(0, 4000, (2, 4, 48, 40), dtype=np.uint16)
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    write_image(
        data,
        root,
        axes="czyx",
        fmt=FormatV05(),
        scale_factors=(2,),
        scale={"c": 1.0, "z": 0.5, "y": 0.2, "x": 0.2},
        axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
        omero={
            "channels": [
                {"label": label, "color": color, "active": True, "window": WINDOW}
                for label, color in (("DAPI", "0000FF"), ("GFP", "00FF00"))
            ]
        },
    )
    return data


def test_a_store_from_ome_zarr_py_is_described_from_its_attributes(tmp_path: Path) -> None:
    path = tmp_path / "cells.ome.zarr"
    data = _written_by_ome_zarr_py(path)
    assert is_ngff(path)
    [candidate] = scan([tmp_path])
    assert candidate.kind == NGFF_KIND and candidate.source == path
    store = open_ngff(path, **LIMITS)
    [image] = store.images
    assert (store.version, image.axes, image.shape) == ("0.5", "CZYX", data.shape)
    np.testing.assert_array_equal(level0(store, image).compute(), data)
    desc = describe_ngff(store)
    pixels = desc.ome.images[0].pixels
    assert (pixels.size_c, pixels.size_z, pixels.size_y, pixels.size_x) == (2, 4, 48, 40)
    assert (pixels.physical_size_z, pixels.physical_size_x) == (0.5, 0.2)
    assert [c.name for c in pixels.channels] == ["DAPI", "GFP"]
    assert desc.origin == "generated" and desc.notes == []
    assert desc.unmapped["ngff"]["version"] == "0.5"


def test_refusals_name_the_store(corpus: Path) -> None:
    zarrs = corpus / "ome-zarr"
    with pytest.raises(UnsupportedFormatError, match="plates"):
        open_ngff(zarrs / "ozx_valid_plate-01.zarr", **LIMITS)
    bad_json = corpus / "malformed/ome-zarr/derived_v05_blobs_bad_zarr_json.ome.zarr"
    with pytest.raises(CorruptInputError, match="unreadable metadata") as err:
        open_ngff(bad_json, **LIMITS)
    assert str(bad_json) in str(err.value)
    with pytest.raises(CorruptInputError, match="level 0 array '0' is missing"):
        open_ngff(zarrs / "metadata_only/v05_6001240_labels.zarr", **LIMITS)
    with pytest.raises(InputTooLargeError, match="level-0 pixels"):
        open_ngff(zarrs / "derived_v05_CD_czi.ome.zarr", max_xml_bytes=1000, max_input_bytes=1000)


def _damage_a_chunk(store: Path) -> None:
    chunks = [p for p in (store / "s0").rglob("*") if p.is_file() and p.name != "zarr.json"]
    chunk = max(chunks, key=lambda p: p.stat().st_size)
    chunk.write_bytes(chunk.read_bytes()[:16])  # cut short, as by an interrupted copy


def test_a_chunk_that_cannot_be_decoded_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "cells.ome.zarr"
    _written_by_ome_zarr_py(path)
    _damage_a_chunk(path)
    store = open_ngff(path, **LIMITS)
    with pytest.raises(CorruptInputError, match="cannot be read") as err:
        level0(store, store.images[0]).compute()
    assert str(path) in str(err.value)


def test_a_linked_chunk_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x01" * 4096)
    path = tmp_path / "cells.ome.zarr"
    _written_by_ome_zarr_py(path)
    chunk = next(p for p in (path / "s0").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.unlink()
    chunk.symlink_to(secret)
    with pytest.raises(UnsafeInputError, match="symbolic link"):
        open_ngff(path, **LIMITS)


def test_real_world_stores_that_break_the_schema_are_read_with_a_note(corpus: Path) -> None:
    store = open_ngff(corpus / "ome-zarr/v05_blobs_image.ome.zarr", **LIMITS)
    desc = describe_ngff(store)
    assert "read leniently" in desc.notes[0] and "version" in desc.notes[0]
    assert [c.name for c in desc.ome.images[0].pixels.channels] == ["0", "1", "2"]
    old = open_ngff(corpus / "ome-zarr/bioformats2raw_layout/data.zarr", **LIMITS)
    assert old.images[0].axes == "TCZYX"  # NGFF 0.1/0.2: no axes, always t, c, z, y, x


def test_ome_zarr_inputs_end_to_end(corpus: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = _written_by_ome_zarr_py(inbox / "cells.ome.zarr")
    for name in (
        "derived_v05_CD_czi.ome.zarr",
        "v04_blobs_image.ome.zarr",
        "ozx_valid_plate-01.zarr",
    ):
        shutil.copytree(corpus / "ome-zarr" / name, inbox / name)
    _written_by_ome_zarr_py(inbox / "damaged.zarr")
    _damage_a_chunk(inbox / "damaged.zarr")
    age(inbox)
    before = tree_snapshot(inbox)
    settings: Settings = load_settings(tmp_path / "home", quiet_seconds=1, chunk_yx=64)
    summary = run_ingest([inbox], settings)
    outcomes = {Path(o.source).name: o for o in summary.outcomes}
    assert summary.internal_errors == 0
    for name in ("cells.ome.zarr", "derived_v05_CD_czi.ome.zarr", "v04_blobs_image.ome.zarr"):
        assert outcomes[name].outcome == "archived", outcomes[name]
    assert outcomes["ozx_valid_plate-01.zarr"].outcome == "rejected"
    assert outcomes["damaged.zarr"].outcome == "quarantined"
    assert "damaged.zarr" in (outcomes["damaged.zarr"].reason or "")
    assert tree_snapshot(inbox) == before  # read only
    cells = outcomes["cells.ome.zarr"]
    out = zarr.open_group(f"{cells.location}/data/{cells.dataset}.ome.zarr", mode="r")
    np.testing.assert_array_equal(out["0"][0], data)  # one image at the top; t, c, z, y, x
    scale = out.attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert scale[0]["scale"][2:] == [0.5, 0.2, 0.2]
